/**
 * e2e: ClusterUpgrade's roll report (`report: { path }`) through the real Pulumi engine, on the
 * demo's simulated cluster (3 control-plane + 6 workers, kwok nodes, remote.Command over SSH),
 * and the page in a real browser (Debian's chromium driven by playwright-core).
 *
 *  - `pulumi preview` writes nothing; `pulumi up` writes <dir>/<run>/report.{html,json} from the
 *    steps' own records, and the report agrees with what the test's own node watch saw (cordon,
 *    kubelet version change, uncordon) and with the drains' outputs (evictions, PDB retries);
 *  - a second `pulumi up` changes nothing (the per-run report input never causes an update) and
 *    its report says so;
 *  - a failing `pulumi up` (w-2's upgrade command exits 1) still ends with a whole report: w-2
 *    red, the nodes after it not started, the result failed;
 *  - its re-run upgrades w-2 behind the drain of the failed run;
 *  - chromium opens the pages: one row per node in plan order, the bars of each row in time order
 *    left to right, the failed bar red; a screenshot of each is written (paths printed).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Browser } from "playwright-core";
import type { RollReport } from "../../lib/core/report/model";
import { latestRunDir, REPORT_FILES } from "../../lib/core/report/store";
import { launchChromium, testOutputDir } from "./browser";
import { createDemoStack, type DemoStack, type SimulatedCluster } from "./simulated-cluster";
import { startWatchedCluster, type NodeTimeline, type PdbWatcher } from "./watchers";

jest.setTimeout(1_200_000);

const NEXT_VERSION = "v1.35.5";

let browser: Browser;
let cluster: SimulatedCluster;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;
let demo: DemoStack | undefined;
let reportDir: string;
let out: string;
/** The pages to open in the browser: the successful roll's and the failed one's. */
const pages: { name: string; html: string }[] = [];

/** The few DOM members the browser test reads (the repository's TypeScript has no DOM lib). */
interface DomElement {
  readonly dataset: Readonly<Record<string, string | undefined>>;
  readonly textContent: string | null;
  getBoundingClientRect(): { top: number; left: number; right: number };
  querySelectorAll(selector: string): ArrayLike<DomElement>;
}
interface DomWindow {
  readonly document: {
    querySelector(selector: string): DomElement | null;
    querySelectorAll(selector: string): ArrayLike<DomElement>;
  };
  getComputedStyle(e: DomElement): { fill: string };
}

const readReport = (dir: string): RollReport =>
  JSON.parse(readFileSync(join(dir, REPORT_FILES.json), "utf8")) as RollReport;

/** Keeps a copy of a run's page and JSON in the test output dir (the report dir is removed). */
function keep(name: string, dir: string): string {
  for (const f of [REPORT_FILES.html, REPORT_FILES.json, REPORT_FILES.events])
    copyFileSync(join(dir, f), join(out, `${name}-${f}`));
  return join(out, `${name}-${REPORT_FILES.html}`);
}

beforeAll(async () => {
  browser = await launchChromium(); // fails at once, with the install command, without chromium
  out = testOutputDir("roll-report");
  reportDir = mkdtempSync(join(tmpdir(), "ku-e2e-reports-"));
  ({ cluster, nodes, pdbs } = await startWatchedCluster(`ku-report-${process.pid}`, 6, "report"));
});

afterAll(async () => {
  await browser?.close();
  nodes?.stop();
  pdbs?.stop();
  await demo?.dispose();
  await cluster?.stop();
  if (reportDir) rmSync(reportDir, { recursive: true, force: true });
});

