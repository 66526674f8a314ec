/**
 * drainNode: cordon + evict every pod of a node with kubectl drain's rules and messages, a finite
 * timeout, and progress through callbacks (the engine prints nothing). The order, and where it
 * differs from kubectl: docs/drain.md "Order".
 */
import type { KubeConfig, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { ValidationError, ValidationErrors } from "../errors";
import { assertNodeName, nodeNameProblem } from "../names";
import {
  type DrainClients,
  apiErrorMessage,
  apiStatusCode,
  isPermissionError,
  makeClients,
  readableApiError,
} from "./client";
import {
  type CordonResult,
  type UncordonOptions,
  type UncordonResult,
  cordonNode,
  recordTaintTime,
  uncordonNode,
} from "./cordon";
import {
  DrainBlockedError,
  DrainEvictionError,
  DrainFilterError,
  DrainTimeoutError,
  type PendingPod,
} from "./errors";
import { budgetsThatNeverAllow, neverAllowsLine, replacementsPending } from "./blocked";
import { BudgetWatch } from "./budget-watch";
import { type EvictOutcome, blockingPdbs, deletePod, evictPod, pdbsCoveringPod } from "./evict";
import {
  type DaemonSetLookup,
  type FilterOptions,
  type PodDeleteList,
  daemonSetOf,
  filterPods,
  makeFilters,
  podKey,
} from "./filters";
import {
  type PdbBlock,
  deletedMessage,
  evictErrorMessage,
  evictingMessage,
  multiplePdbMessage,
  pdbListErrorMessage,
  pdbRetryMessage,
  podSkipMessage,
  terminatingNamespaceMessage,
} from "./messages";
import { type RetryOptions, backoffDelay, sleep, withTransientRetry } from "./retry";
import { PodDeletionTracker, PodWatchRefusedError } from "./wait";

export const DEFAULT_DRAIN_TIMEOUT_SECONDS = 600;
export const DEFAULT_RETRY_INTERVAL_MS = 5000;

export interface PodEvent {
  /** namespace/name */
  readonly pod: string;
  /** false with disableEviction (plain DELETE). */
  readonly usingEviction: boolean;
  /** kubectl-style line, ready to print. */
  readonly message: string;
}

export interface PdbRetryEvent extends PodEvent {
  /** The PodDisruptionBudgets that select the pod, with their status. */
  readonly pdbs: readonly PdbBlock[];
  /** 1 for the first refusal. */
  readonly attempt: number;
  readonly retryInMs: number;
}

export interface DeletedEvent extends PodEvent {
  /** true when the pod was not waited for (skipWaitForDeleteTimeoutSeconds). */
  readonly skipped: boolean;
}

/** Progress callbacks. The engine prints nothing itself. */
export interface DrainProgress {
  readonly onCordoned?: (r: CordonResult) => void;
  readonly onEvicting?: (e: PodEvent) => void;
  readonly onPdbRetry?: (e: PdbRetryEvent) => void;
  readonly onDeleted?: (e: DeletedEvent) => void;
  readonly onWarning?: (message: string) => void;
}

export interface DrainOptions extends FilterOptions {
  /**
   * Seconds each pod gets to terminate; unset = the pod's terminationGracePeriodSeconds (kubectl
   * --grace-period -1). 0 = immediately.
   */
  readonly gracePeriodSeconds?: number;
  /** Give up after this many seconds (kubectl --timeout; kubectl's default 0 = forever is not allowed). @default 600 */
  readonly timeoutSeconds?: number;
  /** Label selector: only drain matching pods (kubectl --pod-selector). */
  readonly podSelector?: string;
  /** Delete pods instead of evicting them: bypasses PodDisruptionBudgets. Explicit opt-in. @default false */
  readonly disableEviction?: boolean;
  /** Wait between eviction retries after a 429 (PDB) (kubectl: 5 s). @default 5000 */
  readonly retryIntervalMs?: number;
  /** At most this many pods evicted/awaited at once. @default unbounded (kubectl: all at once) */
  readonly concurrency?: number;
  /**
   * Keep retrying a PodDisruptionBudget that can never allow the eviction (blocked.ts) until the
   * timeout, as kubectl does, instead of failing at once with DrainBlockedError. @default false
   */
  readonly waitForBlockedPdbs?: boolean;
}

export interface DrainRunOptions extends DrainOptions, DrainProgress {
  /** Recorded on the node (kube-upkeep.io/cordoned-by) so uncordon only removes our cordon. */
  readonly runId: string;
  /** Cancels the drain (the node stays cordoned). */
  readonly signal?: AbortSignal;
  /** Watch re-list delay after errors (tests). @default 1000 */
  readonly relistDelayMs?: number;
}

export interface DrainResult {
  readonly nodeName: string;
  readonly runId: string;
  readonly cordon: CordonResult;
  /** namespace/name of each pod evicted (or deleted) and gone, in completion order. */
  readonly evictedPods: readonly string[];
  /** Pods left on the node on purpose: DaemonSet pods, mirror pods, long-deleted pods. */
  readonly skippedPods: readonly { readonly pod: string; readonly reason: string }[];
  /** Grouped filter warnings ("ignoring DaemonSet-managed Pods: ns/a"). */
  readonly warnings: readonly string[];
  /** Eviction attempts refused with 429 (PodDisruptionBudget), over all pods. */
  readonly retries: number;
  /** API calls retried after a transient failure (conflict, 5xx, throttling, connection lost). */
  readonly transientRetries: number;
  readonly durationMs: number;
  readonly usingEviction: boolean;
}

/** Throws ValidationErrors listing every bad option. */
export function validateDrainOptions(
  where: string,
  nodeName: string,
  opts: DrainOptions & { runId?: string },
): void {
  const errs: ValidationError[] = [];
  const badName = nodeNameProblem(where, nodeName);
  if (badName) errs.push(badName);
  if (
    "runId" in opts &&
    (typeof opts.runId !== "string" || opts.runId.length === 0 || opts.runId.length > 253)
  ) {
    errs.push(
      new ValidationError(
        where,
        "runId",
        opts.runId,
        "must be a non-empty string of at most 253 characters",
        'pass an id for this maintenance run, e.g. "upgrade-v1.35.4"',
      ),
    );
  }
  const num = (
    field: keyof DrainOptions,
    v: unknown,
    ok: (n: number) => boolean,
    problem: string,
    fix: string,
  ) => {
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v))
      errs.push(new ValidationError(where, field, v, problem, fix));
  };
  num(
    "timeoutSeconds",
    opts.timeoutSeconds,
    (n) => n > 0,
    "must be a positive number of seconds (kubectl's 0 = wait forever is not supported)",
    `give a finite timeout, e.g. ${DEFAULT_DRAIN_TIMEOUT_SECONDS}`,
  );
  num(
    "gracePeriodSeconds",
    opts.gracePeriodSeconds,
    (n) => Number.isInteger(n) && n >= 0,
    "must be an integer >= 0",
    "leave it unset to use each pod's terminationGracePeriodSeconds",
  );
  num(
    "retryIntervalMs",
    opts.retryIntervalMs,
    (n) => n > 0,
    "must be a positive number of milliseconds",
    `use e.g. ${DEFAULT_RETRY_INTERVAL_MS}`,
  );
  num(
    "concurrency",
    opts.concurrency,
    (n) => Number.isInteger(n) && n >= 1,
    "must be an integer >= 1",
    "leave it unset to evict all pods at once",
  );
  num(
    "skipWaitForDeleteTimeoutSeconds",
    opts.skipWaitForDeleteTimeoutSeconds,
    (n) => Number.isInteger(n) && n >= 0,
    "must be an integer >= 0",
    "use 0 to always wait for deleted pods",
  );
  if (opts.podSelector !== undefined && typeof opts.podSelector !== "string") {
    errs.push(
      new ValidationError(
        where,
        "podSelector",
        opts.podSelector,
        "must be a label selector string",
        'write it like kubectl: "app=web,tier!=db"',
      ),
    );
  }
  if (errs.length === 1) throw errs[0];
  if (errs.length > 1) throw new ValidationErrors(errs);
}

