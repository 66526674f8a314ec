import { buildRollReport, reportPlanNodes } from "../../../../lib/core/report/model";
import { parseEvents, formatEventLine } from "../../../../lib/core/report/events";
import { failedCommandRun, PLAN, Run, succeededRun, T0 } from "./fixture";

const kinds = (r: ReturnType<typeof buildRollReport>, node: string) =>
  r.nodes.find((n) => n.name === node)!.segments.map((s) => `${s.kind}:${s.state}`);

describe("buildRollReport", () => {
  test("a whole run: rows in plan order, bars in time order, totals, result", () => {
    const r = buildRollReport(succeededRun().events);
    expect(r.result).toBe("succeeded");
    expect(r.nodes.map((n) => n.name)).toEqual(["cp-1", "w-1", "w-2"]);
    for (const n of r.nodes) {
      expect(n.status).toBe("upgraded");
      expect(n.segments.map((s) => s.kind)).toEqual(["drain", "upgrade", "ready", "uncordon"]);
      for (let i = 1; i < n.segments.length; i++)
        expect(n.segments[i]!.start).toBeGreaterThanOrEqual(n.segments[i - 1]!.end);
      expect(n.kubeletVersion).toBe("v1.35.4");
    }
    expect(r.totals).toEqual({
      nodes: 3,
      upgraded: 3,
      failed: 0,
      evictions: 3,
      pdbRetries: 2,
      transientRetries: 0,
    });
    expect(r.durationMs).toBe(14000);
    expect(r.fromVersion).toBe("v1.34.4");
    expect(r.targetVersion).toBe("v1.35.4");
    expect(r.snapshot).toMatchObject({ state: "ok", start: T0, end: T0 + 2000 });
    expect(r.failures).toEqual([]);
  });

  test("the upgrade command spans drain end .. ready-wait start", () => {
    const r = buildRollReport(succeededRun().events);
    const cp = r.nodes[0]!;
    const drain = cp.segments.find((s) => s.kind === "drain")!;
    const upgrade = cp.segments.find((s) => s.kind === "upgrade")!;
    const ready = cp.segments.find((s) => s.kind === "ready")!;
    expect(upgrade.start).toBe(drain.end);
    expect(upgrade.end).toBe(ready.start);
    expect(upgrade.approximate).toBe(false);
    expect(upgrade.detail).toMatch(/^kubeadm upgrade apply v1\.34\.4 -> v1\.35\.4/);
  });

  test("evictions and PDB retries of the drain, cordon first", () => {
    const w2 = buildRollReport(succeededRun().events).nodes[2]!;
    expect(w2.evictions).toEqual([
      expect.objectContaining({
        pod: "demo/web-w-2",
        state: "ok",
        retries: [T0 + 8700, T0 + 9200],
      }),
    ]);
    expect(w2.markers.map((m) => m.kind)).toEqual(["cordon", "pdb-retry", "pdb-retry"]);
    expect(w2.markers[1]!.label).toMatch(/web-pdb \(attempt 1\)/);
    expect(w2.pdbRetries).toBe(2);
  });

  test("a failed upgrade command: red from its drain's end, the node after it not started", () => {
    const r = buildRollReport(failedCommandRun().events);
    expect(r.result).toBe("failed");
    const w1 = r.nodes.find((n) => n.name === "w-1")!;
    expect(w1.status).toBe("failed");
    expect(kinds(r, "w-1")).toEqual(["drain:ok", "upgrade:failed"]);
    const up = w1.segments[1]!;
    expect(up).toMatchObject({ start: T0 + 8800, end: T0 + 12000, uncertain: false });
    expect(up.detail).toMatch(/pulumi's error for upgrade-w-1-upgrade/);
    expect(w1.statusText).toMatch(/stays cordoned/);
    // w-2's command did not resolve either, and started after w-1's: failed or never started
    const w2 = r.nodes.find((n) => n.name === "w-2")!;
    expect(w2.segments[1]).toMatchObject({ kind: "upgrade", state: "failed", uncertain: true });
    expect(r.failures.map((f) => [f.node, f.step, f.uncertain ?? false])).toEqual([
      ["w-1", "upgrade", false],
      ["w-2", "upgrade", true],
    ]);
  });

  test("after a recorded failure the engine starts nothing: a later drained node's command is not started", () => {
    const r = new Run().at(2000).resolved(undefined, "snapshot");
    r.at(3000)
      .started("cp-1", "drain")
      .at(3100)
      .finished("cp-1", "drain")
      .resolved("cp-1", "drain");
    r.at(3200).started("cp-1", "ready").resolved("cp-1", "upgrade");
    r.at(4000).failed("cp-1", "ready", "NodeReadyWait cp-1: timed out after 1 s: kubelet v1.34.4");
    const built = buildRollReport(r.at(5000).end().events);
    expect(kinds(built, "cp-1")).toEqual(["drain:ok", "upgrade:ok", "ready:failed"]);
    expect(built.failures).toEqual([
      { node: "cp-1", step: "ready", message: expect.stringMatching(/timed out/) },
    ]);
    expect(built.nodes[1]).toMatchObject({ status: "not-started", segments: [] });
    expect(built.nodes[1]!.statusText).toMatch(/stopped after a failure/);

    // a drain that ended after the failure: its command never started
    const late = new Run().at(2000).resolved(undefined, "snapshot");
    late.at(3000).started("w-1", "drain").failed("w-1", "drain", "drainNode w-1: timed out");
    late
      .at(2500)
      .started("w-2", "drain")
      .at(3500)
      .finished("w-2", "drain")
      .resolved("w-2", "drain");
    const b = buildRollReport(late.at(4000).end().events);
    expect(b.nodes[2]).toMatchObject({ status: "not-started" });
    expect(b.nodes[2]!.statusText).toMatch(/upgrade command did not start/);
    expect(kinds(b, "w-2")).toEqual(["drain:ok"]);
  });

  test("a failed drain: red, its pods still there red, its message kept", () => {
    const r = new Run(PLAN, false).at(100).started("cp-1", "drain");
    r.at(200).push({ type: "cordoned", node: "cp-1", cordonedByUs: true });
    r.at(300).push({ type: "evicting", node: "cp-1", pod: "demo/api-1" });
    r.at(800).push({
      type: "pdb-retry",
      node: "cp-1",
      pod: "demo/api-1",
      attempt: 1,
      pdbs: ["api-pdb"],
    });
    r.at(3000).failed(
      "cp-1",
      "drain",
      "drainNode cp-1: timed out after 3 s; pending: demo/api-1 <PDB api-pdb>",
    );
    const b = buildRollReport(r.at(3100).end().events);
    expect(b.snapshot).toBeUndefined();
    const cp = b.nodes[0]!;
    expect(cp.status).toBe("failed");
    expect(cp.segments).toEqual([
      expect.objectContaining({
        kind: "drain",
        state: "failed",
        end: T0 + 3000,
        detail: expect.stringMatching(/api-pdb/),
      }),
    ]);
    expect(cp.evictions[0]).toMatchObject({ state: "failed", end: T0 + 3000 });
    expect(cp.evicted).toBe(0);
  });

  test("a run that is still going (no run-ended): in progress, open bars running", () => {
    const r = new Run().at(2000).resolved(undefined, "snapshot").at(2100).started("cp-1", "drain");
    const b = buildRollReport(
      r.at(2600).push({ type: "cordoned", node: "cp-1", cordonedByUs: true }).events,
    );
    expect(b.result).toBe("in-progress");
    expect(b.ended).toBe(false);
    expect(kinds(b, "cp-1")).toEqual(["drain:running"]);
    expect(b.nodes[1]!.status).toBe("waiting");
    expect(b.endedAt).toBe(T0 + 2600);
  });

  test("a run with nothing to do: no changes, rows unchanged", () => {
    const r = new Run().at(300).resolved(undefined, "snapshot");
    for (const n of ["cp-1", "w-1", "w-2"])
      for (const s of ["drain", "upgrade", "ready", "uncordon"] as const) r.resolved(n, s);
    const b = buildRollReport(r.at(900).end().events);
    expect(b.result).toBe("no-changes");
    expect(b.snapshot).toBeUndefined();
    expect(b.nodes.map((n) => n.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
  });

  test("a failed etcd snapshot: the whole run failed, nothing else ran", () => {
    const b = buildRollReport(new Run().at(4000).end().events);
    expect(b.result).toBe("failed");
    expect(b.snapshot).toMatchObject({ state: "failed", start: T0, end: T0 + 4000 });
    expect(b.failures[0]!.message).toMatch(/upgrade-etcd-snapshot/);
    expect(b.nodes.map((n) => n.status)).toEqual(["not-started", "not-started", "not-started"]);
  });

  test("a re-run after a failed command: the drain from an earlier run, times approximate", () => {
    const r = new Run([PLAN[1]!], false).at(200).resolved("w-1", "drain");
    r.at(2300).started("w-1", "ready").resolved("w-1", "upgrade");
    r.at(3000).finished("w-1", "ready", { kubeletVersion: "v1.35.4" }).started("w-1", "uncordon");
    r.at(3100).finished("w-1", "uncordon", { outcome: "uncordoned" }).resolved("w-1", "uncordon");
    const b = buildRollReport(r.at(3200).end().events);
    expect(b.result).toBe("succeeded");
    expect(b.nodes[0]!.segments[0]).toMatchObject({
      kind: "upgrade",
      start: T0 + 200,
      end: T0 + 2300,
      approximate: true,
    });
  });

  test("health gates (the live-roll slot) are bars of their row", () => {
    const r = succeededRun();
    r.at(12100).push({
      type: "health-gate",
      node: "w-1",
      gate: "http /healthz",
      startedAt: T0 + 12000,
      passed: false,
      message: "503",
    });
    const w1 = buildRollReport(r.events).nodes[1]!;
    expect(w1.segments.map((s) => s.kind)).toContain("health-gate");
    expect(w1.status).toBe("failed");
  });

  test("nodes not done without a recorded failure (a step that records nothing failed): failed", () => {
    // e.g. a node's preflight command failed before its drain: the snapshot completed, nothing else
    const b = buildRollReport(
      new Run().at(2000).resolved(undefined, "snapshot").at(2500).end().events,
    );
    expect(b.result).toBe("failed");
    expect(b.nodes.map((n) => n.status)).toEqual(["not-started", "not-started", "not-started"]);
    expect(b.failures).toEqual([
      {
        message: expect.stringMatching(
          /^the run ended with 3 node\(s\) not done \(cp-1, w-1, w-2\)/,
        ),
      },
    ]);
  });

  test("skipped nodes of the plan keep their row", () => {
    const b = buildRollReport(
      new Run([...PLAN, { name: "w-3", role: "worker", from: "v1.35.4", action: "skip" }])
        .at(10)
        .end().events,
    );
    expect(b.nodes[3]).toMatchObject({
      name: "w-3",
      status: "skipped",
      statusText: "already at v1.35.4",
    });
  });

  test("no run-started record is an error", () => {
    expect(() => buildRollReport([])).toThrow(/no run-started/);
  });

  test("reportPlanNodes: the plan's node steps in order, the snapshot left out", () => {
    expect(
      reportPlanNodes([
        { action: "etcd-snapshot", node: "cp-1" },
        { action: "kubeadm-upgrade-apply", node: "cp-1", role: "control-plane", from: "v1.34.4" },
        { action: "kubeadm-upgrade-node", node: "w-1", role: "worker", from: "v1.34.4", chain: 0 },
      ]),
    ).toEqual([
      { name: "cp-1", role: "control-plane", from: "v1.34.4", action: "kubeadm-upgrade-apply" },
      { name: "w-1", role: "worker", from: "v1.34.4", action: "kubeadm-upgrade-node", chain: 0 },
    ]);
  });
});

describe("parseEvents", () => {
  test("round trip, and a torn or foreign line is skipped and counted", () => {
    const events = succeededRun().events;
    const text = events.map(formatEventLine).join("") + '{"type":"step-sta';
    const parsed = parseEvents(`${text}\n{"type":"other","t":1}\nnot json\n\n`);
    expect(parsed.events).toEqual(events);
    expect(parsed.skippedLines).toBe(3);
    expect(buildRollReport(parsed.events, parsed.skippedLines).skippedLines).toBe(3);
  });
});