test("preview writes nothing; pulumi up writes the roll's report from the steps' own records", async () => {
  demo = await createDemoStack(cluster, `report-${process.pid}`, {
    maxUnavailable: 2,
    drainRetryIntervalMs: 500,
    reportDir,
  });
  await demo.stack.preview({ onOutput: () => undefined });
  expect(latestRunDir(reportDir)).toBeUndefined();

  const started = Date.now();
  const up = await demo.stack.up({ onOutput: () => undefined });
  const wall = Date.now() - started;
  expect(up.summary.result).toBe("succeeded");
  const html = String(up.outputs.report.value);
  const dir = dirname(html);
  expect(latestRunDir(reportDir)).toBe(dir);
  expect(html).toBe(join(dir, REPORT_FILES.html));
  const r = readReport(dir);

  const all = [...cluster.controlPlanes, ...cluster.workers];
  expect(r.result).toBe("succeeded");
  expect(r.ended).toBe(true);
  expect(r.targetVersion).toBe("v1.35.4");
  expect(r.nodes.map((n) => n.name)).toEqual(all); // plan order (2 chains alternate w-1, w-2, ...)
  expect(r.durationMs).toBeGreaterThan(0);
  expect(r.durationMs).toBeLessThanOrEqual(wall);
  expect(r.snapshot).toMatchObject({ kind: "snapshot", state: "ok" });

  const drains = up.outputs.drains.value as { name: string; evicted: number; retries: number }[];
  const byName = new Map(drains.map((d) => [d.name, d]));
  const slack = 2000; // the watch sees a change a moment after the step made it
  for (const n of r.nodes) {
    expect({ n: n.name, status: n.status, kubelet: n.kubeletVersion }).toEqual({
      n: n.name,
      status: "upgraded",
      kubelet: "v1.35.4",
    });
    expect(n.segments.map((s) => [s.kind, s.state, s.approximate ?? false])).toEqual([
      ["drain", "ok", false],
      ["upgrade", "ok", false],
      ["ready", "ok", false],
      ["uncordon", "ok", false],
    ]);
    for (let i = 1; i < n.segments.length; i++)
      expect(n.segments[i]!.start).toBeGreaterThanOrEqual(n.segments[i - 1]!.end);
    // the drains' own outputs
    expect({ n: n.name, evicted: n.evicted, retries: n.pdbRetries }).toEqual({
      n: n.name,
      evicted: byName.get(n.name)!.evicted,
      retries: byName.get(n.name)!.retries,
    });
    expect(n.markers.filter((m) => m.kind === "cordon")).toHaveLength(1);
    // what the test's own watch saw happens inside the report's bars
    const [drain, upgrade, ready, uncordon] = n.segments;
    const cordonAt = nodes.of(n.name, "cordon")[0]!.t;
    const versionAt = nodes.of(n.name, "version")[0]!.t;
    const uncordonAt = nodes.of(n.name, "uncordon")[0]!.t;
    expect(cordonAt).toBeGreaterThanOrEqual(drain!.start);
    expect(cordonAt).toBeLessThanOrEqual(drain!.end + slack);
    expect(versionAt).toBeGreaterThanOrEqual(upgrade!.start);
    expect(versionAt).toBeLessThanOrEqual(ready!.end + slack);
    expect(uncordonAt).toBeGreaterThanOrEqual(uncordon!.start);
    expect(uncordonAt).toBeLessThanOrEqual(uncordon!.end + slack);
  }
  expect(r.totals.evictions).toBe(drains.reduce((s, d) => s + d.evicted, 0));
  expect(r.totals.evictions).toBeGreaterThan(0);
  expect(r.totals.pdbRetries).toBe(drains.reduce((s, d) => s + d.retries, 0));
  // the report's PDB retries are the drain's: a refused eviction's pod was evicted later
  for (const n of r.nodes)
    for (const e of n.evictions)
      expect({ pod: e.pod, state: e.state }).toEqual({ pod: e.pod, state: "ok" });
  pages.push({ name: "succeeded", html: keep("succeeded", dir) });
  process.stderr.write(
    `[report] roll: ${(r.durationMs / 1000).toFixed(1)}s, ${r.totals.evictions} evictions, ${r.totals.pdbRetries} PDB retries; report ${html}\n`,
  );
});

test("a second pulumi up changes nothing, and its report says so", async () => {
  expect(demo).toBeDefined();
  const before = latestRunDir(reportDir);
  const up = await demo!.stack.up({ onOutput: () => undefined });
  expect(up.summary.result).toBe("succeeded");
  const changes = { ...up.summary.resourceChanges };
  delete changes.same;
  expect(changes).toEqual({});
  const dir = latestRunDir(reportDir)!;
  expect(dir).not.toBe(before);
  const r = readReport(dir);
  expect(r.result).toBe("no-changes");
  expect(new Set(r.nodes.map((n) => n.status))).toEqual(new Set(["unchanged"]));
});

