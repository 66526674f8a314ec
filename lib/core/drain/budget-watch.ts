/**
 * BudgetWatch: one PodDisruptionBudget watch per namespace a drain evicts from, so a refused (429)
 * eviction is retried as soon as a budget status allows a disruption again, the retry interval
 * at the latest. What it releases and when it falls back: docs/drain.md "Retrying a PDB refusal".
 */
import type { V1PodDisruptionBudget } from "@kubernetes/client-node";
import { type DrainClients, apiErrorMessage, isPermissionError, loadClientNode } from "./client";

/** namespace/name of a budget. */
export function budgetKey(p: V1PodDisruptionBudget): string {
  return `${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`;
}

export interface BudgetWatchOptions {
  /** Delay before listing again after a watch or list error. @default 1000 */
  readonly relistDelayMs?: number;
  /** Told about watch problems (never fatal). */
  readonly onWarning?: (message: string) => void;
}

/** How a wait ended. */
export type AllowanceWait = "allowed" | "interval" | "aborted";

interface Known {
  pdb: V1PodDisruptionBudget;
  /** performance-clock time the current status was received. */
  receivedAt: number;
}

interface Waiter {
  readonly keys: readonly string[];
  readonly done: (how: AllowanceWait) => void;
}

const now = () => performance.now();

export class BudgetWatch {
  private readonly known = new Map<string, Known>();
  /** Waiting pods, in the order they were refused. */
  private readonly waiters: Waiter[] = [];
  private readonly watched = new Set<string>();
  private readonly aborts = new Map<string, AbortController>();
  private readonly relistTimers = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  /** Status updates received (tests, diagnostics). */
  public updates = 0;

  constructor(
    private readonly clients: DrainClients,
    private readonly opts: BudgetWatchOptions = {},
  ) {}

  /**
   * Lists and watches the budgets of these namespaces (each once per BudgetWatch). A namespace
   * whose budgets cannot be listed is not watched (its pods wait the fixed interval).
   */
  async watch(namespaces: Iterable<string>): Promise<void> {
    const fresh = [...new Set(namespaces)].filter((ns) => !this.watched.has(ns));
    for (const ns of fresh) this.watched.add(ns);
    await Promise.all(
      fresh.map((ns) =>
        this.list(ns).then(
          (rv) => this.startWatch(ns, rv),
          (e) =>
            this.opts.onWarning?.(
              `cannot list the PodDisruptionBudgets of namespace ${ns} (${apiErrorMessage(e)}); refused evictions there are retried at the fixed interval`,
            ),
        ),
      ),
    );
  }

  /** The budgets of the namespace as last seen. */
  budgets(namespace: string): V1PodDisruptionBudget[] {
    const out: V1PodDisruptionBudget[] = [];
    for (const k of this.known.values())
      if ((k.pdb.metadata?.namespace ?? "") === namespace) out.push(k.pdb);
    return out;
  }

  /** Whether the budgets of the namespace are being watched (listed successfully). */
  watching(namespace: string): boolean {
    return this.watched.has(namespace) && this.aborts.has(namespace);
  }

