/**
 * The `kube-upkeep.io/upgrade` node annotation: where a roll is with a node, as JSON, written by
 * the steps themselves when each one completes (NodeDrain: "drained", NodeReadyWait: "upgraded",
 * NodeUncordon: "uncordoned", NodeHealthGate: "healthy"):
 *
 * ```json
 * {"runId":"upgrade@v1.35.4","target":"v1.35.4","from":"v1.34.4","mode":"node","step":"upgraded","at":"2026-03-01T10:00:00.000Z"}
 * ```
 *
 * A re-run reads it (the live plan, lib/core/live): a node at the target whose annotation names
 * this run and a step before "uncordoned" finished its upgrade but not its uncordon, so it is
 * resumed (its remaining steps run; the upgrade is not done again), and a node this run already
 * completed keeps the kubeadm mode and the from-version it was upgraded with, so that the
 * resources of a finished roll stay exactly as they were (a second `pulumi up` changes nothing).
 * Pure: parsing and deciding; the write is reporter.ts's.
 */

/** The annotation's key. */
export const UPGRADE_ANNOTATION = "kube-upkeep.io/upgrade";

/** The steps a roll records on a node, in order. */
export type UpgradeStepName = "drained" | "upgraded" | "uncordoned" | "healthy";

export const UPGRADE_STEPS: readonly UpgradeStepName[] = [
  "drained",
  "upgraded",
  "uncordoned",
  "healthy",
];

/** The annotation's value. */
export interface UpgradeProgress {
  /** The run id as the cordon records it: "<runId>@<target>". */
  readonly runId: string;
  /** The version the run upgrades to. */
  readonly target: string;
  /** The node's kubelet version before the run (as the plan had it). */
  readonly from?: string;
  /** kubeadm mode the node was upgraded with. */
  readonly mode?: "apply" | "node";
  /** The last step completed. */
  readonly step: UpgradeStepName;
  /** When that step completed (RFC 3339). */
  readonly at: string;
}

/** The annotation as written (fixed key order). */
export function formatUpgradeProgress(p: UpgradeProgress): string {
  return JSON.stringify({
    runId: p.runId,
    target: p.target,
    ...(p.from !== undefined ? { from: p.from } : {}),
    ...(p.mode !== undefined ? { mode: p.mode } : {}),
    step: p.step,
    at: p.at,
  });
}

/**
 * The annotation's value, or undefined when it is absent or not one (edited by hand, written by
 * another tool): a value that cannot be read is ignored, never trusted.
 */
export function parseUpgradeProgress(text: unknown): UpgradeProgress | undefined {
  if (typeof text !== "string" || text === "") return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.runId !== "string" || o.runId === "") return undefined;
  if (typeof o.target !== "string" || o.target === "") return undefined;
  if (!UPGRADE_STEPS.includes(o.step as UpgradeStepName)) return undefined;
  if (o.from !== undefined && typeof o.from !== "string") return undefined;
  if (o.mode !== undefined && o.mode !== "apply" && o.mode !== "node") return undefined;
  return {
    runId: o.runId,
    target: o.target,
    ...(typeof o.from === "string" ? { from: o.from } : {}),
    ...(o.mode !== undefined ? { mode: o.mode as "apply" | "node" } : {}),
    step: o.step as UpgradeStepName,
    at: typeof o.at === "string" ? o.at : "",
  };
}

/** Whether `p` has reached `step`. */
export function reachedStep(p: UpgradeProgress, step: UpgradeStepName): boolean {
  return UPGRADE_STEPS.indexOf(p.step) >= UPGRADE_STEPS.indexOf(step);
}

/**
 * What run `runId` (to `target`) is to a node, from its annotation and its kubelet version:
 *  - "done": this run completed the node (its uncordon, at least) and the kubelet is at the target;
 *  - "resume": this run upgraded the node (its kubelet is at the target) but did not uncordon it
 *    (it stopped after the ready wait, or after the upgrade command: the drain is recorded and
 *    the kubelet already reports the target);
 *  - "started": this run drained the node and the kubelet is not at the target yet (the upgrade
 *    failed or was interrupted: it runs again, with the recorded mode);
 *  - undefined: not this run's (another run, or none).
 */
export function runStateOf(
  p: UpgradeProgress | undefined,
  runId: string,
  target: string,
  kubeletVersion: string | undefined,
): "done" | "resume" | "started" | undefined {
  if (!p || p.runId !== runId || p.target !== target) return undefined;
  if (kubeletVersion !== target) return "started";
  return reachedStep(p, "uncordoned") ? "done" : "resume";
}
