/**
 * Whether a PodDisruptionBudget that allows no disruption now can never allow one during this
 * drain without someone changing the cluster. When "never" is claimed: docs/drain.md "A budget
 * that can never allow".
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
  /**
   * False when the verdict rests on the pods that exist now (an integer minAvailable against
   * expectedPods, or every covered pod on the node): see {@link replacementsPending}.
   */
  readonly unconditional: boolean;
  /** The controllers of the covered pods (ReplicaSet, StatefulSet, ...) and how many pods each has. */
  readonly owners: readonly {
    readonly kind: string;
    readonly name: string;
    readonly pods: number;
  }[];
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
  const byOwner = new Map<string, { kind: string; name: string; pods: number }>();
  for (const p of covered) {
    const ref = (p.metadata?.ownerReferences ?? []).find((r) => r.controller);
    if (!ref) continue;
    const k = `${ref.kind}/${ref.name}`;
    const o = byOwner.get(k) ?? { kind: ref.kind, name: ref.name, pods: 0 };
    o.pods++;
    byOwner.set(k, o);
  }
  const owners = [...byOwner.values()];
  const scale = `scale the workload up (more replicas than the budget keeps), or relax the budget`;
  const { minAvailable, maxUnavailable } = pdb.spec ?? {};
  if (isZero(maxUnavailable)) {
    return {
      pdb: block,
      podsOnNode,
      unconditional: true,
      owners,
      reason: `maxUnavailable is ${JSON.stringify(maxUnavailable)}: it never allows an eviction`,
      fix: `set maxUnavailable to at least 1 for the maintenance, or drain with disableEviction (bypasses the budget)`,
    };
  }
  // the status may lag the pods: a replacement that exists already counts (it is not in
  // expectedPods until the disruption controller has seen it)
  const canHave = Math.max(expected, covered.length);
  if (minAvailable === "100%" || (typeof minAvailable === "number" && minAvailable >= canHave)) {
    return {
      pdb: block,
      podsOnNode,
      unconditional: minAvailable === "100%",
      owners,
      reason: `minAvailable ${JSON.stringify(minAvailable)} >= the ${canHave} pod(s) the workload can have`,
      fix: scale,
    };
  }
  if (onNode.length === covered.length && covered.every(isReady)) {
    return {
      pdb: block,
      podsOnNode,
      unconditional: false,
      owners,
      reason: `every pod it covers (${covered.length}) runs on node ${nodeName}, which is cordoned, so no pod elsewhere can make room`,
      fix: `${scale}; or spread the workload over other nodes first`,
    };
  }
  return undefined;
}

/**
 * Whether a replacement pod may still come for a verdict that rests on the pods that exist now.
 * The disruption controller counts an integer minAvailable against the pods that exist
 * (expectedPods), so right after an eviction (this drain's, or a concurrent drain's of another
 * node) and before the ReplicaSet has created the replacement, "minAvailable >= expected" and
 * "every covered pod is on the cordoned node" look like "never". `replicas` reads a controller's
 * wanted pod count (spec.replicas); a controller that wants more pods than exist, or that cannot
 * be read, means a replacement may come. An unconditional verdict never has one.
 */
export async function replacementsPending(
  v: NeverAllows,
  replicas: (kind: string, name: string) => Promise<number | undefined>,
): Promise<boolean> {
  if (v.unconditional) return false;
  for (const o of v.owners) {
    let wanted: number | undefined;
    try {
      wanted = await replicas(o.kind, o.name);
    } catch {
      wanted = undefined;
    }
    if (wanted === undefined || wanted > o.pods) return true;
  }
  return false;
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