/** GET each DaemonSet referenced by a pod's controller (kubectl daemonSetFilter does it per pod). */
async function lookupDaemonSets(
  clients: DrainClients,
  pods: readonly V1Pod[],
  retry: RetryOptions,
): Promise<Map<string, DaemonSetLookup>> {
  const refs = new Set<string>();
  for (const p of pods) {
    const ds = daemonSetOf(p);
    if (ds !== undefined) refs.add(ds);
  }
  const out = new Map<string, DaemonSetLookup>();
  await Promise.all(
    [...refs].map(async (key) => {
      const [namespace, name] = [key.slice(0, key.indexOf("/")), key.slice(key.indexOf("/") + 1)];
      try {
        await withTransientRetry(
          () => clients.apps.readNamespacedDaemonSet({ name, namespace }),
          retry,
        );
        out.set(key, "found");
      } catch (e) {
        out.set(key, apiStatusCode(e) === 404 ? "not-found" : { error: apiErrorMessage(e) });
      }
    }),
  );
  return out;
}

/** The pods of the node, filtered (kubectl GetPodsForDeletion). Nothing is changed. */
export async function podsForDeletion(
  clients: DrainClients,
  nodeName: string,
  opts: DrainOptions = {},
  pods?: readonly V1Pod[],
  /** Transient API failures are retried (retry.ts) within these bounds. */
  retry: RetryOptions = {},
): Promise<PodDeleteList> {
  assertNodeName("podsForDeletion", nodeName);
  const list =
    pods ??
    (
      await withTransientRetry(
        () =>
          clients.core.listPodForAllNamespaces({
            fieldSelector: `spec.nodeName=${nodeName}`,
            labelSelector: opts.podSelector || undefined,
          }),
        retry,
      )
    ).items;
  const daemonSets = await lookupDaemonSets(clients, list, retry);
  return filterPods(list, makeFilters(opts, { daemonSets }), opts);
}

