/**
 * What each step says in its Events, and the drain's resume check. The upgrade command runs over
 * SSH (remote.Command), where nothing talks to the API server, so its two Events come from its
 * neighbours: UpgradeStarted from NodeDrain when the drain is done (the engine starts the command
 * right after it), Upgraded from NodeReadyWait when the node is Ready at the target (the command
 * took effect). A failing command therefore shows as an UpgradeStarted without an Upgraded; its
 * error (with the command's stderr) is Pulumi's.
 */
import { cordonOwner } from "../drain/cordon";
import { runStateOf, parseUpgradeProgress, UPGRADE_ANNOTATION } from "./annotation";
import type { NodeProgress, NodeProgressTarget } from "./reporter";

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The Drained event: evictions and PodDisruptionBudget retries. */
export function drainedEventMessage(r: {
  readonly evictedPods: readonly string[];
  readonly skippedPods: readonly unknown[];
  readonly retries: number;
  readonly durationMs: number;
}): string {
  return (
    `drained in ${secs(r.durationMs)}: ${r.evictedPods.length} pod(s) evicted, ` +
    `${r.retries} PodDisruptionBudget retries` +
    (r.skippedPods.length > 0 ? `, ${r.skippedPods.length} pod(s) left (DaemonSet, mirror)` : "")
  );
}

/** The UpgradeStarted event (emitted when the drain is done). */
export function upgradeStartedMessage(t: NodeProgressTarget | undefined): string {
  const how =
    t?.mode === "apply"
      ? `kubeadm upgrade apply ${t.targetVersion}`
      : t?.mode === "node"
        ? "kubeadm upgrade node"
        : "the upgrade command";
  return (
    `upgrading${t?.fromVersion ? ` from ${t.fromVersion}` : ""} to ${t?.targetVersion ?? "the target"}: ` +
    `${how} and the kubelet over SSH (run ${t?.runId ?? "?"})`
  );
}

/** The Upgraded event (emitted when the node is Ready at the target). */
export function upgradedMessage(kubeletVersion: string, waitedMs: number): string {
  return `Ready with kubelet ${kubeletVersion} (${secs(waitedMs)} after the upgrade command)`;
}

export interface ResumedDrain {
  readonly state: "done" | "resume";
  /** The node is cordoned by this run (a "resume" left it so). */
  readonly cordonedByUs: boolean;
  readonly message: string;
}

/**
 * Whether the drain can be skipped because this run already upgraded the node: its
 * kube-upkeep.io/upgrade annotation names this run and target, and its kubelet reports the
 * target. Happens when the Pulumi state lost the drain (a stack created again, an interrupted
 * run whose operations were dropped) while the cluster kept the roll's progress. Emits "Resumed".
 */
export async function resumedDrain(
  shown: NodeProgress,
  nodeName: string,
  t: NodeProgressTarget | undefined,
): Promise<ResumedDrain | undefined> {
  if (!t) return undefined;
  const node = await shown.node();
  if (!node) return undefined;
  const p = parseUpgradeProgress(node.metadata?.annotations?.[UPGRADE_ANNOTATION]);
  const state = runStateOf(p, t.runId, t.targetVersion, node.status?.nodeInfo?.kubeletVersion);
  if (state !== "done" && state !== "resume") return undefined;
  const cordonedByUs = node.spec?.unschedulable === true && cordonOwner(node) === t.runId;
  const message =
    state === "done"
      ? `node/${nodeName} was upgraded to ${t.targetVersion} and uncordoned by run ${t.runId} already: not drained again`
      : `node/${nodeName} was upgraded to ${t.targetVersion} by run ${t.runId} already (last step: ${p!.step}): resuming with the steps after it, not drained again`;
  shown.event("Resumed", message);
  return { state, cordonedByUs, message };
}
