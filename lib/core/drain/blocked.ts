/**
 * Whether a PodDisruptionBudget that allows no disruption now can ever allow one during this
 * drain without someone changing the cluster (scaling the workload up, relaxing the budget).
 * kubectl, kured, system-upgrade-controller and Cluster API all wait for the timeout; kube-upkeep
 * says so up front, naming the budget, its numbers and the fix.
 *
 * "Never" is claimed only when the status is current (observedGeneration = generation), no
 * covered pod is terminating or missing (a replacement could still come), and one of:
 *  - maxUnavailable is 0 / "0%", or minAvailable is "100%" or >= the pods the workload can have;
 *  - every covered pod runs on the node being drained and is healthy: the node is cordoned, so no
 *    pod can appear elsewhere to make room.
 */
import type { V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { selectorMatches, type LabelSelector } from "../pdb";
import { type PdbBlock, describePdbBlock } from "./messages";
import { pdbBlock } from "./evict";

export interface NeverAllows {
  readonly pdb: PdbBlock;
  /** Why the budget cannot allow a disruption. */
  readonly reason: string;
  /** What the user can do. */
  readonly fix: string;
  /** namespace/name of the covered pods on the node being drained. */
  readonly podsOnNode: readonly string[];
}

function isReady(p: V1Pod): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

function isZero(v: number | string | undefined): boolean {
  return v === 0 || v === "0" || v === "0%";
}

/**
 * The verdict for one budget, given every pod of its namespace (as listed now). undefined: it
 * allows a disruption now, or might later.
 */
export function neverAllows(
  pdb: V1PodDisruptionBudget,
  namespacePods: readonly V1Pod[],
  nodeName: string,
): NeverAllows | undefined {
  const status = pdb.status;
  if (!status || status.disruptionsAllowed !== 0) return undefined;
  const expected = status.expectedPods ?? 0;
  if ((status.observedGeneration ?? 0) < (pdb.metadata?.generation ?? 0)) return undefined;
  const ns = pdb.metadata?.namespace;
  const covered = namespacePods.filter(
    (p) =>
      p.metadata?.namespace === ns &&
      p.status?.phase !== "Succeeded" &&
      p.status?.phase !== "Failed" &&
      selectorMatches(pdb.spec?.selector as LabelSelector | undefined, p.metadata?.labels ?? {}),
  );
  const onNode = covered.filter((p) => p.spec?.nodeName === nodeName);
  if (onNode.length === 0) return undefined;
  if (covered.some((p) => p.metadata?.deletionTimestamp)) return undefined;
  if (covered.length < expected) return undefined;
  const block = pdbBlock(pdb);
  const podsOnNode = onNode.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);
  const scale = `scale the workload up (more replicas than the budget keeps), or relax the budget`;
  const { minAvailable, maxUnavailable } = pdb.spec ?? {};
  if (isZero(maxUnavailable)) {
    return {
      pdb: block,
      podsOnNode,
      reason: `maxUnavailable is ${JSON.stringify(maxUnavailable)}: it never allows an eviction`,
      fix: `set maxUnavailable to at least 1 for the maintenance, or drain with disableEviction (bypasses the budget)`,
    };
  }
  if (minAvailable === "100%" || (typeof minAvailable === "number" && minAvailable >= expected)) {
    return {
      pdb: block,
      podsOnNode,
      reason: `minAvailable ${JSON.stringify(minAvailable)} >= the ${expected} pod(s) the workload can have`,
      fix: scale,
    };
  }
  if (onNode.length === covered.length && covered.every(isReady)) {
    return {
      pdb: block,
      podsOnNode,
      reason: `every pod it covers (${covered.length}) runs on node ${nodeName}, which is cordoned, so no pod elsewhere can make room`,
      fix: `${scale}; or spread the workload over other nodes first`,
    };
  }
  return undefined;
}

/** Every budget of `pdbs` that never allows a disruption (see the file comment). */
export function budgetsThatNeverAllow(
  pdbs: readonly V1PodDisruptionBudget[],
  namespacePods: readonly V1Pod[],
  nodeName: string,
): NeverAllows[] {
  return pdbs
    .map((p) => neverAllows(p, namespacePods, nodeName))
    .filter((v): v is NeverAllows => v !== undefined);
}

export function neverAllowsLine(v: NeverAllows): string {
  return `${describePdbBlock(v.pdb)} blocks ${v.podsOnNode.join(", ")}: ${v.reason}. Fix: ${v.fix}`;
}
