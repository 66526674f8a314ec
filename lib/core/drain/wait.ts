/**
 * Waiting for pods to leave a node: one watch per drain (spec.nodeName=<node>), not kubectl's
 * per-pod polling. When a pod counts as gone, resumes and refusals: docs/drain.md "Order".
 */
import type { V1Pod } from "@kubernetes/client-node";
import {
  type DrainClients,
  apiErrorMessage,
  apiStatusCode,
  isPermissionError,
  loadClientNode,
} from "./client";
import { shouldSkipPod } from "./filters";

export type GoneHow = "deleted" | "skipped";

export interface TrackerOptions {
  /** Label selector for the initial list (kubectl --pod-selector); the watch sees all pods of the node. */
  readonly podSelector?: string;
  /** Delay before re-listing after a watch/list error. @default 1000 */
  readonly relistDelayMs?: number;
  /**
   * How long `start()` waits for the first watch to connect, so a refusal fails the start. A
   * refusal after that reaches `onFailure`. @default 2000
   */
  readonly connectWaitMs?: number;
  /** Told about watch problems that the tracker recovers from (it re-lists). */
  readonly onWarning?: (message: string) => void;
  /**
   * Told when the API refuses the watch or the re-list (401/403): the tracker has stopped and
   * every pending wait is rejected with the same error.
   */
  readonly onFailure?: (error: PodWatchRefusedError) => void;
}

/** The API server refused to let the tracker watch (or re-list) the node's pods: 401 or 403. */
export class PodWatchRefusedError extends Error {
  constructor(
    public readonly nodeName: string,
    /** "watch" or "list". */
    public readonly verb: "watch" | "list",
    /** 401 or 403. */
    public readonly code: number,
    /** The server's message, e.g. `pods is forbidden: User "..." cannot watch resource "pods" ...`. */
    public readonly serverMessage: string,
  ) {
    super(
      `${verb === "watch" ? "watching" : "listing"} the pods of node ${JSON.stringify(nodeName)} ` +
        `(to wait for evicted pods to be gone): ${serverMessage}`,
    );
    this.name = "PodWatchRefusedError";
  }
}

interface Waiter {
  readonly resolve: (how: GoneHow) => void;
  readonly reject: (e: unknown) => void;
  readonly skipAfterSeconds: number;
  timer?: NodeJS.Timeout;
}

export class PodDeletionTracker {
  /** Pods on the node by UID, as last seen. */
  private readonly present = new Map<string, V1Pod>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private resourceVersion = "";
  private stopped = false;
  private abort?: AbortController;
  private relistTimer?: NodeJS.Timeout;
  /** Set while a refused watch's server message is fetched (start() waits for it). */
  private refusing?: Promise<void>;
  /** Why the tracker stopped on its own (the API refused the watch or the list). */
  public failure?: PodWatchRefusedError;
  /** Number of watches started (tests, diagnostics). */
  public watchesStarted = 0;
  /** Number of lists made (tests, diagnostics). */
  public lists = 0;

  constructor(
    private readonly clients: DrainClients,
    public readonly nodeName: string,
    private readonly opts: TrackerOptions = {},
  ) {}

