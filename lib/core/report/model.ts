/**
 * buildRollReport: the records of one run (events.ts) folded into what the report shows: a
 * header (versions, times, totals, result) and one row per node in plan order with its bars
 * (drain, upgrade command, ready wait, uncordon, health gates), the drain's evictions, and markers
 * (cordon, PodDisruptionBudget retries). Pure: the same records give the same report.
 *
 * The upgrade command records nothing itself (it runs in remote.Command), so its bar is derived:
 *  - start: its drain's end (the engine starts it as soon as the drain is done); when the drain
 *    did not run in this run (a re-run after the command failed), the time the program saw the
 *    drain resolve, marked approximate;
 *  - end: the start of the ready wait that depends on it, else the time the program saw it
 *    resolve;
 *  - never resolved by the end of the run: it failed, or it never started because the roll was
 *    stopping (after a failure the engine starts nothing new). A command whose drain ended after
 *    a recorded failure never started; the first one that did not resolve failed; a later one
 *    may have been either (its bar says so).
 */
import type { NodeRole } from "../plan";
import type { ReportEvent, ReportPlanNode, ReportRunStartedEvent, ReportStep } from "./events";

export const ROLL_REPORT_VERSION = 1;

export type RollResult = "succeeded" | "failed" | "in-progress" | "no-changes";

export type SegmentKind = "snapshot" | "drain" | "upgrade" | "ready" | "uncordon" | "health-gate";

export type SegmentState = "ok" | "failed" | "running";

/** A bar of the timeline. Times are ms since the epoch. */
export interface ReportSegment {
  readonly kind: SegmentKind;
  readonly start: number;
  readonly end: number;
  readonly state: SegmentState;
  readonly label: string;
  /** What went wrong, or what the step reported. */
  readonly detail?: string;
  /** A time that is not the step's own (see the file comment). */
  readonly approximate?: boolean;
  /** Failed, or never started: the records cannot tell which. */
  readonly uncertain?: boolean;
}

export interface ReportEviction {
  /** namespace/name */
  readonly pod: string;
  readonly start: number;
  readonly end: number;
  /** failed: still on the node when its drain failed; skipped: not waited for. */
  readonly state: "ok" | "failed" | "running" | "skipped";
  /** Times of its PodDisruptionBudget refusals (HTTP 429). */
  readonly retries: readonly number[];
}

export interface ReportMarker {
  readonly kind: "cordon" | "pdb-retry";
  readonly t: number;
  readonly label: string;
}

export type NodeStatus =
  "upgraded" | "failed" | "running" | "not-started" | "unchanged" | "skipped" | "waiting";

export interface ReportNodeRow {
  readonly name: string;
  readonly role: NodeRole;
  readonly chain?: number;
  readonly from?: string;
  readonly to: string;
  readonly status: NodeStatus;
  /** One line about the status (why not started, what failed). */
  readonly statusText: string;
  /** In time order. */
  readonly segments: readonly ReportSegment[];
  readonly evictions: readonly ReportEviction[];
  readonly markers: readonly ReportMarker[];
  readonly evicted: number;
  readonly pdbRetries: number;
  readonly kubeletVersion?: string;
}

export interface ReportFailure {
  readonly node?: string;
  /** Absent: the run ended with nodes not done and no step of theirs recorded a failure. */
  readonly step?: SegmentKind;
  readonly message: string;
  readonly uncertain?: boolean;
}

export interface RollReport {
  readonly reportVersion: typeof ROLL_REPORT_VERSION;
  readonly component: string;
  readonly project?: string;
  readonly stack?: string;
  readonly runId: string;
  readonly fromVersion: string;
  readonly targetVersion: string;
  readonly maxUnavailable: number;
  readonly failurePolicy: string;
  readonly startedAt: number;
  /** run-ended, or the last record while the run is going on (or was killed). */
  readonly endedAt: number;
  readonly ended: boolean;
  readonly durationMs: number;
  readonly result: RollResult;
  readonly snapshot?: ReportSegment;
  readonly nodes: readonly ReportNodeRow[];
  readonly totals: {
    readonly nodes: number;
    readonly upgraded: number;
    readonly failed: number;
    readonly evictions: number;
    readonly pdbRetries: number;
    readonly transientRetries: number;
  };
  readonly failures: readonly ReportFailure[];
  /** Lines of events.jsonl that were not records (see parseEvents). */
  readonly skippedLines: number;
}