/** Runs async tasks with at most `limit` at a time. */
async function runBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/** At most `size` holders at a time; waiters are served in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/**
 * Eviction requests in flight per budget. Each accepted eviction rewrites the budget's status,
 * and so does the disruption controller: concurrent requests conflict, and the eviction API
 * retries a conflict only after 500 ms (EvictionsRetry). Measured on the 110-pod P1b case (one
 * budget, maxUnavailable 10; 2 cores, load 6-12, alternating): 1 in flight 43 s (serial latency
 * 300 ms), 2: 33 s, 3: 27-39 s, 10: 34-51 s (p50 request 1.3-2.5 s).
 */
const MAX_EVICTIONS_PER_BUDGET = 3;

/**
 * One Slots per PodDisruptionBudget covering pods to evict, sized by what it allows now, at most
 * MAX_EVICTIONS_PER_BUDGET: eviction requests for pods of one budget beyond that cannot all be
 * accepted anyway and only race on its status.
 */
async function budgetSlots(
  clients: DrainClients,
  pods: readonly V1Pod[],
  retry: RetryOptions,
): Promise<(pod: V1Pod) => Slots[]> {
  const byNs = new Map<string, V1PodDisruptionBudget[]>();
  for (const ns of new Set(pods.map((p) => p.metadata?.namespace ?? ""))) {
    try {
      const l = await withTransientRetry(
        () => clients.policy.listNamespacedPodDisruptionBudget({ namespace: ns }),
        retry,
      );
      byNs.set(ns, l.items);
    } catch (e) {
      // a refusal (401/403) surfaces, naming the permission; anything else: no limit then
      // (the evictions still honour the budgets)
      if (isPermissionError(e)) throw e;
      byNs.set(ns, []);
    }
  }
  const slots = new Map<string, Slots>();
  const slotOf = (b: V1PodDisruptionBudget): Slots => {
    const key = `${b.metadata?.namespace}/${b.metadata?.name}`;
    let s = slots.get(key);
    if (!s) {
      s = new Slots(
        Math.min(MAX_EVICTIONS_PER_BUDGET, Math.max(1, b.status?.disruptionsAllowed ?? 1)),
      );
      slots.set(key, s);
    }
    return s;
  };
  const byName = (a: V1PodDisruptionBudget, b: V1PodDisruptionBudget) =>
    (a.metadata?.name ?? "").localeCompare(b.metadata?.name ?? "");
  // sorted by name (one namespace), so every pod takes its budgets' slots in the same order
  return (pod) =>
    pdbsCoveringPod(byNs.get(pod.metadata?.namespace ?? "") ?? [], pod)
      .sort(byName)
      .map(slotOf);
}

