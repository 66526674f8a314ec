/**
 * Cordon / uncordon with ownership: kube-upkeep records on the node that it cordoned it
 * (annotation kube-upkeep.io/cordoned-by = run id), and uncordon only removes such a cordon. A
 * node an admin cordoned is never uncordoned (unless force is given).
 *
 * Like kubectl (cordon.go) only spec.unschedulable is changed; kube-upkeep uses a JSON merge patch
 * that carries metadata.resourceVersion, so a concurrent change of the node makes the patch fail
 * with 409 and the read-decide-patch cycle is retried, as it is after a transient failure (retry.ts).
 */
import type { CoreV1Api, V1Node } from "@kubernetes/client-node";
import {
  CORDONED_AT_ANNOTATION,
  CORDONED_BY_ANNOTATION,
  alreadyCordonedMessage,
  alreadyUncordonedMessage,
  cordonedByOtherRunMessage,
  cordonedBySomeoneElseMessage,
  cordonedMessage,
  uncordonedMessage,
} from "./messages";
import { apiErrorMessage, apiStatusCode, loadClientNode, readableApiError } from "./client";
import { type Backoff, withTransientRetry } from "./retry";
import { assertNodeName } from "../names";

/**
 * When the node lifecycle controller added the node.kubernetes.io/unschedulable taint for the
 * cordon kube-upkeep made. An admin's `kubectl uncordon` + `kubectl cordon` leaves our cordoned-by
 * annotation in place but gives the taint a new timeAdded: a different time means someone
 * else's cordon.
 */
export const CORDON_TAINT_ANNOTATION = "kube-upkeep.io/cordoned-taint-added";
const UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable";
/** How long cordonNode waits for the controller's taint (drainNode looks again when it is done). */
const TAINT_WAIT_MS = 500;

export interface CordonResult {
  readonly nodeName: string;
  /** The node is cordoned now because of kube-upkeep (this run, or an earlier kube-upkeep run it took over). */
  readonly cordonedByUs: boolean;
  /** The node was already unschedulable before this call. */
  readonly alreadyCordoned: boolean;
  /** When the node was already cordoned by an earlier kube-upkeep run: that run's id. */
  readonly previousRunId?: string;
  /** kubectl-style line: "node/x cordoned" / "node/x already cordoned". */
  readonly message: string;
}

export type UncordonOutcome =
  | "uncordoned"
  | "not-cordoned"
  | "cordoned-by-someone-else"
  | "cordoned-by-other-run"
  | "node-not-found";

export interface UncordonResult {
  readonly nodeName: string;
  /** Whether this call made the node schedulable. */
  readonly uncordoned: boolean;
  readonly outcome: UncordonOutcome;
  readonly message: string;
}

/** How long transient API failures (apiserver restarting, 5xx, conflicts) are retried. */
export interface TransientRetryOptions {
  /** @default 120 s budget, backoff 200 ms doubling to 5 s */
  readonly transientRetry?: Backoff;
  /** Stops retrying. */
  readonly signal?: AbortSignal;
  /** Told before each retry of a transient failure. */
  readonly onTransientRetry?: (message: string) => void;
}

export interface CordonOptions extends TransientRetryOptions {
  /** Recorded in the kube-upkeep.io/cordoned-by annotation. */
  readonly runId: string;
  /** The clock (tests). */
  readonly now?: Date;
}

export interface UncordonOptions extends TransientRetryOptions {
  /** Only remove a cordon made by this run id. @default any kube-upkeep cordon */
  readonly runId?: string;
  /** Uncordon even a node kube-upkeep did not cordon (an admin's cordon). @default false */
  readonly force?: boolean;
  /** A node that does not exist is reported as "node-not-found" instead of throwing. @default false */
  readonly ignoreMissingNode?: boolean;
}