/** Resource names as ClusterUpgrade gives them, for pointing at the engine's error. */
function resourceName(component: string, node: string | undefined, step: string): string {
  return node === undefined ? `${component}-etcd-snapshot` : `${component}-${node}-${step}`;
}

interface StepTimes {
  started?: number;
  finished?: number;
  failed?: number;
  error?: string;
  details?: Readonly<Record<string, string | number | boolean>>;
}

interface NodeRecords {
  steps: Partial<Record<ReportStep, StepTimes>>;
  resolved: Partial<Record<ReportStep | "upgrade", number>>;
  cordoned?: { t: number; byUs: boolean };
  pods: Map<string, { start: number; end?: number; skipped?: boolean; retries: number[] }>;
  retries: { t: number; pod: string; attempt: number; pdbs: readonly string[] }[];
  gates: ReportSegment[];
}

const STEP_LABEL: Record<SegmentKind, string> = {
  snapshot: "etcd snapshot",
  drain: "cordon + drain",
  upgrade: "upgrade command",
  ready: "Ready at target",
  uncordon: "uncordon",
  "health-gate": "health gate",
};

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The report of one run from its records (file order; the run-started record first). */
export function buildRollReport(events: readonly ReportEvent[], skippedLines = 0): RollReport {
  const started = events.find((e): e is ReportRunStartedEvent => e.type === "run-started");
  if (!started) throw new Error("roll report: no run-started record in the events");
  const ended = events.find((e) => e.type === "run-ended");
  const lastT = Math.max(started.t, ...events.map((e) => e.t));
  const endedAt = ended ? Math.max(ended.t, lastT) : lastT;

  const byNode = new Map<string, NodeRecords>();
  const recordsOf = (node: string): NodeRecords => {
    let r = byNode.get(node);
    if (!r) {
      r = { steps: {}, resolved: {}, pods: new Map(), retries: [], gates: [] };
      byNode.set(node, r);
    }
    return r;
  };
  let snapshotResolved: number | undefined;
  for (const e of events) {
    switch (e.type) {
      case "step-started":
        recordsOf(e.node).steps[e.step] = { ...recordsOf(e.node).steps[e.step], started: e.t };
        break;
      case "step-finished": {
        const s = (recordsOf(e.node).steps[e.step] ??= {});
        s.finished = e.t;
        s.details = e.details;
        break;
      }
      case "step-failed": {
        const s = (recordsOf(e.node).steps[e.step] ??= {});
        s.failed = e.t;
        s.error = e.error;
        break;
      }
      case "cordoned":
        recordsOf(e.node).cordoned = { t: e.t, byUs: e.cordonedByUs };
        break;
      case "evicting": {
        const pods = recordsOf(e.node).pods;
        if (!pods.has(e.pod)) pods.set(e.pod, { start: e.t, retries: [] });
        break;
      }
      case "pdb-retry": {
        const r = recordsOf(e.node);
        r.retries.push({ t: e.t, pod: e.pod, attempt: e.attempt, pdbs: e.pdbs });
        const pod = r.pods.get(e.pod);
        if (pod) pod.retries.push(e.t);
        else r.pods.set(e.pod, { start: e.t, retries: [e.t] });
        break;
      }
      case "evicted": {
        const r = recordsOf(e.node);
        const pod = r.pods.get(e.pod) ?? { start: e.t, retries: [] };
        pod.end = e.t;
        pod.skipped = e.skipped;
        r.pods.set(e.pod, pod);
        break;
      }
      case "health-gate":
        recordsOf(e.node).gates.push({
          kind: "health-gate",
          start: e.startedAt,
          end: e.t,
          state: e.passed ? "ok" : "failed",
          label: `health gate ${e.gate}`,
          detail: e.message,
        });
        break;
      case "resolved":
        if (e.step === "snapshot") snapshotResolved ??= e.t;
        else if (e.node !== undefined) recordsOf(e.node).resolved[e.step] ??= e.t;
        break;
      default:
        break;
    }
  }

  // The earliest recorded failure: after it the engine started nothing new.
  const recordedFailures = [...byNode.values()].flatMap((r) =>
    Object.values(r.steps).flatMap((s) => (s?.failed !== undefined ? [s.failed] : [])),
  );
  let firstFailure = recordedFailures.length > 0 ? Math.min(...recordedFailures) : undefined;
  const failures: ReportFailure[] = [];

  // The etcd snapshot: no dependencies, it starts with the run. It ran in this run when the
  // first node's drain did (both are keyed by the target).
  const planned = started.nodes.filter((n) => n.action !== "skip");
  let snapshot: ReportSegment | undefined;
  if (started.etcdSnapshot) {
    const firstDrain = planned[0] && byNode.get(planned[0].name)?.steps.drain?.started;
    const name = resourceName(started.component, undefined, "snapshot");
    if (snapshotResolved === undefined && ended) {
      snapshot = {
        kind: "snapshot",
        start: started.t,
        end: endedAt,
        state: "failed",
        label: STEP_LABEL.snapshot,
        detail: `did not succeed: its error is pulumi's error for ${name}`,
        approximate: true,
      };
      failures.push({ step: "snapshot", message: snapshot.detail! });
      firstFailure = Math.min(firstFailure ?? Infinity, started.t);
    } else if (snapshotResolved === undefined) {
      snapshot = {
        kind: "snapshot",
        start: started.t,
        end: endedAt,
        state: "running",
        label: STEP_LABEL.snapshot,
        approximate: true,
      };
    } else if (firstDrain !== undefined) {
      snapshot = {
        kind: "snapshot",
        start: started.t,
        end: Math.max(started.t, Math.min(snapshotResolved, firstDrain)),
        state: "ok",
        label: STEP_LABEL.snapshot,
        approximate: true,
      };
    }
  }

  // Upgrade commands that never resolved, in the order they started.
  const unresolvedCommands = started.nodes
    .map((n) => ({ n, r: byNode.get(n.name) }))
    .flatMap(({ n, r }) => {
      if (!r || r.resolved.upgrade !== undefined || r.steps.ready?.started !== undefined) return [];
      const start = r.steps.drain?.finished ?? r.resolved.drain;
      return start === undefined ? [] : [{ node: n.name, start }];
    })
    .sort((a, b) => a.start - b.start);
  const firstUnresolved = unresolvedCommands[0]?.node;

  const rows = started.nodes.map((n): ReportNodeRow => {
    const r = byNode.get(n.name);
    const base = { name: n.name, role: n.role, chain: n.chain, from: n.from };
    const to = started.targetVersion;
    if (n.action === "skip" || !r) {
      const status: NodeStatus =
        n.action === "skip" ? "skipped" : ended ? "not-started" : "waiting";
      return {
        ...base,
        to,
        status,
        statusText:
          status === "skipped"
            ? `already at ${to}`
            : status === "waiting"
              ? "not started yet"
              : firstFailure !== undefined || firstUnresolved !== undefined
                ? "not started: the roll stopped after a failure"
                : "nothing ran",
        segments: [],
        evictions: [],
        markers: [],
        evicted: 0,
        pdbRetries: 0,
      };
    }
    const segments: ReportSegment[] = [];
    const step = (
      kind: ReportStep,
      describe: (s: StepTimes) => string | undefined,
    ): ReportSegment | undefined => {
      const s = r.steps[kind];
      if (s?.started === undefined) return undefined;
      const end = s.finished ?? s.failed ?? endedAt;
      const state: SegmentState =
        s.failed !== undefined
          ? "failed"
          : s.finished !== undefined
            ? "ok"
            : ended
              ? "failed"
              : "running";
      const seg: ReportSegment = {
        kind,
        start: s.started,
        end: Math.max(s.started, end),
        state,
        label: STEP_LABEL[kind],
        detail:
          s.failed !== undefined
            ? s.error
            : s.finished === undefined && ended
              ? "did not finish: the run ended first"
              : describe(s),
      };
      segments.push(seg);
      if (state === "failed")
        failures.push({ node: n.name, step: kind, message: seg.detail ?? "" });
      return seg;
    };

    const drain = step("drain", (s) => {
      const d = s.details ?? {};
      return `${d.evicted ?? 0} pod(s) evicted, ${d.retries ?? 0} PDB retries in ${secs((s.finished ?? 0) - (s.started ?? 0))}`;
    });

    // the upgrade command
    const readyStart = r.steps.ready?.started;
    const commandStart = r.steps.drain?.finished ?? r.resolved.drain;
    // it ran in this run: after this run's drain, before this run's ready wait, or it was still
    // unresolved (a re-run after it failed: the drain resolved unchanged)
    const commandRan =
      r.steps.drain?.finished !== undefined ||
      readyStart !== undefined ||
      (r.resolved.upgrade === undefined && r.resolved.drain !== undefined);
    const upgradeName = resourceName(started.component, n.name, "upgrade");
    let upgradeState: SegmentState | "not-started" | undefined;
    if (commandRan && commandStart !== undefined && (drain === undefined || drain.state === "ok")) {
      const end = readyStart ?? r.resolved.upgrade;
      const approximate = r.steps.drain?.finished === undefined;
      if (end !== undefined) {
        upgradeState = "ok";
        segments.push({
          kind: "upgrade",
          start: commandStart,
          end: Math.max(commandStart, end),
          state: "ok",
          label: STEP_LABEL.upgrade,
          detail: `${n.action === "kubeadm-upgrade-apply" ? "kubeadm upgrade apply" : "kubeadm upgrade node"} ${n.from ?? ""} -> ${to} (${secs(end - commandStart)})`,
          approximate,
        });
      } else if (!ended) {
        upgradeState = "running";
        segments.push({
          kind: "upgrade",
          start: commandStart,
          end: Math.max(commandStart, endedAt),
          state: "running",
          label: STEP_LABEL.upgrade,
          approximate,
        });
      } else if (firstFailure !== undefined && firstFailure < commandStart) {
        upgradeState = "not-started";
      } else {
        const uncertain = firstUnresolved !== n.name;
        const detail = uncertain
          ? `did not succeed: it failed (its error, with the command's stderr, is pulumi's error for ${upgradeName}), or it never started because the roll was stopping after ${firstUnresolved}'s upgrade command failed`
          : `failed: its error, with the command's stderr, is pulumi's error for ${upgradeName}`;
        upgradeState = "failed";
        segments.push({
          kind: "upgrade",
          start: commandStart,
          end: Math.max(commandStart, endedAt),
          state: "failed",
          label: STEP_LABEL.upgrade,
          detail,
          approximate: true,
          uncertain,
        });
        failures.push({ node: n.name, step: "upgrade", message: detail, uncertain });
      }
    }

    const ready = step("ready", (s) => {
      const d = s.details ?? {};
      return `Ready, kubelet ${d.kubeletVersion ?? "?"} after ${secs((s.finished ?? 0) - (s.started ?? 0))}`;
    });
    segments.push(...r.gates);
    const uncordon = step("uncordon", (s) =>
      String(s.details?.message ?? s.details?.outcome ?? ""),
    );
    segments.sort((a, b) => a.start - b.start || a.end - b.end);

    const drainEnd = drain?.end ?? endedAt;
    const evictions: ReportEviction[] = [...r.pods.entries()]
      .map(([pod, p]) => ({
        pod,
        start: p.start,
        end: Math.max(p.start, p.end ?? drainEnd),
        state:
          p.end !== undefined
            ? p.skipped
              ? ("skipped" as const)
              : ("ok" as const)
            : drain?.state === "running"
              ? ("running" as const)
              : ("failed" as const),
        retries: p.retries,
      }))
      .sort((a, b) => a.start - b.start || a.pod.localeCompare(b.pod));
    const markers: ReportMarker[] = [
      ...(r.cordoned
        ? [
            {
              kind: "cordon" as const,
              t: r.cordoned.t,
              label: r.cordoned.byUs ? "cordoned" : "already cordoned (by someone else)",
            },
          ]
        : []),
      ...r.retries.map((x) => ({
        kind: "pdb-retry" as const,
        t: x.t,
        label: `${x.pod}: refused by PodDisruptionBudget ${x.pdbs.join(", ") || "?"} (attempt ${x.attempt})`,
      })),
    ].sort((a, b) => a.t - b.t);

    const failed = segments.find((s) => s.state === "failed");
    const status: NodeStatus = failed
      ? "failed"
      : uncordon?.state === "ok"
        ? "upgraded"
        : segments.some((s) => s.state === "running")
          ? "running"
          : upgradeState === "not-started"
            ? "not-started"
            : segments.length === 0 && r.resolved.uncordon !== undefined
              ? "unchanged"
              : ended
                ? "not-started"
                : "waiting";
    const statusText =
      status === "failed"
        ? `${failed!.label} ${failed!.uncertain ? "did not succeed" : "failed"}` +
          (r.cordoned || r.steps.drain?.started === undefined
            ? `; the node stays cordoned (failure policy ${started.failurePolicy})`
            : "")
        : status === "upgraded"
          ? `at ${String(ready?.state === "ok" ? (r.steps.ready?.details?.kubeletVersion ?? to) : to)}, schedulable`
          : status === "running"
            ? `${segments.find((s) => s.state === "running")!.label} running`
            : status === "unchanged"
              ? "nothing to do (done in an earlier run)"
              : status === "not-started"
                ? upgradeState === "not-started"
                  ? "drained; the upgrade command did not start: the roll was stopping after a failure (the node stays cordoned)"
                  : "not started: the roll stopped after a failure"
                : "waiting";
    return {
      ...base,
      to,
      status,
      statusText,
      segments,
      evictions,
      markers,
      evicted: evictions.filter((e) => e.state === "ok").length,
      pdbRetries: r.retries.length,
      kubeletVersion:
        r.steps.ready?.details?.kubeletVersion !== undefined
          ? String(r.steps.ready.details.kubeletVersion)
          : undefined,
    };
  });

  const nodeFailed = rows.some((r) => r.status === "failed");
  const anythingRan = snapshot !== undefined || rows.some((r) => r.segments.length > 0);
  // A run that completed leaves every node done. Nodes not done without a recorded failure: a
  // step that records nothing failed (a command of another component, a preflight), or the run
  // was cancelled.
  const notDone = rows.filter((r) => !["upgraded", "unchanged", "skipped"].includes(r.status));
  if (ended && notDone.length > 0 && failures.length === 0)
    failures.push({
      message: `the run ended with ${notDone.length} node(s) not done (${notDone.map((r) => r.name).join(", ")}) and no failure of their steps recorded: another resource failed or the run was cancelled; see pulumi's output`,
    });
  const result: RollResult =
    nodeFailed || snapshot?.state === "failed" || (ended && notDone.length > 0)
      ? "failed"
      : !ended
        ? "in-progress"
        : anythingRan
          ? "succeeded"
          : "no-changes";
  const transientRetries = [...byNode.values()].reduce(
    (s, r) => s + Number(r.steps.drain?.details?.transientRetries ?? 0),
    0,
  );
  return {
    reportVersion: ROLL_REPORT_VERSION,
    component: started.component,
    project: started.project,
    stack: started.stack,
    runId: started.runId,
    fromVersion: started.controlPlaneVersion,
    targetVersion: started.targetVersion,
    maxUnavailable: started.maxUnavailable,
    failurePolicy: started.failurePolicy,
    startedAt: started.t,
    endedAt,
    ended: ended !== undefined,
    durationMs: endedAt - started.t,
    result,
    snapshot,
    nodes: rows,
    totals: {
      nodes: rows.length,
      upgraded: rows.filter((r) => r.status === "upgraded").length,
      failed: rows.filter((r) => r.status === "failed").length,
      evictions: rows.reduce((s, r) => s + r.evicted, 0),
      pdbRetries: rows.reduce((s, r) => s + r.pdbRetries, 0),
      transientRetries,
    },
    failures,
    skippedLines,
  };
}

/** The plan's nodes as the run-started record lists them (plan order, snapshot left out). */
export function reportPlanNodes(
  steps: readonly {
    action: string;
    node?: string;
    role?: NodeRole;
    from?: string;
    chain?: number;
  }[],
): ReportPlanNode[] {
  return steps
    .filter((s) => s.action !== "etcd-snapshot" && s.node !== undefined)
    .map((s) => ({
      name: s.node!,
      role: s.role ?? "worker",
      from: s.from,
      action: s.action as ReportPlanNode["action"],
      chain: s.chain,
    }));
}
