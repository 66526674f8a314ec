/**
 * The records of a roll report: one JSON object per line of `<run dir>/events.jsonl`, appended as
 * things happen by the program (`run-started`, `run-ended`) and by the steps' dynamic providers
 * (NodeDrain, NodeReadyWait, NodeUncordon: their start, their drain events, their end or failure),
 * each with its own timestamp (`t`, ms since the epoch, taken where it happened). The report is
 * built from these alone (model.ts), never from log output.
 *
 * The upgrade command (a remote.Command) writes nothing: its start is its drain's end (the engine
 * starts it as soon as the drain is done) and its end is the start of the ready wait that depends
 * on it; see model.ts.
 */
import type { NodeRole, PlanAction } from "../plan";

/** The steps that record themselves. */
export type ReportStep = "drain" | "ready" | "uncordon";

export const REPORT_STEPS: readonly ReportStep[] = ["drain", "ready", "uncordon"];

/** A node of the plan, as the report shows it (plan order). */
export interface ReportPlanNode {
  readonly name: string;
  readonly role: NodeRole;
  /** Its kubelet version before the roll. */
  readonly from?: string;
  readonly action: Exclude<PlanAction, "etcd-snapshot">;
  /** Worker chain (0-based). */
  readonly chain?: number;
}

export interface ReportRunStartedEvent {
  readonly type: "run-started";
  readonly t: number;
  /** The ClusterUpgrade's name. */
  readonly component: string;
  readonly project?: string;
  readonly stack?: string;
  /** The cordon run id ("<runId>@<target>"). */
  readonly runId: string;
  readonly controlPlaneVersion: string;
  readonly targetVersion: string;
  readonly maxUnavailable: number;
  readonly failurePolicy: string;
  /** Whether the pre-upgrade etcd snapshot is part of the plan. */
  readonly etcdSnapshot: boolean;
  readonly nodes: readonly ReportPlanNode[];
}

export interface ReportRunEndedEvent {
  readonly type: "run-ended";
  readonly t: number;
}

export interface ReportStepStartedEvent {
  readonly type: "step-started";
  readonly t: number;
  readonly node: string;
  readonly step: ReportStep;
}

export interface ReportStepFinishedEvent {
  readonly type: "step-finished";
  readonly t: number;
  readonly node: string;
  readonly step: ReportStep;
  /** What the step reports (drain: evicted, retries; ready: kubeletVersion; uncordon: outcome). */
  readonly details?: Readonly<Record<string, string | number | boolean>>;
}

export interface ReportStepFailedEvent {
  readonly type: "step-failed";
  readonly t: number;
  readonly node: string;
  readonly step: ReportStep;
  /** The error message, as the step threw it. */
  readonly error: string;
}

export interface ReportCordonedEvent {
  readonly type: "cordoned";
  readonly t: number;
  readonly node: string;
  /** false: an administrator had cordoned the node before. */
  readonly cordonedByUs: boolean;
}

export interface ReportEvictingEvent {
  readonly type: "evicting";
  readonly t: number;
  readonly node: string;
  /** namespace/name */
  readonly pod: string;
}

export interface ReportPdbRetryEvent {
  readonly type: "pdb-retry";
  readonly t: number;
  readonly node: string;
  readonly pod: string;
  /** 1 for the first refusal of this pod. */
  readonly attempt: number;
  /** Names of the PodDisruptionBudgets that refused. */
  readonly pdbs: readonly string[];
}

export interface ReportEvictedEvent {
  readonly type: "evicted";
  readonly t: number;
  readonly node: string;
  readonly pod: string;
  /** Not waited for (skipWaitForDeleteTimeoutSeconds). */
  readonly skipped?: boolean;
}

/**
 * A health gate of the live-roll issue (not recorded yet: the slot the model and the renderer
 * already handle, so that gates only need to write these).
 */
export interface ReportHealthGateEvent {
  readonly type: "health-gate";
  readonly t: number;
  readonly node: string;
  readonly gate: string;
  readonly startedAt: number;
  readonly passed: boolean;
  readonly message?: string;
}

/**
 * Written by the program when one of the roll's resources resolved (its create or update
 * succeeded, or it was unchanged): the only record of the upgrade command's and the etcd
 * snapshot's success, which run in remote.Command and record nothing themselves. A resource that
 * never resolved by `run-ended` failed, or never started.
 */
export interface ReportResolvedEvent {
  readonly type: "resolved";
  readonly t: number;
  /** Absent for the etcd snapshot. */
  readonly node?: string;
  readonly step: ReportStep | "upgrade" | "snapshot";
}

export type ReportEvent =
  | ReportRunStartedEvent
  | ReportRunEndedEvent
  | ReportStepStartedEvent
  | ReportStepFinishedEvent
  | ReportStepFailedEvent
  | ReportCordonedEvent
  | ReportEvictingEvent
  | ReportPdbRetryEvent
  | ReportEvictedEvent
  | ReportHealthGateEvent
  | ReportResolvedEvent;

const TYPES = new Set<string>([
  "run-started",
  "run-ended",
  "step-started",
  "step-finished",
  "step-failed",
  "cordoned",
  "evicting",
  "pdb-retry",
  "evicted",
  "health-gate",
  "resolved",
]);

/** One record as the line written to events.jsonl (no newline inside). */
export function formatEventLine(e: ReportEvent): string {
  return `${JSON.stringify(e)}\n`;
}

/**
 * The records of an events.jsonl text, in file order. Lines that are not a record (a line torn by
 * a process killed while writing it, a record of an unknown type) are skipped and counted.
 */
export function parseEvents(text: string): { events: ReportEvent[]; skippedLines: number } {
  const events: ReportEvent[] = [];
  let skippedLines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const v = JSON.parse(line) as { type?: unknown; t?: unknown };
      if (
        typeof v === "object" &&
        v !== null &&
        TYPES.has(String(v.type)) &&
        typeof v.t === "number"
      )
        events.push(v as ReportEvent);
      else skippedLines++;
    } catch {
      skippedLines++;
    }
  }
  return { events, skippedLines };
}