test("a failing pulumi up still ends with a whole report: the failed node red, the later ones not started", async () => {
  expect(demo).toBeDefined();
  const before = latestRunDir(reportDir);
  await demo!.setTarget(NEXT_VERSION);
  await demo!.stack.setConfig("maxUnavailable", { value: "1" });
  await demo!.stack.setConfig("failNodes[0]", { value: "w-2" }, true);
  let message = "";
  try {
    await demo!.stack.up({ onOutput: () => undefined });
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  expect(message).toContain("upgrade-w-2-upgrade");
  const dir = latestRunDir(reportDir)!;
  expect(dir).not.toBe(before);
  const r = readReport(dir);
  expect(r.result).toBe("failed");
  expect(r.ended).toBe(true); // the program wrote run-ended after the engine stopped
  const status = Object.fromEntries(r.nodes.map((n) => [n.name, n.status]));
  expect(status).toEqual({
    "cp-1": "upgraded",
    "cp-2": "upgraded",
    "cp-3": "upgraded",
    "w-1": "upgraded",
    "w-2": "failed",
    "w-3": "not-started",
    "w-4": "not-started",
    "w-5": "not-started",
    "w-6": "not-started",
  });
  const w2 = r.nodes.find((n) => n.name === "w-2")!;
  expect(w2.segments.map((s) => [s.kind, s.state, s.uncertain ?? false])).toEqual([
    ["drain", "ok", false],
    ["upgrade", "failed", false],
  ]);
  expect(w2.statusText).toMatch(/stays cordoned/);
  expect(r.failures).toEqual([
    {
      node: "w-2",
      step: "upgrade",
      message: expect.stringContaining("pulumi's error for upgrade-w-2-upgrade"),
      uncertain: false,
    },
  ]);
  pages.push({ name: "failed", html: keep("failed", dir) });
});

test("its re-run: w-2 upgraded behind the failed run's drain, then the rest", async () => {
  expect(demo).toBeDefined();
  await demo!.stack.removeConfig("failNodes");
  const up = await demo!.stack.up({ onOutput: () => undefined });
  expect(up.summary.result).toBe("succeeded");
  const r = readReport(latestRunDir(reportDir)!);
  expect(r.result).toBe("succeeded");
  const status = Object.fromEntries(r.nodes.map((n) => [n.name, n.status]));
  for (const n of ["cp-1", "cp-2", "cp-3", "w-1"]) expect(status[n]).toBe("unchanged");
  for (const n of ["w-2", "w-3", "w-4", "w-5", "w-6"]) expect(status[n]).toBe("upgraded");
  const w2 = r.nodes.find((n) => n.name === "w-2")!;
  // drained in the failed run: its command's start is when the program saw that drain resolve
  expect(w2.segments.map((s) => [s.kind, s.approximate ?? false])).toEqual([
    ["upgrade", true],
    ["ready", false],
    ["uncordon", false],
  ]);
  expect(pdbs.violations).toEqual([]);
});

test("chromium opens the pages: one row per node in plan order, bars in time order, screenshots", async () => {
  expect(pages.map((p) => p.name)).toEqual(["succeeded", "failed"]);
  const planOrder = [...cluster.controlPlanes, ...cluster.workers];
  for (const { name, html } of pages) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: string[] = [];
    page.on("request", (req) => requests.push(req.url()));
    await page.goto(`file://${html}`);
    const dom = await page.evaluate(() => {
      // the page's window (the repository's TypeScript has no DOM lib)
      const w = globalThis as unknown as DomWindow;
      const all = (root: DomElement | DomWindow["document"], selector: string) =>
        Array.from(root.querySelectorAll(selector));
      return {
        result: w.document.querySelector('[data-field="result"]')?.textContent,
        evictions: w.document.querySelector('[data-field="evictions"]')?.textContent,
        rows: all(w.document, "svg.timeline g.row").map((g) => ({
          node: g.dataset.node,
          top: g.getBoundingClientRect().top,
          bars: all(g, "rect.bar").map((b) => {
            const box = b.getBoundingClientRect();
            return {
              kind: b.dataset.kind,
              state: b.dataset.state,
              start: Number(b.dataset.start),
              end: Number(b.dataset.end),
              left: box.left,
              right: box.right,
              fill: w.getComputedStyle(b).fill,
            };
          }),
        })),
        tableRows: all(w.document, "table.nodes tbody tr").map((tr) => tr.dataset.node),
      };
    });
    expect(requests).toEqual([`file://${html}`]); // self-contained: nothing else is loaded
    expect(dom.result).toBe(name);
    expect(Number(dom.evictions)).toBeGreaterThanOrEqual(0);
    expect(dom.rows.map((r) => r.node)).toEqual(planOrder);
    expect(dom.tableRows).toEqual(planOrder);
    for (let i = 1; i < dom.rows.length; i++)
      expect(dom.rows[i]!.top).toBeGreaterThan(dom.rows[i - 1]!.top); // drawn top to bottom
    for (const row of dom.rows) {
      for (let i = 1; i < row.bars.length; i++) {
        const [a, b] = [row.bars[i - 1]!, row.bars[i]!];
        expect(b.start).toBeGreaterThanOrEqual(a.end); // time order
        expect(b.left).toBeGreaterThanOrEqual(a.left); // ... left to right on the screen
        expect(b.left + 0.5).toBeGreaterThanOrEqual(a.right - 2.5); // no overlap (2 px minimum width)
      }
      if (name === "succeeded")
        expect(row.bars.map((b) => b.kind)).toEqual(["drain", "upgrade", "ready", "uncordon"]);
    }
    if (name === "failed") {
      const w2 = dom.rows.find((r) => r.node === "w-2")!;
      expect(w2.bars.map((b) => [b.kind, b.state])).toEqual([
        ["drain", "ok"],
        ["upgrade", "failed"],
      ]);
      expect(w2.bars[1]!.fill).toBe("rgb(214, 39, 40)"); // red
      for (const n of ["w-3", "w-4", "w-5", "w-6"])
        expect(dom.rows.find((r) => r.node === n)!.bars).toEqual([]);
    }
    const shot = join(out, `${name}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    await page.close();
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    process.stderr.write(`[report] ${name} roll: page ${html}, screenshot ${shot}\n`);
  }
});
