import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  appendReportEvent,
  createRunDir,
  latestRunDir,
  REPORT_FILES,
  runDirName,
  writeRollReport,
} from "../../../../lib/core/report/store";
import { recordDrainProgress, stepRecorder } from "../../../../lib/core/report/recorder";
import { Run, T0 } from "./fixture";

let base: string;
beforeEach(() => (base = mkdtempSync(join(tmpdir(), "ku-report-unit-"))));
afterEach(() => rmSync(base, { recursive: true, force: true }));

test("a run directory per run, the newest found by name", () => {
  expect(runDirName(T0)).toBe("20261124T213700000Z");
  const a = createRunDir(base, T0);
  const b = createRunDir(base, T0);
  const c = createRunDir(join(base, "nested", "dir"), T0 + 1);
  expect(a).toBe(join(base, "20261124T213700000Z"));
  expect(b).toBe(join(base, "20261124T213700000Z-1"));
  expect(c).toBe(join(base, "nested", "dir", "20261124T213700001Z"));
  expect(latestRunDir(base)).toBe(b);
  expect(latestRunDir(join(base, "missing"))).toBeUndefined();
});

test("records appended, report.json and report.html rewritten from them, nothing left aside", () => {
  const dir = createRunDir(base, T0);
  for (const e of new Run().at(500).end().events) appendReportEvent(dir, e);
  const report = writeRollReport(dir);
  expect(report.result).toBe("failed"); // the snapshot never resolved
  expect(readdirSync(dir).sort()).toEqual([
    REPORT_FILES.events,
    REPORT_FILES.html,
    REPORT_FILES.json,
  ]);
  expect(JSON.parse(readFileSync(join(dir, REPORT_FILES.json), "utf8"))).toEqual(report);
  expect(readFileSync(join(dir, REPORT_FILES.html), "utf8")).toContain('data-result="failed"');
});

test("stepRecorder: records a step with its own times and rewrites the report", () => {
  const dir = createRunDir(base, T0);
  for (const e of new Run().events) appendReportEvent(dir, e);
  const rec = stepRecorder({ dir }, "cp-1", "drain");
  rec.started();
  rec.event({ type: "cordoned", cordonedByUs: true });
  rec.event({ type: "evicting", pod: "demo/a" });
  rec.event({ type: "pdb-retry", pod: "demo/a", attempt: 1, pdbs: ["a-pdb"] });
  rec.event({ type: "evicted", pod: "demo/a" });
  rec.finished({ evicted: 1, retries: 1, transientRetries: undefined });
  const lines = readFileSync(join(dir, REPORT_FILES.events), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines.slice(1).map((l) => l.type)).toEqual([
    "step-started",
    "cordoned",
    "evicting",
    "pdb-retry",
    "evicted",
    "step-finished",
  ]);
  expect(lines[6].details).toEqual({ evicted: 1, retries: 1 });
  for (const l of lines.slice(1)) expect(l.node).toBe("cp-1");
  const html = readFileSync(join(dir, REPORT_FILES.html), "utf8");
  expect(html).toContain('data-kind="drain" data-state="ok"');
});

test("stepRecorder: a failure is recorded with its message", () => {
  const dir = createRunDir(base, T0);
  for (const e of new Run().events) appendReportEvent(dir, e);
  const rec = stepRecorder({ dir }, "w-1", "ready");
  rec.started();
  rec.failed(new Error("NodeReadyWait w-1: timed out"));
  const last = JSON.parse(
    readFileSync(join(dir, REPORT_FILES.events), "utf8").trim().split("\n").pop()!,
  );
  expect(last).toMatchObject({
    type: "step-failed",
    node: "w-1",
    step: "ready",
    error: "NodeReadyWait w-1: timed out",
  });
});

test("stepRecorder: without a target nothing; a write problem is warned once and never thrown", () => {
  const none = stepRecorder(undefined, "w-1", "drain");
  expect(() => (none.started(), none.failed("x"))).not.toThrow();
  const file = join(base, "not-a-dir");
  writeFileSync(file, "");
  chmodSync(file, 0o400);
  const warnings: string[] = [];
  const rec = stepRecorder({ dir: join(file, "run") }, "w-1", "drain", (m) => warnings.push(m));
  rec.started();
  rec.event({ type: "evicting", pod: "demo/a" });
  rec.finished({});
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(
    /^roll report: could not record in .*not-a-dir\/run \(.*\); the roll goes on without it$/,
  );
});

test("recordDrainProgress: each drain callback records its event and still reaches the caller", () => {
  const dir = createRunDir(base, T0);
  for (const e of new Run().events) appendReportEvent(dir, e);
  const seen: string[] = [];
  const rec = stepRecorder({ dir }, "w-1", "drain");
  const p = recordDrainProgress(rec, {
    onCordoned: () => seen.push("cordoned"),
    onEvicting: (e) => seen.push(`evicting ${e.pod}`),
    onPdbRetry: (e) => seen.push(`retry ${e.attempt}`),
    onDeleted: (e) => seen.push(`deleted ${e.pod}`),
    onWarning: (m) => seen.push(m),
  });
  p.onCordoned!({ cordonedByUs: true } as never);
  p.onEvicting!({ pod: "demo/a", usingEviction: true, message: "" });
  p.onPdbRetry!({
    pod: "demo/a",
    usingEviction: true,
    message: "",
    attempt: 1,
    retryInMs: 5000,
    pdbs: [{ name: "a-pdb" }],
  });
  p.onDeleted!({ pod: "demo/a", usingEviction: true, message: "", skipped: false });
  p.onWarning!("w");
  expect(seen).toEqual(["cordoned", "evicting demo/a", "retry 1", "deleted demo/a", "w"]);
  const types = readFileSync(join(dir, REPORT_FILES.events), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; pdbs?: string[] });
  expect(types.slice(1).map((e) => e.type)).toEqual([
    "cordoned",
    "evicting",
    "pdb-retry",
    "evicted",
  ]);
  expect(types[3]!.pdbs).toEqual(["a-pdb"]);
});