  /** List the pods on the node (with the pod selector) and start watching. Returns the list. */
  async start(): Promise<V1Pod[]> {
    const list = await this.clients.core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${this.nodeName}`,
      labelSelector: this.opts.podSelector || undefined,
    });
    this.lists++;
    this.applyList(list.items, list.metadata?.resourceVersion ?? "");
    if (this.opts.podSelector) {
      // The watch sees every pod of the node; the present set must too (unselected pods simply have no waiters).
      await this.relist();
    }
    // Wait for the first watch to connect (or be refused) before the caller evicts anything, but
    // not long: a proxy may hold a watch's response headers back until its first event
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.startWatch(),
      new Promise<void>((r) => (timer = setTimeout(r, this.opts.connectWaitMs ?? 2000))),
    ]);
    clearTimeout(timer);
    if (this.failure) throw this.failure;
    return list.items;
  }

  /** Stop watching; pending waits are rejected (with `reason` when given). */
  stop(reason?: Error): void {
    this.stopped = true;
    if (this.relistTimer) clearTimeout(this.relistTimer);
    this.abort?.abort();
    for (const [, set] of this.waiters) {
      for (const w of set) {
        if (w.timer) clearTimeout(w.timer);
        w.reject(reason ?? new Error("pod deletion tracker stopped"));
      }
    }
    this.waiters.clear();
  }

  /** The API refused a watch or list: stop, reject every wait with the reason, tell the owner. */
  private refuse(error: PodWatchRefusedError): void {
    if (this.stopped) return;
    this.failure = error;
    this.stop(error);
    this.opts.onFailure?.(error);
  }

  /**
   * client-node's Watch reports a refusal as a bare `Error("Forbidden")` with statusCode 403 and
   * drops the body, where the server names what is missing. The same request as a plain call
   * (`watch=true`, a 1 s timeout) returns that body as an ApiException.
   */
  private async refusalMessage(err: unknown): Promise<string> {
    try {
      await this.clients.core.listPodForAllNamespaces({
        fieldSelector: `spec.nodeName=${this.nodeName}`,
        watch: true,
        timeoutSeconds: 1,
      });
    } catch (e) {
      if (isPermissionError(e)) return apiErrorMessage(e);
    }
    return apiErrorMessage(err);
  }

  /**
   * Ends the current watch the way a dropped connection would (the tracker re-lists and watches
   * again). For tests and diagnostics.
   */
  interruptWatch(): void {
    this.abort?.abort(new Error("watch interrupted"));
  }

  /** The last known state of a pod still on the node, by UID. */
  current(uid: string): V1Pod | undefined {
    return this.present.get(uid);
  }

  /** Whether the pod (by UID) is still on the node as far as the tracker knows. */
  isPresent(uid: string): boolean {
    return this.present.has(uid);
  }

  /**
   * Resolves when the pod (by UID) is gone from the node ("deleted"), or, with
   * skipWaitForDeleteTimeoutSeconds > 0, when its deletionTimestamp is older than that ("skipped").
   * Rejects with the signal's reason when the signal aborts.
   */
  waitGone(pod: V1Pod, signal: AbortSignal, skipWaitForDeleteTimeoutSeconds = 0): Promise<GoneHow> {
    const uid = pod.metadata?.uid ?? "";
    if (!this.present.has(uid)) return Promise.resolve("deleted");
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<GoneHow>((resolve, reject) => {
      const onAbort = () => {
        this.removeWaiter(uid, waiter);
        reject(signal.reason);
      };
      const waiter: Waiter = {
        resolve: (how) => {
          signal.removeEventListener("abort", onAbort);
          resolve(how);
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
        skipAfterSeconds: skipWaitForDeleteTimeoutSeconds,
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const set = this.waiters.get(uid) ?? new Set<Waiter>();
      set.add(waiter);
      this.waiters.set(uid, set);
      this.checkSkip(uid);
    });
  }

  private removeWaiter(uid: string, w: Waiter): void {
    if (w.timer) clearTimeout(w.timer);
    const set = this.waiters.get(uid);
    set?.delete(w);
    if (set && set.size === 0) this.waiters.delete(uid);
  }

  private gone(uid: string): void {
    this.present.delete(uid);
    const set = this.waiters.get(uid);
    if (!set) return;
    this.waiters.delete(uid);
    for (const w of set) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve("deleted");
    }
  }

  /** skipWaitForDeleteTimeoutSeconds: resolve waiters of a pod deleted long enough ago; else re-check later. */
  private checkSkip(uid: string): void {
    const set = this.waiters.get(uid);
    const pod = this.present.get(uid);
    if (!set || !pod) return;
    for (const w of [...set]) {
      if (!(w.skipAfterSeconds > 0) || !pod.metadata?.deletionTimestamp) continue;
      if (shouldSkipPod(pod, w.skipAfterSeconds)) {
        this.removeWaiter(uid, w);
        w.resolve("skipped");
      } else if (!w.timer) {
        const ts = new Date(pod.metadata.deletionTimestamp as unknown as string).getTime();
        const due = ts + (w.skipAfterSeconds + 1) * 1000 - Date.now();
        w.timer = setTimeout(
          () => {
            w.timer = undefined;
            this.checkSkip(uid);
          },
          Math.max(due, 50),
        );
      }
    }
  }

  private applyList(items: readonly V1Pod[], resourceVersion: string): void {
    const seen = new Set<string>();
    for (const p of items) {
      const uid = p.metadata?.uid;
      if (!uid) continue;
      seen.add(uid);
      this.present.set(uid, p);
    }
    for (const uid of [...this.present.keys()]) if (!seen.has(uid)) this.gone(uid);
    for (const uid of seen) this.checkSkip(uid);
    this.resourceVersion = resourceVersion;
  }

  private async relist(): Promise<void> {
    const list = await this.clients.core.listPodForAllNamespaces({
      fieldSelector: `spec.nodeName=${this.nodeName}`,
    });
    this.lists++;
    if (this.stopped) return;
    this.applyList(list.items, list.metadata?.resourceVersion ?? "");
  }

  private scheduleRelist(reason: string): void {
    if (this.stopped || this.relistTimer) return;
    this.opts.onWarning?.(`watch of pods on node ${this.nodeName} ended (${reason}); re-listing`);
    this.relistTimer = setTimeout(() => {
      this.relistTimer = undefined;
      this.relist().then(
        () => void this.startWatch(),
        (e) => {
          if (isPermissionError(e))
            this.refuse(
              new PodWatchRefusedError(
                this.nodeName,
                "list",
                apiStatusCode(e)!,
                apiErrorMessage(e),
              ),
            );
          else this.scheduleRelist(`list failed: ${apiErrorMessage(e)}`);
        },
      );
    }, this.opts.relistDelayMs ?? 1000);
  }

  /** Starts a watch; resolves once it is connected, or failed (and a refusal was handled). */
  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    const k8s = loadClientNode();
    const watch = new k8s.Watch(this.clients.kc);
    this.watchesStarted++;
    const started = Date.now();
    let needRelist: string | undefined;
    await watch
      .watch(
        "/api/v1/pods",
        {
          fieldSelector: `spec.nodeName=${this.nodeName}`,
          resourceVersion: this.resourceVersion || undefined,
          allowWatchBookmarks: true,
        },
        (type: string, obj: V1Pod & { code?: number; message?: string }) => {
          if (this.stopped) return;
          if (type === "ERROR") {
            // e.g. 410 Gone: the resourceVersion is too old
            needRelist = `${obj.code ?? ""} ${obj.message ?? "watch error"}`.trim();
            return;
          }
          const rv = obj.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (type === "BOOKMARK") return;
          const uid = obj.metadata?.uid;
          if (!uid) return;
          if (type === "DELETED") {
            this.gone(uid);
          } else if (type === "ADDED" || type === "MODIFIED") {
            this.present.set(uid, obj);
            this.checkSkip(uid);
          }
        },
        (err: unknown) => {
          this.abort = undefined;
          if (this.stopped) return;
          const timeout = err instanceof Error && err.name === "TimeoutError";
          if (isPermissionError(err)) {
            const code = apiStatusCode(err)!;
            this.refusing = this.refusalMessage(err).then((m) =>
              this.refuse(new PodWatchRefusedError(this.nodeName, "watch", code, m)),
            );
          } else if (needRelist !== undefined) this.scheduleRelist(needRelist);
          else if (err && !timeout) this.scheduleRelist(apiErrorMessage(err));
          else if (Date.now() - started < 1000)
            this.scheduleRelist("closed right after it started");
          else void this.startWatch(); // closed normally or idle: resume from the last resourceVersion
        },
      )
      .then(
        (ctrl) => {
          if (this.stopped) ctrl.abort();
          else this.abort = ctrl;
        },
        (e) => this.scheduleRelist(apiErrorMessage(e)),
      );
    await this.refusing;
  }
}
