/**
 * waitNodeReady: waits until the node is Ready with its kubelet at the target version (a watch,
 * with a poll as the fallback), or fails after the timeout with what it last saw. What it waits
 * through: docs/drain.md "Transient failures".
 */
import type { KubeConfig, V1Node } from "@kubernetes/client-node";
import { DEFAULT_NODE_STEP_TIMEOUT_SECONDS } from "../defaults";
import { ProblemCollector, ValidationError } from "../errors";
import { nodeNameProblem } from "../names";
import {
  type DrainClients,
  apiErrorMessage,
  apiStatusCode,
  isPermissionError,
  loadClientNode,
  makeClients,
} from "./client";
import { transientReason } from "./retry";

export const DEFAULT_READY_TIMEOUT_SECONDS = DEFAULT_NODE_STEP_TIMEOUT_SECONDS;
export const DEFAULT_READY_POLL_SECONDS = 2;

export interface ReadyWaitOptions {
  /** @default 600 */
  readonly timeoutSeconds?: number;
  /** How often the node is read while no watch event ends the wait (the fallback). @default 2 */
  readonly pollSeconds?: number;
  /** Watch the node (false: poll only). @default true */
  readonly watch?: boolean;
  readonly signal?: AbortSignal;
}

export interface ReadyWaitResult {
  readonly kubeletVersion: string;
  readonly waitedMs: number;
  /** How the wait saw the node at the target: a watch event, or a read (the first one, or the poll). */
  readonly seenBy: "watch" | "read";
}

/**
 * The problems of a wait's node, target and options, all at once: one is thrown as itself,
 * several as ValidationErrors.
 */
export function validateReadyWaitOptions(
  where: string,
  nodeName: unknown,
  targetVersion: unknown,
  opts: Pick<ReadyWaitOptions, "timeoutSeconds" | "pollSeconds">,
): void {
  const problems = new ProblemCollector();
  const badName = nodeNameProblem(where, nodeName);
  if (badName) problems.add(badName);
  if (targetVersion !== undefined && (typeof targetVersion !== "string" || targetVersion === ""))
    problems.add(
      new ValidationError(
        where,
        "targetVersion",
        targetVersion,
        "must be the kubelet version the node is to report",
        'give it as `kubectl get nodes` shows it, e.g. "v1.35.4"',
      ),
    );
  const seconds = (field: "timeoutSeconds" | "pollSeconds", v: unknown, fix: string) => {
    if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v <= 0))
      problems.add(
        new ValidationError(where, field, v, "must be a positive number of seconds", fix),
      );
  };
  seconds(
    "timeoutSeconds",
    opts.timeoutSeconds,
    `leave it unset for ${DEFAULT_READY_TIMEOUT_SECONDS}, or give e.g. 900`,
  );
  seconds("pollSeconds", opts.pollSeconds, `leave it unset for ${DEFAULT_READY_POLL_SECONDS}`);
  problems.throwOneOrAll();
}

/** "Ready=True, kubelet v1.35.4", and whether that is the target. */
function judge(node: V1Node, targetVersion: string): { done: boolean; seen: string } {
  const ready = (node.status?.conditions ?? []).find((c) => c.type === "Ready");
  const version = node.status?.nodeInfo?.kubeletVersion ?? "";
  return {
    done: ready?.status === "True" && version === targetVersion,
    seen: `Ready=${ready?.status ?? "Unknown"}${ready?.reason ? ` (${ready.reason})` : ""}, kubelet ${version || "unknown"}`,
  };
}

