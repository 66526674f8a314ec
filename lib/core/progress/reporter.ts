/**
 * nodeProgress: how a step (a dynamic provider's create) shows itself in the cluster: Events on
 * the Node (events.ts) and the `kube-upkeep.io/upgrade` annotation (annotation.ts).
 *
 * Best effort, like the roll report: an Event or an annotation that cannot be written (no
 * `events create` permission, the apiserver restarting for longer than a short retry) is passed
 * to `warn` once per kind and never fails or holds up the step: the writes run in order on a
 * queue of their own, each with a short transient retry, and the step awaits `flush()` only at
 * its end (bounded by the same retry budget).
 */
import type { CoreV1Event, KubeConfig, V1Node } from "@kubernetes/client-node";
import { type DrainClients, apiErrorMessage, loadClientNode, makeClients } from "../drain/client";
import { withTransientRetry } from "../drain/retry";
import { type NodeEventReason, NODE_EVENT_NAMESPACE, nodeEvent } from "./events";
import {
  type UpgradeProgress,
  type UpgradeStepName,
  UPGRADE_ANNOTATION,
  formatUpgradeProgress,
  parseUpgradeProgress,
} from "./annotation";

/** What a step knows of the roll, to write its progress (an input of the dynamic resources). */
export interface NodeProgressTarget {
  /** "<runId>@<target>", as the cordon records it. */
  readonly runId: string;
  readonly targetVersion: string;
  readonly mode?: "apply" | "node";
  /** The node's version before the roll. */
  readonly fromVersion?: string;
  /** Kubernetes Events on the Node. @default true */
  readonly events?: boolean;
  /** The kube-upkeep.io/upgrade annotation. @default true */
  readonly annotation?: boolean;
}

export interface NodeProgress {
  /** Queues an Event on the node. */
  event(reason: NodeEventReason, message: string): void;
  /** Queues a Warning Event "Failed": "<what> failed: <error>". */
  failed(what: string, error: unknown): void;
  /** Queues the annotation write: `step` completed. */
  step(step: UpgradeStepName): void;
  /** The node as last read (for its uid and annotation); undefined when it cannot be read. */
  node(): Promise<V1Node | undefined>;
  /** The node's recorded progress (its annotation), read once. */
  recorded(): Promise<UpgradeProgress | undefined>;
  /** Waits until every queued write was done or given up. */
  flush(): Promise<void>;
}

const NOTHING: NodeProgress = {
  event: () => undefined,
  failed: () => undefined,
  step: () => undefined,
  node: async () => undefined,
  recorded: async () => undefined,
  flush: async () => undefined,
};

/** How long one write retries a transient failure. */
const WRITE_BUDGET_MS = 15_000;

/** An error as one line of an Event's message (its lines joined; nodeEvent cuts it to the limit). */
export function errorLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join(" ");
}

export function nodeProgress(
  kc: KubeConfig | DrainClients,
  nodeName: string,
  target: NodeProgressTarget | undefined,
  warn: (message: string) => void = () => undefined,
): NodeProgress {
  if (!target || typeof target.runId !== "string" || target.runId === "") return NOTHING;
  const events = target.events !== false;
  const annotation = target.annotation !== false;
  if (!events && !annotation) return NOTHING;
  const { core } = "core" in kc ? kc : makeClients(kc);
  const warned = new Set<string>();
  const warnOnce = (kind: string, what: string, e: unknown) => {
    if (warned.has(kind)) return;
    warned.add(kind);
    warn(
      `could not ${what} (${apiErrorMessage(e)}); the roll goes on without it` +
        (kind === "event" ? " (RBAC: events create in namespace default)" : ""),
    );
  };
  let read: Promise<V1Node | undefined> | undefined;
  const node = () =>
    (read ??= withTransientRetry(() => core.readNode({ name: nodeName }), {
      budgetMs: WRITE_BUDGET_MS,
    }).catch((e: unknown) => {
      warnOnce("read", `read node ${nodeName}`, e);
      return undefined;
    }));
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (fn: () => Promise<void>) => {
    queue = queue.then(fn, fn);
  };
  const emit = (reason: NodeEventReason, message: string) => {
    if (!events) return;
    const now = new Date();
    enqueue(async () => {
      const n = await node();
      const body = nodeEvent({ name: nodeName, uid: n?.metadata?.uid }, reason, message, { now });
      try {
        await withTransientRetry(
          // eventTime is a MicroTime string (see microTime), which the serializer passes as it is
          () =>
            core.createNamespacedEvent({
              namespace: NODE_EVENT_NAMESPACE,
              body: body as unknown as CoreV1Event,
            }),
          { budgetMs: WRITE_BUDGET_MS },
        );
      } catch (e) {
        warnOnce("event", `emit the ${reason} event on node ${nodeName}`, e);
      }
    });
  };
  return {
    event: emit,
    failed(what, error) {
      emit("Failed", `${what} failed: ${errorLine(error)}`);
    },
    step(step) {
      if (!annotation) return;
      const value: UpgradeProgress = {
        runId: target.runId,
        target: target.targetVersion,
        from: target.fromVersion,
        mode: target.mode,
        step,
        at: new Date().toISOString(),
      };
      enqueue(async () => {
        const k8s = loadClientNode();
        try {
          await withTransientRetry(
            () =>
              core.patchNode(
                {
                  name: nodeName,
                  body: {
                    metadata: {
                      annotations: { [UPGRADE_ANNOTATION]: formatUpgradeProgress(value) },
                    },
                  },
                },
                k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
              ),
            { budgetMs: WRITE_BUDGET_MS },
          );
        } catch (e) {
          warnOnce(
            "annotation",
            `record step ${step} in ${UPGRADE_ANNOTATION} on node ${nodeName}`,
            e,
          );
        }
      });
    },
    node,
    async recorded() {
      const n = await node();
      return parseUpgradeProgress(n?.metadata?.annotations?.[UPGRADE_ANNOTATION]);
    },
    flush: async () => {
      let last: Promise<void>;
      do {
        last = queue;
        await last;
      } while (last !== queue);
    },
  };
}