/** Runs fn holding every one of the slots (taken in a fixed order, so holders cannot deadlock). */
function holding<T>(slots: readonly Slots[], fn: () => Promise<T>): Promise<T> {
  return slots.reduceRight<() => Promise<T>>((inner, s) => () => s.run(inner), fn)();
}

class TimedOut extends Error {}
class Blocked extends Error {}
/** The pod watch was refused (401/403): the message is the PodWatchRefusedError's. */
class WatchRefused extends Error {}

/**
 * The PodDisruptionBudgets covering `pods` that can never allow their eviction, one line each.
 * Budgets are read per namespace of the pods, with every pod of that namespace.
 */
async function neverAllowing(
  clients: DrainClients,
  nodeName: string,
  pods: readonly V1Pod[],
  retry: RetryOptions,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const namespaces = [...new Set(pods.map((p) => p.metadata?.namespace ?? ""))];
  for (const namespace of namespaces) {
    const [pdbs, nsPods] = await Promise.all([
      withTransientRetry(
        () => clients.policy.listNamespacedPodDisruptionBudget({ namespace }),
        retry,
      ),
      withTransientRetry(() => clients.core.listNamespacedPod({ namespace }), retry),
    ]);
    const relevant = pdbs.items.filter((b) => pods.some((p) => pdbsCoveringPod([b], p).length > 0));
    const replicas = async (kind: string, name: string): Promise<number | undefined> => {
      if (kind === "ReplicaSet")
        return (await clients.apps.readNamespacedReplicaSet({ name, namespace })).spec?.replicas;
      if (kind === "StatefulSet")
        return (await clients.apps.readNamespacedStatefulSet({ name, namespace })).spec?.replicas;
      return undefined;
    };
    for (const v of budgetsThatNeverAllow(relevant, nsPods.items, nodeName)) {
      // a replacement of a pod evicted a moment ago (here or by another drain) may still come
      if (await replacementsPending(v, replicas)) continue;
      out.set(v.pdb.name, neverAllowsLine(v));
    }
  }
  return out;
}

/** "evicting pod ns/x: conflict (...); retrying in 0.4s" */
function transientRetryMessage(
  what: string,
  reason: string,
  delayMs: number,
  error: unknown,
): string {
  const detail = typeof error === "string" ? error : apiErrorMessage(error);
  return `${what}: ${reason} (${detail}); retrying in ${(delayMs / 1000).toFixed(1)}s`;
}

/**
 * Cordon the node and evict (or delete) its pods. See the file comment for the order and the
 * state the node is left in on each failure.
 */
