/**
 * What the dynamic providers NodeDrain, NodeUncordon and NodeReadyWait do: `check` (the inputs'
 * problems, all at once, each on its input property) and `create` (the drain, the uncordon, the
 * wait, with their roll-report step and the node's progress Events and annotation). The files in
 * lib/pulumi only adapt these to Pulumi's provider interface; they load this module in the
 * provider process through loadCore (docs/ARCHITECTURE.md, "Dynamic providers").
 */
import { ValidationError, ValidationErrors } from "../errors";
import { nodeNameProblem } from "../names";
import { type NodeProgressTarget, nodeProgress } from "../progress/reporter";
import {
  drainedEventMessage,
  resumedDrain,
  upgradeStartedMessage,
  upgradedMessage,
} from "../progress/steps";
import { type StepReportTarget, recordDrainProgress, stepRecorder } from "../report/recorder";
import { clientsFromYaml } from "./client";
import {
  type DrainOptions,
  type DrainProgress,
  drainNode,
  uncordon,
  validateDrainOptions,
} from "./drain";
import { validateReadyWaitOptions, waitNodeReady } from "./ready";

/** A provider's progress line (pulumi.log in the provider process). */
export type ProviderLog = (level: "info" | "warn", message: string) => void;

/** One problem of a provider's inputs, on the input property it is about (Pulumi's CheckFailure). */
export interface InputFailure {
  readonly property: string;
  readonly reason: string;
}

/** What Pulumi passes for a value not known yet (a preview); checked again once it is known. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const known = <T>(v: T): T | undefined => (v === (UNKNOWN as unknown) ? undefined : v);

/**
 * The validation problems `validate` throws, each on its field when that is one of `properties`,
 * else on `fallback`, then the kubeconfig's.
 */
function inputFailures(
  resource: string,
  validate: () => void,
  properties: readonly string[],
  fallback: string,
  kubeconfig: unknown,
): InputFailure[] {
  const failures: InputFailure[] = [];
  try {
    validate();
  } catch (e) {
    const errs = e instanceof ValidationErrors ? e.errors : [e];
    for (const err of errs) {
      const field = err instanceof ValidationError ? err.field : fallback;
      const property = properties.includes(field) ? field : fallback;
      failures.push({ property, reason: err instanceof Error ? err.message : String(err) });
    }
  }
  if (typeof kubeconfig !== "string" || kubeconfig.trim() === "") {
    failures.push({
      property: "kubeconfig",
      reason: `${resource}: kubeconfig must be the kubeconfig YAML text`,
    });
  }
  return failures;
}

export interface NodeDrainStepInputs {
  readonly nodeName: string;
  readonly kubeconfig: string;
  readonly runId: string;
  readonly options?: DrainOptions;
  readonly report?: StepReportTarget;
  readonly progress?: NodeProgressTarget;
}

/** What NodeDrain's create stores besides its inputs. */
export interface NodeDrainStepResult {
  readonly evictedPods: string[];
  readonly skippedPods: string[];
  readonly warnings: string[];
  readonly retries: number;
  readonly transientRetries?: number;
  readonly durationMs: number;
  readonly cordonedByUs: boolean;
  readonly resumed?: string;
}

export function checkNodeDrain(news: NodeDrainStepInputs): InputFailure[] {
  return inputFailures(
    "NodeDrain",
    () =>
      validateDrainOptions("NodeDrain", news.nodeName, {
        ...(news.options ?? {}),
        runId: news.runId,
      }),
    ["nodeName", "runId"],
    "options",
    news.kubeconfig,
  );
}

/**
 * Cordons and drains the node, recording the step and showing it on the node; a node this run
 * already upgraded (see resumedDrain) is not drained again.
 */
