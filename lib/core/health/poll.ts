/**
 * The attempt loop of a check: probe, judge, wait `intervalSeconds`, until the check passes, its
 * timeout is reached, or a judgement is fatal. A probe that throws (the API server or the URL not
 * answering) is an attempt that did not pass, with the error as what it saw; only an error marked
 * fatal (a refused permission) ends the loop early. Pure apart from the injected clock and sleep.
 */
import type { Judgement } from "./judge";

export interface CheckResult {
  readonly name: string;
  readonly passed: boolean;
  /** What the last attempt saw (on failure: why it failed, with the time it waited). */
  readonly message: string;
  readonly attempts: number;
  readonly startedAt: number;
  readonly endedAt: number;
}

export interface PollOptions {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly signal?: AbortSignal;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default setTimeout (ends early on abort) */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** An error that waiting cannot fix (e.g. HTTP 403 from the API server): the check fails at once. */
export class FatalProbeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "FatalProbeError";
  }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`;

export async function pollCheck(
  name: string,
  probe: () => Promise<Judgement>,
  o: PollOptions,
): Promise<CheckResult> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? defaultSleep;
  const startedAt = now();
  let attempts = 0;
  let last = "not checked yet";
  for (;;) {
    attempts++;
    let j: Judgement;
    try {
      j = await probe();
    } catch (e) {
      const m = e instanceof Error ? e.message : String(e);
      j = { ok: false, message: m, fatal: e instanceof FatalProbeError };
    }
    last = j.message;
    const t = now();
    if (j.ok) return { name, passed: true, message: j.message, attempts, startedAt, endedAt: t };
    const elapsed = t - startedAt;
    if (j.fatal || elapsed + o.intervalMs > o.timeoutMs || o.signal?.aborted) {
      const why = j.fatal
        ? "failed"
        : o.signal?.aborted
          ? "cancelled"
          : `did not pass within ${secs(o.timeoutMs)}`;
      return {
        name,
        passed: false,
        message: `${why} after ${attempts} attempt(s) in ${secs(elapsed)}: ${last}`,
        attempts,
        startedAt,
        endedAt: t,
      };
    }
    await sleep(o.intervalMs, o.signal);
  }
}
