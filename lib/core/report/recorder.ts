/**
 * stepRecorder: how a step (a dynamic provider's create) records itself in the run's report:
 * its start, its own events (the drain's cordon, evictions, PDB retries), its end or its failure,
 * each stamped when it happens; after the start and the end the report files are rewritten.
 *
 * A report must never fail or slow a roll: every write is best effort, the first problem is
 * passed to `warn` once and later ones are dropped. Without a target it records nothing.
 */
import type { DrainProgress } from "../drain/drain";
import type { ReportEvent, ReportStep } from "./events";
import { appendReportEvent, writeRollReport } from "./store";

/** Where a step writes its records: the run directory (store.ts). An input of the dynamic resources. */
export interface StepReportTarget {
  readonly dir: string;
}

/** Record shapes a step adds itself (the recorder stamps `t` and `node`). */
export type StepOwnEvent =
  | { readonly type: "cordoned"; readonly cordonedByUs: boolean }
  | { readonly type: "evicting"; readonly pod: string }
  | {
      readonly type: "pdb-retry";
      readonly pod: string;
      readonly attempt: number;
      readonly pdbs: readonly string[];
    }
  | { readonly type: "evicted"; readonly pod: string; readonly skipped?: boolean };

export interface StepRecorder {
  started(): void;
  event(e: StepOwnEvent): void;
  finished(details?: Readonly<Record<string, string | number | boolean | undefined>>): void;
  failed(error: unknown): void;
}

const NOTHING: StepRecorder = {
  started: () => undefined,
  event: () => undefined,
  finished: () => undefined,
  failed: () => undefined,
};

export function stepRecorder(
  target: StepReportTarget | undefined,
  node: string,
  step: ReportStep,
  warn: (message: string) => void = () => undefined,
): StepRecorder {
  if (!target || typeof target.dir !== "string" || target.dir === "") return NOTHING;
  const dir = target.dir;
  let warned = false;
  const safely = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (warned) return;
      warned = true;
      warn(
        `roll report: could not ${what} in ${dir} (${e instanceof Error ? e.message : String(e)}); the roll goes on without it`,
      );
    }
  };
  const append = (e: ReportEvent) => safely("record", () => appendReportEvent(dir, e));
  const render = () => safely("write the report", () => void writeRollReport(dir));
  return {
    started() {
      append({ type: "step-started", t: Date.now(), node, step });
      render();
    },
    event(e) {
      append({ ...e, t: Date.now(), node } as ReportEvent);
    },
    finished(details) {
      const clean: Record<string, string | number | boolean> = {};
      for (const [k, v] of Object.entries(details ?? {})) if (v !== undefined) clean[k] = v;
      append({ type: "step-finished", t: Date.now(), node, step, details: clean });
      render();
    },
    failed(error) {
      const message = error instanceof Error ? error.message : String(error);
      append({ type: "step-failed", t: Date.now(), node, step, error: message });
      render();
    },
  };
}

/**
 * The drain's progress callbacks, each also recording its event (the cordon, each eviction, PDB
 * refusal and pod gone) in the report: `drainNode(kc, node, { ...opts, ...recordDrainProgress(rec, progress) })`.
 */
export function recordDrainProgress(rec: StepRecorder, progress: DrainProgress): DrainProgress {
  return {
    ...progress,
    onCordoned: (r) => {
      rec.event({ type: "cordoned", cordonedByUs: r.cordonedByUs });
      progress.onCordoned?.(r);
    },
    onEvicting: (e) => {
      rec.event({ type: "evicting", pod: e.pod });
      progress.onEvicting?.(e);
    },
    onPdbRetry: (e) => {
      rec.event({
        type: "pdb-retry",
        pod: e.pod,
        attempt: e.attempt,
        pdbs: e.pdbs.map((b) => b.name),
      });
      progress.onPdbRetry?.(e);
    },
    onDeleted: (e) => {
      rec.event({ type: "evicted", pod: e.pod, skipped: e.skipped });
      progress.onDeleted?.(e);
    },
  };
}
