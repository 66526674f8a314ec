import { describePdbBlock, drainTimeoutFix, formatMs, type PdbBlock } from "./messages";

/** Base class of every drain failure. `nodeCordoned` says in which state the node was left. */
export class DrainError extends Error {
  constructor(
    message: string,
    /** The node being drained. */
    public readonly nodeName: string,
    /** Whether the node is cordoned (unschedulable) now, after the failure. */
    public readonly nodeCordoned: boolean,
    /** One line per problem. */
    public readonly problems: readonly string[],
  ) {
    super(message);
    this.name = "DrainError";
  }
}

/**
 * Some pods cannot be deleted with the given options (kubectl's "cannot delete ..." errors). All
 * of them are reported together and nothing was evicted. kube-upkeep checks before cordoning and
 * restores the node if it cordoned it for this drain, so the node is left as it was.
 */
export class DrainFilterError extends DrainError {
  constructor(nodeName: string, nodeCordoned: boolean, problems: readonly string[]) {
    super(
      `cannot drain node ${JSON.stringify(nodeName)}: nothing was evicted, the node is ` +
        `${nodeCordoned ? "cordoned (it was cordoned before the drain started)" : "schedulable (left as it was)"}.\n` +
        problems.map((p) => `error: ${p}`).join("\n"),
      nodeName,
      nodeCordoned,
      problems,
    );
    this.name = "DrainFilterError";
  }
}

/** A pod still on the node when the drain timed out, and why. */
export interface PendingPod {
  /** namespace/name */
  readonly pod: string;
  /** "evicting": the eviction API still refuses (PDB); "terminating": evicted, not gone yet. */
  readonly state: "evicting" | "terminating" | "not-started";
  /** The PodDisruptionBudgets that refused the last eviction attempt. */
  readonly blockedBy: readonly PdbBlock[];
  /** The last transient failure (apiserver unreachable, 5xx, conflict) while evicting this pod. */
  readonly lastError?: string;
}

/** The drain did not finish within timeoutSeconds. The node stays cordoned. */
export class DrainTimeoutError extends DrainError {
  constructor(
    nodeName: string,
    public readonly timeoutMs: number,
    public readonly pending: readonly PendingPod[],
    public readonly evictedPods: readonly string[],
  ) {
    const lines = pending.map((p) => {
      if (p.state === "terminating") return `${p.pod}: evicted, still terminating`;
      if (p.state === "not-started") return `${p.pod}: eviction not started (concurrency bound)`;
      return p.blockedBy.length
        ? `${p.pod}: eviction refused by ${p.blockedBy.map(describePdbBlock).join(" and ")}`
        : `${p.pod}: eviction not accepted yet${p.lastError ? ` (last answer: ${p.lastError})` : ""}`;
    });
    super(
      `drain of node ${JSON.stringify(nodeName)} timed out after ${formatMs(timeoutMs)}; ` +
        `node ${JSON.stringify(nodeName)} stays cordoned. ${pending.length} pod(s) still on the node:\n` +
        lines.map((l) => `  - ${l}`).join("\n") +
        `\n${drainTimeoutFix(pending)}`,
      nodeName,
      true,
      lines,
    );
    this.name = "DrainTimeoutError";
  }
}

/** Evictions/deletions that failed for another reason (500 multiple PDBs, 403, ...). Node stays cordoned. */
export class DrainEvictionError extends DrainError {
  constructor(
    nodeName: string,
    problems: readonly string[],
    public readonly evictedPods: readonly string[],
  ) {
    super(
      `drain of node ${JSON.stringify(nodeName)} failed; node ${JSON.stringify(nodeName)} stays cordoned ` +
        `(${evictedPods.length} pod(s) were evicted before the failure).\n` +
        problems.map((p) => `error: ${p}`).join("\n"),
      nodeName,
      true,
      problems,
    );
    this.name = "DrainEvictionError";
  }
}

/**
 * A PodDisruptionBudget allows no disruption and cannot allow one without a change to the cluster
 * (blocked.ts), so waiting for the timeout would only delay the failure. Found before the cordon,
 * nothing was changed; found during the drain, the node stays cordoned.
 */
export class DrainBlockedError extends DrainError {
  constructor(
    nodeName: string,
    nodeCordoned: boolean,
    problems: readonly string[],
    public readonly evictedPods: readonly string[] = [],
  ) {
    super(
      `cannot drain node ${JSON.stringify(nodeName)}: a PodDisruptionBudget will never allow the eviction; ` +
        (nodeCordoned
          ? `node ${JSON.stringify(nodeName)} stays cordoned (${evictedPods.length} pod(s) were evicted before).`
          : `nothing was evicted, node ${JSON.stringify(nodeName)} is left as it was.`) +
        `\n` +
        problems.map((p) => `error: ${p}`).join("\n") +
        `\n(waitForBlockedPdbs: true waits for the timeout instead, as kubectl does)`,
      nodeName,
      nodeCordoned,
      problems,
    );
    this.name = "DrainBlockedError";
  }
}