export async function waitNodeReady(
  kc: KubeConfig | DrainClients,
  nodeName: string,
  targetVersion: string,
  opts: ReadyWaitOptions = {},
): Promise<ReadyWaitResult> {
  validateReadyWaitOptions("waitNodeReady", nodeName, targetVersion, opts);
  const clients = "core" in kc ? kc : makeClients(kc);
  const { core } = clients;
  const timeoutMs = (opts.timeoutSeconds ?? DEFAULT_READY_TIMEOUT_SECONDS) * 1000;
  const pollMs = (opts.pollSeconds ?? DEFAULT_READY_POLL_SECONDS) * 1000;
  const started = Date.now();
  let last = "not read yet";
  /** Set by a watch event showing the node at the target. */
  let watched: string | undefined;
  /** Wakes the poll's sleep early (a watch event arrived). */
  let wake: (() => void) | undefined;
  const watch =
    opts.watch !== false && clients.kc
      ? new NodeWatch(clients.kc, nodeName, pollMs, (node) => {
          const j = judge(node, targetVersion);
          last = j.seen;
          if (j.done) {
            watched = node.status?.nodeInfo?.kubeletVersion ?? targetVersion;
            wake?.();
          }
        })
      : undefined;
  try {
    for (;;) {
      if (watched !== undefined)
        return { kubeletVersion: watched, waitedMs: Date.now() - started, seenBy: "watch" };
      try {
        const node = await core.readNode({ name: nodeName });
        const j = judge(node, targetVersion);
        last = j.seen;
        if (j.done) {
          return {
            kubeletVersion: node.status?.nodeInfo?.kubeletVersion ?? "",
            waitedMs: Date.now() - started,
            seenBy: "read",
          };
        }
        watch?.ensure(node.metadata?.resourceVersion);
      } catch (e) {
        const code = apiStatusCode(e);
        last = `reading the node failed${code ? ` (HTTP ${code})` : ""}: ${apiErrorMessage(e)}`;
        if (code !== 404 && transientReason(e) === undefined) {
          throw new Error(`node ${nodeName}: ${last}. The node stays cordoned.`);
        }
      }
      if (watched !== undefined) continue;
      if (Date.now() - started >= timeoutMs || opts.signal?.aborted) {
        throw new Error(
          `node ${nodeName}: not Ready at kubelet ${targetVersion} after ${Math.round(timeoutMs / 1000)}s ` +
            `(last seen: ${last}). The node stays cordoned; check the kubelet (journalctl -u kubelet) and re-run.`,
        );
      }
      const remaining = timeoutMs - (Date.now() - started);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          opts.signal?.removeEventListener("abort", done);
          wake = undefined;
          resolve();
        };
        const t = setTimeout(done, Math.max(0, Math.min(pollMs, remaining)));
        opts.signal?.addEventListener("abort", done, { once: true });
        wake = done;
      });
    }
  } finally {
    watch?.stop();
  }
}

/**
 * One watch on one node, started from a read's resourceVersion, restarted when it ends: at once
 * from the last resourceVersion after a normal close, at the next read (ensure) after an error.
 */
class NodeWatch {
  private abort?: AbortController;
  private running = false;
  private stopped = false;
  /** The identity may not watch nodes (401/403): reads only from then on. */
  private refused = false;
  private resourceVersion?: string;
  /** A watch error: wait for the next read before watching again (and not more often than the poll). */
  private failedAt?: number;

  constructor(
    private readonly kc: KubeConfig,
    private readonly nodeName: string,
    private readonly pollMs: number,
    private readonly onNode: (node: V1Node) => void,
  ) {}

  /** Starts the watch if none runs, from this resourceVersion. */
  ensure(resourceVersion: string | undefined): void {
    if (this.stopped || this.running || this.refused) return;
    if (this.failedAt !== undefined && Date.now() - this.failedAt < Math.max(this.pollMs, 1000))
      return;
    this.failedAt = undefined;
    this.resourceVersion = resourceVersion;
    this.start();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private start(): void {
    this.running = true;
    const started = Date.now();
    let error = false;
    const watch = new (loadClientNode().Watch)(this.kc);
    watch
      .watch(
        "/api/v1/nodes",
        {
          fieldSelector: `metadata.name=${this.nodeName}`,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
        },
        (type: string, obj: V1Node) => {
          if (this.stopped) return;
          if (type === "ERROR") {
            error = true; // e.g. 410 Gone: start again from a fresh read
            return;
          }
          if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          if (type === "ADDED" || type === "MODIFIED") this.onNode(obj);
        },
        (err: unknown) => {
          this.running = false;
          this.abort = undefined;
          if (this.stopped) return;
          if (isPermissionError(err)) this.refused = true;
          const timeout = err instanceof Error && err.name === "TimeoutError";
          if (error || (err && !timeout) || Date.now() - started < 1000) {
            this.failedAt = Date.now();
            return; // the poll reads on and restarts the watch
          }
          this.start(); // closed normally or idle: resume from the last resourceVersion
        },
      )
      .then(
        (ctrl) => {
          if (this.stopped) ctrl.abort();
          else this.abort = ctrl;
        },
        (e: unknown) => {
          this.running = false;
          this.failedAt = Date.now();
          if (isPermissionError(e)) this.refused = true;
        },
      );
  }
}
