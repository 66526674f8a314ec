/**
 * Which API failures are worth retrying, and a bounded exponential backoff for them. Retried:
 * network errors (the apiserver restarting: refused, reset, closed sockets), 5xx answers, 409
 * conflicts (a concurrent update; the eviction subresource answers 409 when concurrent evictions
 * race on the PodDisruptionBudget's status), and 429s that do not come from a
 * PodDisruptionBudget (API priority and fairness). A PDB's 429 is not transient in this sense:
 * the drain engine retries it on its own interval and names the budget.
 */
import { apiStatus, apiStatusCode } from "./client";

/** policyv1.DisruptionBudgetCause, the cause the eviction API puts on a PDB refusal. */
export const DISRUPTION_BUDGET_CAUSE = "DisruptionBudget";

/** Errno-style codes of a connection that failed or dropped (Node net / undici). */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** The errno-style code of the error or one of its causes (undici wraps it: "fetch failed"). */
export function networkErrorCode(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && typeof cur === "object" && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return code;
    // a restarting apiserver closes its HTTP/2 connections with GOAWAY; undici fails the
    // requests in flight with an InformationalError (UND_ERR_INFO) saying so
    const message = (cur as { message?: unknown }).message;
    if (typeof message === "string" && /HTTP\/2: "GOAWAY" frame received/.test(message))
      return "GOAWAY";
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Whether a 429 is a PodDisruptionBudget refusal (cause DisruptionBudget, or its message). */
export function isPdbRefusal(e: unknown): boolean {
  if (apiStatusCode(e) !== 429) return false;
  const status = apiStatus(e);
  if ((status?.details?.causes ?? []).some((c) => c.reason === DISRUPTION_BUDGET_CAUSE)) {
    return true;
  }
  return /disruption budget/i.test(status?.message ?? "");
}

/**
 * Why the failure is worth another try ("conflict", "server error", "throttled", "network"), or
 * undefined when it is not. 500 "more than one PodDisruptionBudget" is permanent.
 */
export function transientReason(e: unknown): string | undefined {
  const code = apiStatusCode(e);
  if (code === undefined) return networkErrorCode(e) ? "network" : undefined;
  if (code === 409) return "conflict";
  if (code === 429) return isPdbRefusal(e) ? undefined : "throttled";
  if (code >= 500) {
    const message = apiStatus(e)?.message ?? "";
    return /more than one PodDisruptionBudget/i.test(message) ? undefined : "server error";
  }
  return undefined;
}

export interface Backoff {
  /** First delay. @default 200 */
  readonly initialMs?: number;
  /** Longest delay. @default 5000 */
  readonly maxMs?: number;
  /** Give up once this much time has passed since the first failure. @default 120000 */
  readonly budgetMs?: number;
}

export const DEFAULT_TRANSIENT_BUDGET_MS = 120_000;

/** How long 401/403 answers are retried after the API server was unreachable or answered 5xx. */
export const RESTARTED_SERVER_DENIAL_MS = 30_000;

/** Delay before retry `attempt` (1-based): doubling from initialMs up to maxMs, with +-20% jitter. */
export function backoffDelay(attempt: number, b: Backoff = {}): number {
  const base = Math.min(b.maxMs ?? 5000, (b.initialMs ?? 200) * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export interface RetryOptions extends Backoff {
  /** Stops retrying (the last error is thrown). */
  readonly signal?: AbortSignal;
  /** Told before each retry. */
  readonly onRetry?: (info: {
    readonly attempt: number;
    readonly reason: string;
    readonly delayMs: number;
    readonly error: unknown;
  }) => void;
  /** Which errors to retry. @default transientReason */
  readonly classify?: (e: unknown) => string | undefined;
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Runs fn, retrying transient failures with backoff until the budget is spent or the signal aborts. */
export async function withTransientRetry<T>(
  fn: () => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const classify = opts.classify ?? transientReason;
  const budgetMs = opts.budgetMs ?? DEFAULT_TRANSIENT_BUDGET_MS;
  let firstFailure: number | undefined;
  // An API server that was just down (a kubeadm upgrade restarts it) can answer 401/403 until its
  // authorizer has synced: after a network error or 5xx, such answers are retried for a while.
  let serverWasDown = false;
  let firstDenial: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      let reason = classify(e);
      const code = apiStatusCode(e);
      if (reason === "network" || reason === "server error") serverWasDown = true;
      else if (reason === undefined && serverWasDown && (code === 401 || code === 403)) {
        firstDenial ??= Date.now();
        if (Date.now() - firstDenial < RESTARTED_SERVER_DENIAL_MS)
          reason = "denied by an API server that just came back";
      }
      firstFailure ??= Date.now();
      const delayMs = backoffDelay(attempt, opts);
      if (
        reason === undefined ||
        opts.signal?.aborted ||
        Date.now() - firstFailure + delayMs > budgetMs
      ) {
        throw e;
      }
      opts.onRetry?.({ attempt, reason, delayMs, error: e });
      await sleep(delayMs, opts.signal);
      if (opts.signal?.aborted) throw e;
    }
  }
}
