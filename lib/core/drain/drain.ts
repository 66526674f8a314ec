/**
 * drainNode: cordon + evict every pod of a node with kubectl drain's rules and messages, a finite
 * timeout, and progress through callbacks (the engine prints nothing). The order, and where it
 * differs from kubectl: docs/drain.md "Order".
 */
import type { KubeConfig, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { DEFAULT_NODE_STEP_TIMEOUT_SECONDS } from "../defaults";
import { ProblemCollector, ValidationError } from "../errors";
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

export const DEFAULT_DRAIN_TIMEOUT_SECONDS = DEFAULT_NODE_STEP_TIMEOUT_SECONDS;
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

/** Every bad option at once: one is thrown as the ValidationError itself, several as ValidationErrors. */
export function validateDrainOptions(
  where: string,
  nodeName: string,
  opts: DrainOptions & { runId?: string },
): void {
  const problems = new ProblemCollector();
  const badName = nodeNameProblem(where, nodeName);
  if (badName) problems.add(badName);
  if (
    "runId" in opts &&
    (typeof opts.runId !== "string" || opts.runId.length === 0 || opts.runId.length > 253)
  ) {
    problems.add(
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
      problems.add(new ValidationError(where, field, v, problem, fix));
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
    problems.add(
      new ValidationError(
        where,
        "podSelector",
        opts.podSelector,
        "must be a label selector string",
        'write it like kubectl: "app=web,tier!=db"',
      ),
    );
  }
  problems.throwOneOrAll();
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

/** What every phase of one drain shares: its options, its deadline, its retry bounds. */
interface DrainContext {
  readonly clients: DrainClients;
  readonly nodeName: string;
  readonly opts: DrainRunOptions;
  readonly usingEviction: boolean;
  readonly timeoutMs: number;
  readonly retryIntervalMs: number;
  /** Aborted at the timeout, by the caller's signal, a refused pod watch or a blocking budget. */
  readonly deadline: AbortController;
  /** Transient API failures outside the evictions are retried within these bounds. */
  readonly retry: RetryOptions;
  /** Transient retries outside the evictions (the lists, the cordon). */
  transientRetries: number;
  /** Run when the drain ends, however it ends. */
  readonly cleanups: (() => void)[];
}

/** How one pod's eviction ended. */
type PodEnd =
  | { readonly kind: "gone" }
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "failed"; readonly messages: readonly string[] }
  /** The drain was aborted first: where the pod stood. */
  | { readonly kind: "unfinished"; readonly state: PendingPod };

interface PodOutcome {
  readonly pod: string;
  readonly end: PodEnd;
  /** Eviction attempts refused with 429. */
  readonly pdbRetries: number;
  readonly transientRetries: number;
}

/** The node's pods after the cordon, and the watch that tells when each is gone. */
interface Cordoned {
  readonly cordon: CordonResult;
  readonly tracker: PodDeletionTracker;
  readonly list: PodDeleteList;
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
  const ctx = drainContext("core" in kc ? kc : makeClients(kc), nodeName, opts);
  try {
    await preflight(ctx);
    const cordoned = await cordonAndRecheck(ctx);
    const outcomes = await evictUntilGone(ctx, cordoned);
    return await drainResult(ctx, cordoned, outcomes, started);
  } catch (e) {
    throw readableApiError(`drainNode ${nodeName}`, e);
  } finally {
    for (const cleanup of ctx.cleanups) cleanup();
  }
}

function drainContext(
  clients: DrainClients,
  nodeName: string,
  opts: DrainRunOptions,
): DrainContext {
  const timeoutMs = (opts.timeoutSeconds ?? DEFAULT_DRAIN_TIMEOUT_SECONDS) * 1000;
  // The timeout covers the whole drain, so transient failures are retried at most until then.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new TimedOut("timeout")), timeoutMs);
  const onOuterAbort = () => deadline.abort(opts.signal?.reason);
  opts.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const ctx: DrainContext = {
    clients,
    nodeName,
    opts,
    usingEviction: !opts.disableEviction,
    timeoutMs,
    retryIntervalMs: opts.retryIntervalMs ?? DEFAULT_RETRY_INTERVAL_MS,
    deadline,
    retry: {
      signal: deadline.signal,
      budgetMs: timeoutMs,
      onRetry: ({ reason, delayMs, error }) => {
        ctx.transientRetries++;
        opts.onWarning?.(transientRetryMessage(`node/${nodeName}`, reason, delayMs, error));
      },
    },
    transientRetries: 0,
    cleanups: [
      () => clearTimeout(timer),
      () => opts.signal?.removeEventListener("abort", onOuterAbort),
    ],
  };
  return ctx;
}

/** Step 2: the node exists, no pod fails the filters, no budget can never allow an eviction. */
async function preflight(ctx: DrainContext): Promise<void> {
  const { clients, nodeName, opts, retry } = ctx;
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
  if (checksBlocked(ctx) && preflight.pods.length > 0) {
    const never = await neverAllowing(clients, nodeName, preflight.pods, retry);
    if (never.size > 0) {
      throw new DrainBlockedError(nodeName, node.spec?.unschedulable === true, [...never.values()]);
    }
  }
}

/** Whether a budget that can never allow the eviction ends the drain (not waitForBlockedPdbs). */
function checksBlocked(ctx: DrainContext): boolean {
  return ctx.usingEviction && !ctx.opts.waitForBlockedPdbs;
}

/** Step 3: cordon, watch the node's pods, list and filter again (undoing our cordon on errors). */
async function cordonAndRecheck(ctx: DrainContext): Promise<Cordoned> {
  const { clients, nodeName, opts, retry, deadline } = ctx;
  const cordon = await cordonNode(clients.core, nodeName, {
    runId: opts.runId,
    transientRetry: { budgetMs: ctx.timeoutMs },
    signal: deadline.signal,
    onTransientRetry: (m) => {
      ctx.transientRetries++;
      opts.onWarning?.(m);
    },
  });
  opts.onCordoned?.(cordon);
  const tracker = new PodDeletionTracker(clients, nodeName, {
    podSelector: opts.podSelector,
    relistDelayMs: opts.relistDelayMs,
    onWarning: opts.onWarning,
    // the API refused the watch (or its re-list): waiting on cannot end well, stop now
    onFailure: (e) => deadline.abort(new WatchRefused(e.message)),
  });
  ctx.cleanups.push(() => tracker.stop());
  const onNode = await withTransientRetry(() => tracker.start(), retry).catch((e: unknown) => {
    if (e instanceof PodWatchRefusedError) throw new DrainEvictionError(nodeName, [e.message], []);
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
  return { cordon, tracker, list };
}

/**
 * A budget judged "never" on two checks at least retryIntervalMs apart ends the drain (the
 * status may lag an eviction of ours by a moment). One check per namespace per interval.
 */
class BlockedJudge {
  readonly blocked = new Map<string, string>();
  private readonly lastCheck = new Map<string, number>();
  private readonly neverCount = new Map<string, number>();

  constructor(private readonly ctx: DrainContext) {}

  /** Whether the drain is blocked (and aborted) now, checking `p`'s namespace when it is due. */
  async judgedNever(p: V1Pod): Promise<boolean> {
    const { clients, nodeName, retry, retryIntervalMs } = this.ctx;
    const ns = p.metadata?.namespace ?? "";
    const last = this.lastCheck.get(ns);
    if (last === undefined || Date.now() - last >= retryIntervalMs) {
      this.lastCheck.set(ns, Date.now());
      const never = await neverAllowing(clients, nodeName, [p], retry).catch(
        () => new Map<string, string>(),
      );
      for (const name of [...this.neverCount.keys()])
        if (!never.has(name)) this.neverCount.delete(name);
      for (const [name, line] of never) {
        const n = (this.neverCount.get(name) ?? 0) + 1;
        this.neverCount.set(name, n);
        if (n >= 2) this.blocked.set(name, line);
      }
    }
    if (this.blocked.size > 0) {
      this.ctx.deadline.abort(new Blocked("blocked"));
      return true;
    }
    return false;
  }
}

/** What evicting one pod needs besides the context. */
interface EvictionDeps {
  readonly tracker: PodDeletionTracker;
  readonly slotsFor: (pod: V1Pod) => Slots[];
  readonly budgets: BudgetWatch;
  readonly judge: BlockedJudge;
}

/** Step 4: evict every pod (at most `concurrency` at once); the outcomes in completion order. */
async function evictUntilGone(
  ctx: DrainContext,
  { tracker, list }: Cordoned,
): Promise<{ outcomes: PodOutcome[]; blocked: ReadonlyMap<string, string> }> {
  const { clients, opts } = ctx;
  const slotsFor = ctx.usingEviction
    ? await budgetSlots(clients, list.pods, ctx.retry)
    : () => [] as Slots[];
  // a refused eviction is retried as soon as its budget allows one (watched from the first
  // refusal in a namespace on), at the latest after retryIntervalMs (budget-watch.ts)
  const budgets = new BudgetWatch(clients, {
    relistDelayMs: opts.relistDelayMs,
    onWarning: opts.onWarning,
  });
  ctx.cleanups.push(() => budgets.stop());
  const judge = new BlockedJudge(ctx);
  const deps: EvictionDeps = { tracker, slotsFor, budgets, judge };
  const outcomes: PodOutcome[] = [];
  await runBounded(list.pods, opts.concurrency ?? Math.max(1, list.pods.length), async (pod) => {
    outcomes.push(await evictOneUntilGone(ctx, deps, pod));
  });
  return { outcomes, blocked: judge.blocked };
}

/** One pod's eviction as it goes (this pod's only): where it stands and what it cost. */
interface PodProgress {
  readonly key: string;
  state: PendingPod;
  pdbRetries: number;
  transientRetries: number;
  /** Transient failures in a row (the backoff's attempt). */
  transientAttempt: number;
}

const outcomeOf = (p: PodProgress, end: PodEnd): PodOutcome => ({
  pod: p.key,
  end,
  pdbRetries: p.pdbRetries,
  transientRetries: p.transientRetries,
});

/** Evicts (or deletes) one pod, retrying refusals, and waits until it is gone. */
async function evictOneUntilGone(
  ctx: DrainContext,
  deps: EvictionDeps,
  pod: V1Pod,
): Promise<PodOutcome> {
  const { opts, usingEviction } = ctx;
  const key = podKey(pod);
  const signal = ctx.deadline.signal;
  const p: PodProgress = {
    key,
    state: { pod: key, state: "not-started", blockedBy: [] },
    pdbRetries: 0,
    transientRetries: 0,
    transientAttempt: 0,
  };
  const unfinished = (): PodOutcome => outcomeOf(p, { kind: "unfinished", state: p.state });
  if (signal.aborted) return unfinished();
  let active = pod;
  p.state = { pod: key, state: "evicting", blockedBy: [] };
  opts.onEvicting?.({ pod: key, usingEviction, message: evictingMessage(key, usingEviction) });
  for (;;) {
    if (signal.aborted) return unfinished();
    const target = active;
    let sentAt = performance.now();
    const result: EvictOutcome = usingEviction
      ? await holding(deps.slotsFor(target), () => {
          sentAt = performance.now();
          return evictPod(ctx.clients, target, opts.gracePeriodSeconds);
        })
      : await deletePod(ctx.clients, active, opts.gracePeriodSeconds);
    if (result.kind === "evicted") break;
    if (result.kind === "gone") return outcomeOf(p, gone(ctx, key));
    const next = await refused(ctx, deps, p, active, result, sentAt);
    if (next === "terminating") break;
    if (next !== "retry") return next === "aborted" ? unfinished() : outcomeOf(p, next);
    if (signal.aborted) return unfinished();
    // kubectl refreshes the pod before retrying; a pod of another UID means ours is gone
    if (!deps.tracker.isPresent(active.metadata?.uid ?? "")) return outcomeOf(p, gone(ctx, key));
    active = deps.tracker.current(active.metadata?.uid ?? "") ?? active;
  }
  p.state = { pod: key, state: "terminating", blockedBy: [] };
  const end = await untilGone(ctx, deps, key, active);
  return end === "aborted" ? unfinished() : outcomeOf(p, end);
}

/** The pod is gone: evicted (or deleted), reported once. */
function gone(ctx: DrainContext, key: string): PodEnd {
  ctx.opts.onDeleted?.({
    pod: key,
    usingEviction: ctx.usingEviction,
    skipped: false,
    message: deletedMessage(key, ctx.usingEviction),
  });
  return { kind: "gone" };
}

/**
 * An eviction (or delete) that did not go through: "retry" after the wait its answer calls for,
 * "terminating" for a pod that only needs waiting for, "aborted", or how the pod ends.
 */
async function refused(
  ctx: DrainContext,
  deps: EvictionDeps,
  p: PodProgress,
  active: V1Pod,
  result: Exclude<EvictOutcome, { kind: "evicted" | "gone" }>,
  sentAt: number,
): Promise<PodEnd | "retry" | "terminating" | "aborted"> {
  const { opts, usingEviction, retryIntervalMs } = ctx;
  const signal = ctx.deadline.signal;
  const key = p.key;
  if (result.kind === "transient") {
    p.transientAttempt++;
    p.transientRetries++;
    const delayMs = backoffDelay(p.transientAttempt);
    const lastError = `${result.reason}: ${result.message}`;
    p.state = { pod: key, state: "evicting", blockedBy: [], lastError };
    opts.onWarning?.(
      transientRetryMessage(
        `${usingEviction ? "evicting" : "deleting"} pod ${key}`,
        result.reason,
        delayMs,
        result.message,
      ),
    );
    await sleep(delayMs, signal);
    return "retry";
  }
  if (result.kind === "pdb") return pdbRefused(ctx, deps, p, active, result.message, sentAt);
  if (result.kind === "namespace-terminating") {
    // kubectl: a pod already being deleted in a terminating namespace just needs waiting for
    if (active.metadata?.deletionTimestamp) return "terminating";
    opts.onWarning?.(terminatingNamespaceMessage(key, retryIntervalMs, result.message));
    await sleep(retryIntervalMs, signal);
    return "retry";
  }
  if (result.kind === "multiple-pdbs") {
    try {
      const pdbs = await blockingPdbs(ctx.clients, active, ctx.retry);
      return { kind: "failed", messages: [multiplePdbMessage(key, pdbs, result.message)] };
    } catch (e) {
      const messages = [multiplePdbMessage(key, [], result.message), (e as Error).message];
      return { kind: "failed", messages };
    }
  }
  return { kind: "failed", messages: [evictErrorMessage(key, result.message, usingEviction)] };
}

/** A 429: names the budgets, ends a blocked drain, else waits until a budget allows one. */
async function pdbRefused(
  ctx: DrainContext,
  deps: EvictionDeps,
  p: PodProgress,
  active: V1Pod,
  answer: string,
  sentAt: number,
): Promise<PodEnd | "retry" | "aborted"> {
  const { opts, usingEviction, retryIntervalMs } = ctx;
  const signal = ctx.deadline.signal;
  const key = p.key;
  p.transientAttempt = 0;
  p.pdbRetries++;
  let pdbs: PdbBlock[];
  try {
    pdbs = await blockingPdbs(ctx.clients, active, ctx.retry);
  } catch (e) {
    // e.g. 403: the identity may not list the budgets; the drain says so and stops here
    if (signal.aborted) return "aborted";
    const forbidden = isPermissionError(e);
    return {
      kind: "failed",
      messages: [pdbListErrorMessage(key, answer, (e as Error).message, forbidden)],
    };
  }
  p.state = { pod: key, state: "evicting", blockedBy: pdbs };
  if (checksBlocked(ctx) && (await deps.judge.judgedNever(active))) return "aborted";
  opts.onPdbRetry?.({
    pod: key,
    usingEviction,
    pdbs,
    attempt: p.pdbRetries,
    retryInMs: retryIntervalMs,
    message: pdbRetryMessage(key, pdbs, retryIntervalMs, answer, true),
  });
  await deps.budgets.watch([active.metadata?.namespace ?? ""]);
  await deps.budgets.waitForAllowance(
    pdbs.map((b) => b.name),
    sentAt,
    retryIntervalMs,
    signal,
  );
  return "retry";
}

/** Waits for an evicted pod to be gone, or skips it (skipWaitForDeleteTimeoutSeconds). */
async function untilGone(
  ctx: DrainContext,
  deps: EvictionDeps,
  key: string,
  active: V1Pod,
): Promise<PodEnd | "aborted"> {
  const { opts, usingEviction } = ctx;
  const skipAfter = opts.skipWaitForDeleteTimeoutSeconds ?? 0;
  let how: Awaited<ReturnType<PodDeletionTracker["waitGone"]>>;
  try {
    how = await deps.tracker.waitGone(active, ctx.deadline.signal, skipAfter);
  } catch {
    return "aborted";
  }
  if (how !== "skipped") return gone(ctx, key);
  const reason = podSkipMessage(active.metadata?.name ?? "", skipAfter);
  opts.onWarning?.(reason);
  opts.onDeleted?.({ pod: key, usingEviction, skipped: true, message: reason });
  return { kind: "skipped", reason };
}

/** Step 5: the error the outcomes add up to, or the result. */
async function drainResult(
  ctx: DrainContext,
  { cordon, list }: Cordoned,
  { outcomes, blocked }: { outcomes: PodOutcome[]; blocked: ReadonlyMap<string, string> },
  started: number,
): Promise<DrainResult> {
  const { nodeName, opts } = ctx;
  const evicted = outcomes.filter((o) => o.end.kind === "gone").map((o) => o.pod);
  const failures = outcomes.flatMap((o) => (o.end.kind === "failed" ? o.end.messages : []));
  const reason: unknown = ctx.deadline.signal.aborted ? ctx.deadline.signal.reason : undefined;
  if (ctx.deadline.signal.aborted) {
    if (reason instanceof WatchRefused)
      throw new DrainEvictionError(nodeName, [reason.message, ...failures], evicted);
    if (reason instanceof Blocked)
      throw new DrainBlockedError(nodeName, true, [...blocked.values()], evicted);
    if (reason instanceof TimedOut) {
      // in the order of the list, as the drain started them
      const byPod = new Map(outcomes.map((o) => [o.pod, o.end]));
      const pending = list.pods.flatMap((p) => {
        const end = byPod.get(podKey(p));
        return end?.kind === "unfinished" ? [end.state] : [];
      });
      throw new DrainTimeoutError(nodeName, ctx.timeoutMs, pending, evicted);
    }
    throw new DrainEvictionError(nodeName, ["drain cancelled", ...failures], evicted);
  }
  if (failures.length > 0) throw new DrainEvictionError(nodeName, failures, evicted);
  if (cordon.cordonedByUs) await recordTaintTime(ctx.clients.core, nodeName, opts.runId, 2000);
  const sum = (f: (o: PodOutcome) => number) => outcomes.reduce((n, o) => n + f(o), 0);
  return {
    nodeName,
    runId: opts.runId,
    cordon,
    evictedPods: evicted,
    skippedPods: [
      ...list.skipped,
      ...outcomes.flatMap((o) =>
        o.end.kind === "skipped" ? [{ pod: o.pod, reason: o.end.reason }] : [],
      ),
    ],
    warnings: list.warnings,
    retries: sum((o) => o.pdbRetries),
    transientRetries: ctx.transientRetries + sum((o) => o.transientRetries),
    durationMs: Date.now() - started,
    usingEviction: ctx.usingEviction,
  };
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