export async function drainNode(
  kc: KubeConfig | DrainClients,
  nodeName: string,
  opts: DrainRunOptions,
): Promise<DrainResult> {
  const started = Date.now();
  validateDrainOptions("drainNode", nodeName, { ...opts, runId: opts.runId });
  const clients = "core" in kc ? kc : makeClients(kc);
  const usingEviction = !opts.disableEviction;
  const timeoutMs = (opts.timeoutSeconds ?? DEFAULT_DRAIN_TIMEOUT_SECONDS) * 1000;
  const retryIntervalMs = opts.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS;
  // The timeout covers the whole drain, so transient failures are retried at most until then.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new TimedOut("timeout")), timeoutMs);
  const onOuterAbort = () => deadline.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  let transientRetries = 0;
  const retry: RetryOptions = {
    signal: deadline.signal,
    budgetMs: timeoutMs,
    onRetry: ({ reason, delayMs, error }) => {
      transientRetries++;
      opts.onWarning?.(transientRetryMessage(`node/${nodeName}`, reason, delayMs, error));
    },
  };
  let tracker: PodDeletionTracker | undefined;
  let budgetWatch: BudgetWatch | undefined;
  try {
    // 2. check before touching anything
    const node = await withTransientRetry(
      () => clients.core.readNode({ name: nodeName }),
      retry,
    ).catch((e: unknown) => {
      if (apiStatusCode(e) === 404)
        throw new Error(`drainNode: node ${JSON.stringify(nodeName)} not found`);
      throw e;
    });
    const preflight = await podsForDeletion(clients, nodeName, opts, undefined, retry);
    if (preflight.errors.length > 0) {
      throw new DrainFilterError(nodeName, node.spec?.unschedulable === true, preflight.errors);
    }
    const checkBlocked = usingEviction && !opts.waitForBlockedPdbs;
    if (checkBlocked && preflight.pods.length > 0) {
      const never = await neverAllowing(clients, nodeName, preflight.pods, retry);
      if (never.size > 0) {
        throw new DrainBlockedError(nodeName, node.spec?.unschedulable === true, [
          ...never.values(),
        ]);
      }
    }

    // 3. cordon, watch, list + filter again
    const cordon = await cordonNode(clients.core, nodeName, {
      runId: opts.runId,
      transientRetry: { budgetMs: timeoutMs },
      signal: deadline.signal,
      onTransientRetry: (m) => {
        transientRetries++;
        opts.onWarning?.(m);
      },
    });
    opts.onCordoned?.(cordon);
    const podTracker = new PodDeletionTracker(clients, nodeName, {
      podSelector: opts.podSelector,
      relistDelayMs: opts.relistDelayMs,
      onWarning: opts.onWarning,
      // the API refused the watch (or its re-list): waiting on cannot end well, stop now
      onFailure: (e) => deadline.abort(new WatchRefused(e.message)),
    });
    tracker = podTracker;
    const onNode = await withTransientRetry(() => podTracker.start(), retry).catch((e: unknown) => {
      if (e instanceof PodWatchRefusedError)
        throw new DrainEvictionError(nodeName, [e.message], []);
      throw e;
    });
    const list = await podsForDeletion(clients, nodeName, opts, onNode, retry);
    if (list.errors.length > 0) {
      let cordoned = true;
      if (cordon.cordonedByUs && !cordon.alreadyCordoned) {
        await uncordonNode(clients.core, nodeName, { runId: opts.runId });
        cordoned = false;
      }
      throw new DrainFilterError(nodeName, cordoned, list.errors);
    }
    for (const w of list.warnings) opts.onWarning?.(w);

    // 4. evict everything
    const evicted: string[] = [];
    const skipped = [...list.skipped];
    const failures: string[] = [];
    const pending = new Map<string, PendingPod>();
    let retries = 0;
    for (const p of list.pods)
      pending.set(podKey(p), { pod: podKey(p), state: "not-started", blockedBy: [] });
    const signal = deadline.signal;
    const slotsFor = usingEviction
      ? await budgetSlots(clients, list.pods, retry)
      : () => [] as Slots[];
    // a refused eviction is retried as soon as its budget allows one (watched from the first
    // refusal in a namespace on), at the latest after retryIntervalMs (budget-watch.ts)
    const budgets = new BudgetWatch(clients, {
      relistDelayMs: opts.relistDelayMs,
      onWarning: opts.onWarning,
    });
    budgetWatch = budgets;
    /** The pod is gone: evicted (or deleted), reported once. */
    const deleted = (key: string) => {
      pending.delete(key);
      evicted.push(key);
      opts.onDeleted?.({
        pod: key,
        usingEviction,
        skipped: false,
        message: deletedMessage(key, usingEviction),
      });
    };

    // A budget judged "never" on two checks at least retryIntervalMs apart ends the drain (the
    // status may lag an eviction of ours by a moment). One check per namespace per interval.
    const blocked = new Map<string, string>();
    const lastCheck = new Map<string, number>();
    const neverCount = new Map<string, number>();
    const judgedNever = async (p: V1Pod): Promise<boolean> => {
      const ns = p.metadata?.namespace ?? "";
      const last = lastCheck.get(ns);
      if (last === undefined || Date.now() - last >= retryIntervalMs) {
        lastCheck.set(ns, Date.now());
        const never = await neverAllowing(clients, nodeName, [p], retry).catch(
          () => new Map<string, string>(),
        );
        for (const name of [...neverCount.keys()]) if (!never.has(name)) neverCount.delete(name);
        for (const [name, line] of never) {
          const n = (neverCount.get(name) ?? 0) + 1;
          neverCount.set(name, n);
          if (n >= 2) blocked.set(name, line);
        }
      }
      if (blocked.size > 0) {
        deadline.abort(new Blocked("blocked"));
        return true;
      }
      return false;
    };

    const one = async (pod: V1Pod): Promise<void> => {
      const key = podKey(pod);
      if (signal.aborted) return;
      let active = pod;
      let attempt = 0;
      let transientAttempt = 0;
      pending.set(key, { pod: key, state: "evicting", blockedBy: [] });
      opts.onEvicting?.({ pod: key, usingEviction, message: evictingMessage(key, usingEviction) });
      for (;;) {
        if (signal.aborted) return;
        const target = active;
        let sentAt = performance.now();
        const outcome: EvictOutcome = usingEviction
          ? await holding(slotsFor(target), () => {
              sentAt = performance.now();
              return evictPod(clients, target, opts.gracePeriodSeconds);
            })
          : await deletePod(clients, active, opts.gracePeriodSeconds);
        if (outcome.kind === "evicted") break;
        if (outcome.kind === "gone") {
          deleted(key);
          return;
        }
        if (outcome.kind === "transient") {
          transientAttempt++;
          transientRetries++;
          const delayMs = backoffDelay(transientAttempt);
          const lastError = `${outcome.reason}: ${outcome.message}`;
          pending.set(key, { pod: key, state: "evicting", blockedBy: [], lastError });
          opts.onWarning?.(
            transientRetryMessage(
              `${usingEviction ? "evicting" : "deleting"} pod ${key}`,
              outcome.reason,
              delayMs,
              outcome.message,
            ),
          );
          await sleep(delayMs, signal);
        } else if (outcome.kind === "pdb") {
          transientAttempt = 0;
          attempt++;
          retries++;
          let pdbs: PdbBlock[];
          try {
            pdbs = await blockingPdbs(clients, active, retry);
          } catch (e) {
            // e.g. 403: the identity may not list the budgets; the drain says so and stops here
            if (signal.aborted) return;
            pending.delete(key);
            const forbidden = isPermissionError(e);
            failures.push(
              pdbListErrorMessage(key, outcome.message, (e as Error).message, forbidden),
            );
            return;
          }
          pending.set(key, { pod: key, state: "evicting", blockedBy: pdbs });
          if (checkBlocked && (await judgedNever(active))) return;
          opts.onPdbRetry?.({
            pod: key,
            usingEviction,
            pdbs,
            attempt,
            retryInMs: retryIntervalMs,
            message: pdbRetryMessage(key, pdbs, retryIntervalMs, outcome.message, true),
          });
          await budgets.watch([active.metadata?.namespace ?? ""]);
          await budgets.waitForAllowance(
            pdbs.map((b) => b.name),
            sentAt,
            retryIntervalMs,
            signal,
          );
        } else if (outcome.kind === "namespace-terminating") {
          // kubectl: a pod already being deleted in a terminating namespace just needs waiting for
          if (active.metadata?.deletionTimestamp) break;
          opts.onWarning?.(terminatingNamespaceMessage(key, retryIntervalMs, outcome.message));
          await sleep(retryIntervalMs, signal);
        } else if (outcome.kind === "multiple-pdbs") {
          pending.delete(key);
          try {
            failures.push(
              multiplePdbMessage(key, await blockingPdbs(clients, active, retry), outcome.message),
            );
          } catch (e) {
            failures.push(multiplePdbMessage(key, [], outcome.message), (e as Error).message);
          }
          return;
        } else {
          pending.delete(key);
          failures.push(evictErrorMessage(key, outcome.message, usingEviction));
          return;
        }
        if (signal.aborted) return;
        // kubectl refreshes the pod before retrying; a pod of another UID means ours is gone
        if (!podTracker.isPresent(active.metadata?.uid ?? "")) {
          deleted(key);
          return;
        }
        active = podTracker.current(active.metadata?.uid ?? "") ?? active;
      }
      pending.set(key, { pod: key, state: "terminating", blockedBy: [] });
      try {
        const how = await podTracker.waitGone(
          active,
          signal,
          opts.skipWaitForDeleteTimeoutSeconds ?? 0,
        );
        pending.delete(key);
        if (how === "skipped") {
          const msg = podSkipMessage(
            active.metadata?.name ?? "",
            opts.skipWaitForDeleteTimeoutSeconds ?? 0,
          );
          skipped.push({ pod: key, reason: msg });
          opts.onWarning?.(msg);
          opts.onDeleted?.({ pod: key, usingEviction, skipped: true, message: msg });
        } else {
          deleted(key);
        }
      } catch {
        // aborted: stays pending
      }
    };

    await runBounded(list.pods, opts.concurrency ?? Math.max(1, list.pods.length), one);

    if (deadline.signal.aborted) {
      if (deadline.signal.reason instanceof WatchRefused) {
        throw new DrainEvictionError(
          nodeName,
          [deadline.signal.reason.message, ...failures],
          evicted,
        );
      }
      if (deadline.signal.reason instanceof Blocked) {
        throw new DrainBlockedError(nodeName, true, [...blocked.values()], evicted);
      }
      if (deadline.signal.reason instanceof TimedOut) {
        throw new DrainTimeoutError(nodeName, timeoutMs, [...pending.values()], evicted);
      }
      throw new DrainEvictionError(nodeName, ["drain cancelled", ...failures], evicted);
    }
    if (failures.length > 0) throw new DrainEvictionError(nodeName, failures, evicted);
    if (cordon.cordonedByUs) await recordTaintTime(clients.core, nodeName, opts.runId, 2000);
    return {
      nodeName,
      runId: opts.runId,
      cordon,
      evictedPods: evicted,
      skippedPods: skipped,
      warnings: list.warnings,
      retries,
      transientRetries,
      durationMs: Date.now() - started,
      usingEviction,
    };
  } catch (e) {
    throw readableApiError(`drainNode ${nodeName}`, e);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onOuterAbort);
    tracker?.stop();
    budgetWatch?.stop();
  }
}

/** Cordon a node, recording runId (see cordon.ts). */
export async function cordon(
  kc: KubeConfig | DrainClients,
  nodeName: string,
  runId: string,
): Promise<CordonResult> {
  const clients = "core" in kc ? kc : makeClients(kc);
  return cordonNode(clients.core, nodeName, { runId });
}

/** Uncordon a node only if kube-upkeep cordoned it (see cordon.ts). */
export async function uncordon(
  kc: KubeConfig | DrainClients,
  nodeName: string,
  opts: UncordonOptions = {},
): Promise<UncordonResult> {
  const clients = "core" in kc ? kc : makeClients(kc);
  return uncordonNode(clients.core, nodeName, opts);
}