export async function runNodeDrain(
  inputs: NodeDrainStepInputs,
  log: ProviderLog,
): Promise<NodeDrainStepResult> {
  const say = (level: "info" | "warn", m: string) =>
    log(level, `NodeDrain ${inputs.nodeName}: ${m}`);
  const kc = clientsFromYaml(inputs.kubeconfig);
  const rec = stepRecorder(inputs.report, inputs.nodeName, "drain", (m) => say("warn", m));
  const shown = nodeProgress(kc, inputs.nodeName, inputs.progress, (m) => say("warn", m));
  const resumed = await resumedDrain(shown, inputs.nodeName, inputs.progress);
  if (resumed) {
    say("info", resumed.message);
    await shown.flush();
    return {
      evictedPods: [],
      skippedPods: [],
      warnings: [resumed.message],
      retries: 0,
      durationMs: 0,
      cordonedByUs: resumed.cordonedByUs,
      resumed: resumed.state,
    };
  }
  rec.started();
  const progress: DrainProgress = {
    onCordoned: (r) => {
      shown.event("Cordoned", r.cordonedByUs ? r.message : `${r.message} (by someone else)`);
      say(
        "info",
        r.cordonedByUs ? r.message : `${r.message} (by someone else; it stays so after the drain)`,
      );
    },
    onEvicting: (e) => say("info", e.message),
    onPdbRetry: (e) => say("warn", e.message),
    onDeleted: (e) => say("info", e.message),
    onWarning: (m) => say("warn", m),
  };
  const result = await drainNode(kc, inputs.nodeName, {
    ...(inputs.options ?? {}),
    runId: inputs.runId,
    ...recordDrainProgress(rec, progress),
  }).catch(async (e: unknown) => {
    rec.failed(e);
    shown.failed("drain", e);
    await shown.flush();
    throw e;
  });
  rec.finished({
    evicted: result.evictedPods.length,
    retries: result.retries,
    transientRetries: result.transientRetries,
  });
  shown.event("Drained", drainedEventMessage(result));
  shown.step("drained");
  shown.event("UpgradeStarted", upgradeStartedMessage(inputs.progress));
  say(
    "info",
    `drained: ${result.evictedPods.length} pod(s) evicted in ${result.durationMs} ms, ${result.retries} PDB retries` +
      (result.transientRetries ? `, ${result.transientRetries} transient API retries` : ""),
  );
  await shown.flush();
  return {
    evictedPods: [...result.evictedPods],
    skippedPods: result.skippedPods.map((s) => `${s.pod}: ${s.reason}`),
    warnings: [...result.warnings],
    retries: result.retries,
    transientRetries: result.transientRetries,
    durationMs: result.durationMs,
    cordonedByUs: result.cordon.cordonedByUs,
  };
}

/** NodeDrain's delete: removes this run's cordon if it is still on the node. */
export async function undoNodeDrain(
  props: Pick<NodeDrainStepInputs, "nodeName" | "kubeconfig" | "runId">,
  log: ProviderLog,
): Promise<void> {
  const kc = clientsFromYaml(props.kubeconfig);
  const r = await uncordon(kc, props.nodeName, { runId: props.runId, ignoreMissingNode: true });
  log(
    r.uncordoned || r.outcome === "not-cordoned" || r.outcome === "node-not-found"
      ? "info"
      : "warn",
    `NodeDrain ${props.nodeName}: ${r.message}`,
  );
}

export interface NodeUncordonStepInputs {
  readonly nodeName: string;
  readonly kubeconfig: string;
  readonly runId?: string;
  readonly force?: boolean;
  readonly report?: StepReportTarget;
  readonly progress?: NodeProgressTarget;
}

export interface NodeUncordonStepResult {
  readonly uncordoned: boolean;
  readonly outcome: string;
  readonly message: string;
}

export function checkNodeUncordon(news: NodeUncordonStepInputs): InputFailure[] {
  return inputFailures(
    "NodeUncordon",
    () => {
      const problem = nodeNameProblem("NodeUncordon", news.nodeName);
      if (problem) throw problem;
    },
    ["nodeName"],
    "nodeName",
    news.kubeconfig,
  );
}