/** The unschedulable taint's timeAdded (ISO), if the controller has added it. */
function taintAdded(node: V1Node): string | undefined {
  const t = (node.spec?.taints ?? []).find(
    (x) => x.key === UNSCHEDULABLE_TAINT && x.effect === "NoSchedule",
  );
  if (!t?.timeAdded) return undefined;
  const d = new Date(t.timeAdded as unknown as string);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * Who cordoned the node: the run id in our annotation, or undefined — also when the recorded
 * taint time differs from the current one (the node was uncordoned and cordoned again by
 * someone else since).
 */
export function cordonOwner(node: V1Node): string | undefined {
  const owner = node.metadata?.annotations?.[CORDONED_BY_ANNOTATION];
  if (owner === undefined) return undefined;
  const recorded = node.metadata?.annotations?.[CORDON_TAINT_ANNOTATION];
  const current = taintAdded(node);
  if (recorded && current && new Date(recorded).toISOString() !== current) return undefined;
  return owner;
}

/**
 * After our cordon: wait up to waitMs for the controller's taint and record its timeAdded (best
 * effort; without it ownership rests on the annotation alone). @internal
 */
export async function recordTaintTime(
  core: CoreV1Api,
  nodeName: string,
  runId: string,
  waitMs = TAINT_WAIT_MS,
): Promise<void> {
  const until = Date.now() + waitMs;
  for (;;) {
    let node: V1Node;
    try {
      node = await core.readNode({ name: nodeName });
    } catch {
      return;
    }
    const annotations = node.metadata?.annotations ?? {};
    if (annotations[CORDONED_BY_ANNOTATION] !== runId || node.spec?.unschedulable !== true) return;
    const added = taintAdded(node);
    if (added) {
      if (annotations[CORDON_TAINT_ANNOTATION] === added) return;
      try {
        await patchNode(core, nodeName, {
          metadata: {
            resourceVersion: node.metadata?.resourceVersion,
            annotations: { [CORDON_TAINT_ANNOTATION]: added },
          },
        });
        return;
      } catch (e) {
        if (apiStatusCode(e) !== 409) return;
        continue;
      }
    }
    if (Date.now() >= until) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function patchNode(core: CoreV1Api, name: string, body: object): Promise<V1Node> {
  const k8s = loadClientNode();
  return core.patchNode(
    { name, body },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  );
}

async function retrying<T>(
  what: string,
  opts: TransientRetryOptions,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await withTransientRetry(fn, {
      ...opts.transientRetry,
      signal: opts.signal,
      onRetry: ({ reason, delayMs, error }) =>
        opts.onTransientRetry?.(
          `${what}: ${reason} (${apiErrorMessage(error)}); retrying in ${(delayMs / 1000).toFixed(1)}s`,
        ),
    });
  } catch (e) {
    throw readableApiError(what, e);
  }
}

/**
 * Mark the node unschedulable and record the run id. An already cordoned node is left alone:
 * if kube-upkeep cordoned it in an earlier run, this run takes the cordon over (the annotation is
 * re-stamped); if someone else cordoned it, nothing is written and cordonedByUs is false.
 */
export async function cordonNode(
  core: CoreV1Api,
  nodeName: string,
  opts: CordonOptions,
): Promise<CordonResult> {
  // A patch whose answer was lost (connection reset) may have landed: on the next read the node is
  // cordoned by this run id, and it was still this call that cordoned it.
  assertNodeName("cordonNode", nodeName);
  let patchSent = false;
  const result = await retrying(`cordon node/${nodeName}`, opts, async () => {
    const node = await core.readNode({ name: nodeName });
    const owner = cordonOwner(node);
    const stamp: Record<string, string | null> = {
      [CORDONED_BY_ANNOTATION]: opts.runId,
      [CORDONED_AT_ANNOTATION]: (opts.now ?? new Date()).toISOString(),
      [CORDON_TAINT_ANNOTATION]: taintAdded(node) ?? null,
    };
    if (node.spec?.unschedulable === true) {
      if (owner === undefined) {
        return {
          nodeName,
          cordonedByUs: false,
          alreadyCordoned: true,
          message: alreadyCordonedMessage(nodeName),
        };
      }
      if (owner === opts.runId && patchSent) {
        return {
          nodeName,
          cordonedByUs: true,
          alreadyCordoned: false,
          message: cordonedMessage(nodeName),
        };
      }
      if (owner !== opts.runId) {
        await patchNode(core, nodeName, {
          metadata: { resourceVersion: node.metadata?.resourceVersion, annotations: stamp },
        });
      }
      return {
        nodeName,
        cordonedByUs: true,
        alreadyCordoned: true,
        previousRunId: owner,
        message:
          owner === opts.runId
            ? alreadyCordonedMessage(nodeName)
            : `${alreadyCordonedMessage(nodeName)} by kube-upkeep run ${JSON.stringify(owner)}; run ${JSON.stringify(opts.runId)} takes the cordon over`,
      };
    }
    patchSent = true;
    await patchNode(core, nodeName, {
      metadata: { resourceVersion: node.metadata?.resourceVersion, annotations: stamp },
      spec: { unschedulable: true },
    });
    return {
      nodeName,
      cordonedByUs: true,
      alreadyCordoned: false,
      message: cordonedMessage(nodeName),
    };
  });
  if (result.cordonedByUs) await recordTaintTime(core, nodeName, opts.runId);
  return result;
}

/** What uncordonNode does with the node as read: answer (dropping a stale stamp), or uncordon. */
type UncordonAction =
  | { readonly kind: "answer"; readonly result: UncordonResult; readonly clearStamp: boolean }
  | { readonly kind: "uncordon" };

function uncordonAction(
  node: V1Node,
  nodeName: string,
  opts: UncordonOptions,
  patchSent: boolean,
): UncordonAction {
  const owner = cordonOwner(node);
  const annotated = node.metadata?.annotations?.[CORDONED_BY_ANNOTATION];
  const answer = (
    uncordoned: boolean,
    outcome: UncordonOutcome,
    message: string,
    clearStamp = false,
  ): UncordonAction => ({
    kind: "answer",
    result: { nodeName, uncordoned, outcome, message },
    clearStamp,
  });
  if (node.spec?.unschedulable !== true && patchSent && owner === undefined)
    return answer(true, "uncordoned", uncordonedMessage(nodeName));
  if (node.spec?.unschedulable !== true) {
    // Schedulable already; drop a stale annotation of ours so the node does not look owned.
    const ours = annotated !== undefined && (opts.runId === undefined || annotated === opts.runId);
    return answer(false, "not-cordoned", alreadyUncordonedMessage(nodeName), ours);
  }
  if (!opts.force) {
    if (owner === undefined)
      return answer(false, "cordoned-by-someone-else", cordonedBySomeoneElseMessage(nodeName));
    if (opts.runId !== undefined && owner !== opts.runId)
      return answer(
        false,
        "cordoned-by-other-run",
        cordonedByOtherRunMessage(nodeName, owner, opts.runId),
      );
  }
  return { kind: "uncordon" };
}

/**
 * Make the node schedulable again, but only if kube-upkeep cordoned it (and, with runId, only
 * that run's cordon). Returns what it did; it never throws for "not ours".
 */
export async function uncordonNode(
  core: CoreV1Api,
  nodeName: string,
  opts: UncordonOptions = {},
): Promise<UncordonResult> {
  assertNodeName("uncordonNode", nodeName);
  let patchSent = false; // as in cordonNode: a lost answer may hide our own uncordon
  return retrying(`uncordon node/${nodeName}`, opts, async () => {
    let node: V1Node;
    try {
      node = await core.readNode({ name: nodeName });
    } catch (e) {
      if (opts.ignoreMissingNode && apiStatusCode(e) === 404) {
        return {
          nodeName,
          uncordoned: false,
          outcome: "node-not-found" as const,
          message: `node/${nodeName} not found: nothing to uncordon`,
        };
      }
      throw e;
    }
    const annotated = node.metadata?.annotations?.[CORDONED_BY_ANNOTATION];
    const rv = node.metadata?.resourceVersion;
    const clearStamp = {
      [CORDONED_BY_ANNOTATION]: null,
      [CORDONED_AT_ANNOTATION]: null,
      [CORDON_TAINT_ANNOTATION]: null,
    };
    const action = uncordonAction(node, nodeName, opts, patchSent);
    if (action.kind === "answer") {
      if (action.clearStamp)
        await patchNode(core, nodeName, {
          metadata: { resourceVersion: rv, annotations: clearStamp },
        });
      return action.result;
    }
    patchSent = true;
    await patchNode(core, nodeName, {
      metadata: {
        resourceVersion: rv,
        annotations: annotated !== undefined ? clearStamp : undefined,
      },
      spec: { unschedulable: null },
    });
    return {
      nodeName,
      uncordoned: true,
      outcome: "uncordoned" as const,
      message: uncordonedMessage(nodeName),
    };
  });
}
