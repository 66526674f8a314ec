/**
 * Records of made-up runs, written as the program and the providers write them, for the report
 * tests: a builder that keeps a clock, and a few whole runs.
 */
import type { ReportEvent, ReportPlanNode, ReportStep } from "../../../../lib/core/report/events";

export const T0 = Date.UTC(2026, 10, 24, 21, 37, 0);

export const PLAN: ReportPlanNode[] = [
  { name: "cp-1", role: "control-plane", from: "v1.34.4", action: "kubeadm-upgrade-apply" },
  { name: "w-1", role: "worker", from: "v1.34.4", action: "kubeadm-upgrade-node", chain: 0 },
  { name: "w-2", role: "worker", from: "v1.34.4", action: "kubeadm-upgrade-node", chain: 1 },
];

export class Run {
  readonly events: ReportEvent[] = [];
  t = T0;
  constructor(nodes: readonly ReportPlanNode[] = PLAN, etcdSnapshot = true) {
    this.events.push({
      type: "run-started",
      t: this.t,
      component: "upgrade",
      project: "demo",
      stack: "dev",
      runId: "upgrade@v1.35.4",
      controlPlaneVersion: "v1.34.4",
      targetVersion: "v1.35.4",
      maxUnavailable: 2,
      failurePolicy: "leave-cordoned",
      etcdSnapshot,
      nodes,
    });
  }
  at(ms: number): this {
    this.t = T0 + ms;
    return this;
  }
  push(e: Record<string, unknown>): this {
    this.events.push({ t: this.t, ...e } as ReportEvent);
    return this;
  }
  resolved(node: string | undefined, step: ReportStep | "upgrade" | "snapshot"): this {
    return this.push({ type: "resolved", node, step });
  }
  started(node: string, step: ReportStep): this {
    return this.push({ type: "step-started", node, step });
  }
  finished(node: string, step: ReportStep, details: Record<string, string | number> = {}): this {
    return this.push({ type: "step-finished", node, step, details });
  }
  failed(node: string, step: ReportStep, error: string): this {
    return this.push({ type: "step-failed", node, step, error });
  }
  end(): this {
    return this.push({ type: "run-ended" });
  }
  /**
   * A whole node from `start` (ms after T0): drain with one eviction (and `retries` PDB refusals),
   * the command for 2 s, the ready wait for 1 s, the uncordon.
   */
  node(name: string, start: number, retries = 0): this {
    this.at(start).started(name, "drain");
    this.at(start + 100).push({ type: "cordoned", node: name, cordonedByUs: true });
    this.at(start + 200).push({ type: "evicting", node: name, pod: `demo/web-${name}` });
    for (let i = 1; i <= retries; i++)
      this.at(start + 200 + i * 500).push({
        type: "pdb-retry",
        node: name,
        pod: `demo/web-${name}`,
        attempt: i,
        pdbs: ["web-pdb"],
      });
    const gone = start + 1000 + retries * 500;
    this.at(gone).push({ type: "evicted", node: name, pod: `demo/web-${name}` });
    this.at(gone + 100).finished(name, "drain", { evicted: 1, retries });
    this.at(gone + 150).resolved(name, "drain");
    this.at(gone + 2100).started(name, "ready");
    this.at(gone + 2150).resolved(name, "upgrade");
    this.at(gone + 3100).finished(name, "ready", { kubeletVersion: "v1.35.4", waitedSeconds: 1 });
    this.at(gone + 3150)
      .resolved(name, "ready")
      .started(name, "uncordon");
    this.at(gone + 3200).finished(name, "uncordon", {
      outcome: "uncordoned",
      message: "uncordoned",
    });
    this.at(gone + 3250).resolved(name, "uncordon");
    return this;
  }
}

/** A whole successful run: snapshot 0..2 s, cp-1, then w-1 and w-2 side by side (w-2 waits on a PDB). */
export function succeededRun(): Run {
  return new Run()
    .at(2000)
    .resolved(undefined, "snapshot")
    .node("cp-1", 2100)
    .node("w-1", 8000)
    .node("w-2", 8000, 2)
    .at(14000)
    .end();
}

/** cp-1 done; w-1's upgrade command fails (no ready wait follows); w-2 is drained meanwhile. */
export function failedCommandRun(): Run {
  const r = new Run().at(2000).resolved(undefined, "snapshot").node("cp-1", 2100);
  r.at(8000)
    .started("w-1", "drain")
    .at(8100)
    .push({ type: "cordoned", node: "w-1", cordonedByUs: true });
  r.at(8800).finished("w-1", "drain", { evicted: 0, retries: 0 }).resolved("w-1", "drain");
  // w-2's drain, in the other chain, ends after w-1's command started (the command fails later)
  r.at(8000).started("w-2", "drain").at(9500).finished("w-2", "drain", { evicted: 0, retries: 0 });
  r.at(9550).resolved("w-2", "drain");
  return r.at(12000).end();
}