/** Uncordons the node if kube-upkeep (this run, with runId) cordoned it, or with force. */
export async function runNodeUncordon(
  inputs: NodeUncordonStepInputs,
  log: ProviderLog,
): Promise<NodeUncordonStepResult> {
  const say = (level: "info" | "warn", m: string) =>
    log(level, `NodeUncordon ${inputs.nodeName}: ${m}`);
  const kc = clientsFromYaml(inputs.kubeconfig);
  const rec = stepRecorder(inputs.report, inputs.nodeName, "uncordon", (m) => say("warn", m));
  rec.started();
  const shown = nodeProgress(kc, inputs.nodeName, inputs.progress, (m) => say("warn", m));
  const r = await uncordon(kc, inputs.nodeName, {
    runId: inputs.runId || undefined,
    force: inputs.force,
  }).catch(async (e: unknown) => {
    rec.failed(e);
    shown.failed("uncordon", e);
    await shown.flush();
    throw e;
  });
  rec.finished({ outcome: r.outcome, uncordoned: r.uncordoned, message: r.message });
  shown.event("Uncordoned", r.message);
  shown.step("uncordoned");
  await shown.flush();
  say(r.uncordoned || r.outcome === "not-cordoned" ? "info" : "warn", r.message);
  return { uncordoned: r.uncordoned, outcome: r.outcome, message: r.message };
}

export interface NodeReadyWaitStepInputs {
  readonly nodeName: string;
  readonly kubeconfig: string;
  readonly targetVersion: string;
  readonly timeoutSeconds?: number;
  readonly pollSeconds?: number;
  readonly report?: StepReportTarget;
  readonly progress?: NodeProgressTarget;
}

export interface NodeReadyWaitStepResult {
  readonly kubeletVersion: string;
  readonly waitedMs: number;
}

export function checkNodeReadyWait(news: NodeReadyWaitStepInputs): InputFailure[] {
  return inputFailures(
    "NodeReadyWait",
    () =>
      validateReadyWaitOptions("NodeReadyWait", known(news.nodeName), known(news.targetVersion), {
        timeoutSeconds: known(news.timeoutSeconds),
        pollSeconds: known(news.pollSeconds),
      }),
    ["nodeName", "targetVersion", "timeoutSeconds", "pollSeconds"],
    "nodeName",
    news.kubeconfig,
  );
}

/** Waits until the node is Ready at the target kubelet version (waitNodeReady). */
export async function runNodeReadyWait(
  inputs: NodeReadyWaitStepInputs,
  log: ProviderLog,
): Promise<NodeReadyWaitStepResult> {
  const say = (m: string) => log("warn", `NodeReadyWait ${inputs.nodeName}: ${m}`);
  const rec = stepRecorder(inputs.report, inputs.nodeName, "ready", say);
  rec.started();
  const kc = clientsFromYaml(inputs.kubeconfig);
  const shown = nodeProgress(kc, inputs.nodeName, inputs.progress, say);
  const r = await waitNodeReady(kc, inputs.nodeName, inputs.targetVersion, {
    timeoutSeconds: inputs.timeoutSeconds,
    pollSeconds: inputs.pollSeconds,
  }).catch(async (e: unknown) => {
    rec.failed(e);
    shown.failed(`the wait for Ready at ${inputs.targetVersion}`, e);
    await shown.flush();
    throw e;
  });
  rec.finished({ kubeletVersion: r.kubeletVersion, waitedMs: r.waitedMs });
  shown.event("Upgraded", upgradedMessage(r.kubeletVersion, r.waitedMs));
  shown.step("upgraded");
  await shown.flush();
  return { kubeletVersion: r.kubeletVersion, waitedMs: r.waitedMs };
}

/** The three providers' work, by provider: what their Pulumi adapters call (one core name). */
export const nodeProviderSteps = {
  nodeDrain: { check: checkNodeDrain, create: runNodeDrain, delete: undoNodeDrain },
  nodeUncordon: { check: checkNodeUncordon, create: runNodeUncordon },
  nodeReadyWait: { check: checkNodeReadyWait, create: runNodeReadyWait },
} as const;