  /**
   * Waits after a refusal of a request sent at `sentAt` (performance.now()) by the budgets `keys`:
   * "allowed" when one of them allows a disruption in a status received after sentAt (at once if
   * such a status is already here), "interval" after maxMs, "aborted" when the signal aborts.
   */
  waitForAllowance(
    keys: readonly string[],
    sentAt: number,
    maxMs: number,
    signal?: AbortSignal,
  ): Promise<AllowanceWait> {
    if (signal?.aborted) return Promise.resolve("aborted");
    if (keys.some((k) => this.allowsSince(k, sentAt))) return Promise.resolve("allowed");
    return new Promise<AllowanceWait>((resolve) => {
      const finish = (how: AllowanceWait) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(how);
      };
      const onAbort = () => finish("aborted");
      const waiter: Waiter = { keys, done: finish };
      const timer = setTimeout(() => finish("interval"), maxMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** A budget's status seen elsewhere (or in tests): the same effect as a watch event. */
  observe(pdb: V1PodDisruptionBudget): void {
    this.update(pdb);
  }

  /** Stops every watch; pending waits end as "aborted". */
  stop(): void {
    this.stopped = true;
    for (const t of this.relistTimers.values()) clearTimeout(t);
    this.relistTimers.clear();
    for (const a of this.aborts.values()) a.abort();
    this.aborts.clear();
    for (const w of [...this.waiters]) w.done("aborted");
  }

  /**
   * Ends the namespace's watch the way a dropped connection would (it is resumed). Tests and
   * diagnostics.
   */
  interruptWatch(namespace: string): void {
    this.aborts.get(namespace)?.abort(new Error("watch interrupted"));
  }

  private allowsSince(key: string, sentAt: number): boolean {
    const k = this.known.get(key);
    return !!k && k.receivedAt >= sentAt && (k.pdb.status?.disruptionsAllowed ?? 0) > 0;
  }

  private async list(ns: string): Promise<string> {
    const l = await this.clients.policy.listNamespacedPodDisruptionBudget({ namespace: ns });
    if (this.stopped) return "";
    const seen = new Set<string>();
    for (const p of l.items) {
      seen.add(budgetKey(p));
      this.update(p);
    }
    for (const k of [...this.known.keys()])
      if (k.startsWith(`${ns}/`) && !seen.has(k)) this.known.delete(k);
    return l.metadata?.resourceVersion ?? "";
  }

  /** A new status: release up to disruptionsAllowed waiters of this budget, oldest first. */
  private update(pdb: V1PodDisruptionBudget): void {
    const key = budgetKey(pdb);
    this.known.set(key, { pdb, receivedAt: now() });
    this.updates++;
    let allowed = pdb.status?.disruptionsAllowed ?? 0;
    if (allowed <= 0) return;
    for (const w of [...this.waiters]) {
      if (allowed <= 0) break;
      if (!w.keys.includes(key)) continue;
      allowed--;
      w.done("allowed");
    }
  }

  /** The watch was refused: no more attempts for the namespace; the fixed interval applies. */
  private refused(ns: string, e: unknown): void {
    this.aborts.delete(ns);
    this.opts.onWarning?.(
      `cannot watch the PodDisruptionBudgets of namespace ${ns} (${apiErrorMessage(e)}); refused evictions there are retried at the fixed interval`,
    );
  }

  private scheduleRelist(ns: string, reason: string): void {
    if (this.stopped || this.relistTimers.has(ns)) return;
    this.aborts.delete(ns);
    this.opts.onWarning?.(
      `watch of the PodDisruptionBudgets of namespace ${ns} ended (${reason}); listing them again`,
    );
    this.relistTimers.set(
      ns,
      setTimeout(() => {
        this.relistTimers.delete(ns);
        this.list(ns).then(
          (rv) => this.startWatch(ns, rv),
          (e) => this.scheduleRelist(ns, `list failed: ${apiErrorMessage(e)}`),
        );
      }, this.opts.relistDelayMs ?? 1000),
    );
  }

  private startWatch(ns: string, resourceVersion: string): void {
    if (this.stopped) return;
    const k8s = loadClientNode();
    const watch = new k8s.Watch(this.clients.kc);
    const started = now();
    let rv = resourceVersion;
    let needRelist: string | undefined;
    // a placeholder until the request is made, so watching(ns) holds from here on
    const pending = new AbortController();
    this.aborts.set(ns, pending);
    watch
      .watch(
        `/apis/policy/v1/namespaces/${encodeURIComponent(ns)}/poddisruptionbudgets`,
        { resourceVersion: rv || undefined, allowWatchBookmarks: true },
        (type: string, obj: V1PodDisruptionBudget & { code?: number; message?: string }) => {
          if (this.stopped) return;
          if (type === "ERROR") {
            needRelist = `${obj.code ?? ""} ${obj.message ?? "watch error"}`.trim();
            return;
          }
          if (obj.metadata?.resourceVersion) rv = obj.metadata.resourceVersion;
          if (type === "BOOKMARK") return;
          if (type === "DELETED") this.known.delete(budgetKey(obj));
          else if (type === "ADDED" || type === "MODIFIED") this.update(obj);
        },
        (err: unknown) => {
          if (this.stopped) return;
          if (isPermissionError(err)) return this.refused(ns, err);
          const timeout = err instanceof Error && err.name === "TimeoutError";
          if (needRelist !== undefined) this.scheduleRelist(ns, needRelist);
          else if (err && !timeout) this.scheduleRelist(ns, apiErrorMessage(err));
          else if (now() - started < 1000) this.scheduleRelist(ns, "closed right after it started");
          else this.startWatch(ns, rv); // closed normally or idle: resume
        },
      )
      .then(
        (ctrl) => {
          if (this.stopped || pending.signal.aborted) ctrl.abort();
          else this.aborts.set(ns, ctrl);
        },
        (e) =>
          isPermissionError(e) ? this.refused(ns, e) : this.scheduleRelist(ns, apiErrorMessage(e)),
      );
  }
}
