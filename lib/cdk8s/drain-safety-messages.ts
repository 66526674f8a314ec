/**
 * Every text DrainSafety produces comes from this file, as lib/core/drain/messages.ts does for
 * the drain. A finding's text is a problem and a fix; its message is `<problem> Fix: <fix>.`, and
 * the fix is also the finding's `fix` field. What each code means: docs/constructs-pdb.md.
 */
import { describeBudget, type DisruptionBudget } from "../core/pdb";
import type { ValidationError } from "../core/errors";

/** The message of a finding and the fix it ends with. */
export interface FindingText {
  readonly message: string;
  readonly fix: string;
}

/** What the texts need to know of a workload. */
export interface DescribedWorkload {
  readonly kind: string;
  /** `Kind/name`. */
  readonly label: string;
  /** Pods at full health; undefined when not known at synth (DaemonSet). */
  readonly replicas?: number;
}

function text(problem: string, fix: string): FindingText {
  return { message: `${problem} Fix: ${fix}.`, fix };
}

/** `namespace shop` or `the default namespace` (a PDB without a namespace). */
export function namespaceText(namespace: string): string {
  return namespace ? `namespace ${namespace}` : "the default namespace";
}

/** `Deployment/web (3 replicas), Job/j (1 pod), DaemonSet/d`. */
export function describeWorkloads(ws: readonly DescribedWorkload[]): string {
  return ws
    .map((w) =>
      w.replicas === undefined
        ? w.label
        : `${w.label} (${w.replicas} ${w.kind === "Pod" || w.kind.endsWith("Job") ? "pod" : "replica"}${w.replicas === 1 ? "" : "s"})`,
    )
    .join(", ");
}

function downgradeHint(code: string, pdb: string): string {
  return `(DrainSafety option downgrade: [{ code: ${JSON.stringify(code)}, pdb: ${JSON.stringify(pdb)} }])`;
}

/** pdb-selects-nothing: `spec.selector` null or unset. */
export function nullSelector(pdb: string, ns: string): FindingText {
  return text(
    `PodDisruptionBudget ${pdb} (${ns}) has no selector; a null selector selects no pods, so it protects nothing.`,
    "set spec.selector to the workload's selector (PodDisruptionBudget.forWorkload does this)",
  );
}

/** pdb-empty-selector: `selector: {}`. */
export function emptySelector(
  pdb: string,
  ns: string,
  matched: readonly DescribedWorkload[],
): FindingText {
  return text(
    `PodDisruptionBudget ${pdb} has an empty selector, which selects every pod in ${ns}${matched.length ? ` (here: ${describeWorkloads(matched)})` : ""}, including pods of other applications, and overlaps any other PDB there.`,
    'select one workload\'s pods, e.g. selector: { matchLabels: { app: "<name>" } }',
  );
}

/** pdb-selects-nothing: no workload under the checked scope carries the labels. */
export function selectsNothing(
  pdb: string,
  ns: string,
  scopePath: string,
  selector: unknown,
): FindingText {
  return text(
    `PodDisruptionBudget ${pdb} (${ns}) selects no workload in ${scopePath} (selector ${JSON.stringify(selector)}).`,
    "make the selector match the workload's pod template labels, or remove the PDB; ignore this if the pods are deployed outside this app",
  );
}

/**
 * pdb-unscalable: maxUnavailable or a percentage over pods without a scalable controller.
 * `evicted` are the ones a drain evicts (all but DaemonSet pods); none: only a warning.
 */
export function unscalable(
  pdb: string,
  budget: DisruptionBudget,
  unscalable: readonly DescribedWorkload[],
  evicted: readonly DescribedWorkload[],
): FindingText {
  const consequence =
    evicted.length > 0
      ? ` A drain of a node running pods of ${describeWorkloads(evicted)} waits on them until it times out${evicted.some((w) => w.kind === "Pod") ? " (bare pods: with force; without it the drain refuses them at once)" : ""}.`
      : " A drain with ignoreDaemonSets (kubectl drain --ignore-daemonsets, kube-upkeep's upgrade default) skips DaemonSet pods, so this blocks only evictions outside a drain.";
  return text(
    `PodDisruptionBudget ${pdb} uses ${describeBudget(budget)} over ${describeWorkloads(unscalable)}, which ${unscalable.length === 1 ? "has" : "have"} no scalable controller: the disruption controller derives the expected pod count from a Deployment, ReplicaSet, StatefulSet or ReplicationController scale; for DaemonSet, Job and CronJob pods it fails ("<kind> does not implement the scale subresource") and sets disruptionsAllowed to 0, and bare pods are not counted (0 expected pods allow 0 disruptions), so evictions of these pods are refused.${consequence}`,
    `use an integer minAvailable for them, or narrow the selector to scalable workloads${evicted.length > 0 ? `, or downgrade this error if those pods may hold a drain until it times out ${downgradeHint("pdb-unscalable", pdb)}` : ""}`,
  );
}

/** pdb-blocks-drain: maxUnavailable 0 or minAvailable 100%, whatever the replica count. */
export function alwaysBlocks(
  pdb: string,
  ns: string,
  budget: DisruptionBudget,
  matched: readonly DescribedWorkload[],
): FindingText {
  return text(
    `PodDisruptionBudget ${pdb} (${ns}) sets ${describeBudget(budget)}, which allows no disruption for any number of replicas${matched.length ? `; pods of ${describeWorkloads(matched)} can never be evicted` : ""}: kubectl drain retries the 429 answer until it times out and the node stays cordoned.`,
    budget.field === "maxUnavailable"
      ? "set maxUnavailable to at least 1 (or a percentage above 0%)"
      : "use a minAvailable below 100%, e.g. maxUnavailable: 1 instead",
  );
}

/** pdb-blocks-drain: the budget allows 0 disruptions at the selected replica count. */
export function blocksAtReplicas(
  pdb: string,
  ns: string,
  budget: DisruptionBudget,
  counted: readonly DescribedWorkload[],
  replicas: number,
): FindingText {
  return text(
    `PodDisruptionBudget ${pdb} (${ns}) sets ${describeBudget(budget)} over ${describeWorkloads(counted)}: with ${replicas === 1 ? "its only pod" : `all ${replicas} pods`} healthy it allows 0 disruptions${budget.value.kind === "percent" ? " (percentages are rounded up)" : ""}, so kubectl drain can never evict them and waits until it times out.`,
    fixForBlocking(budget, replicas, pdb),
  );
}

function fixForBlocking(budget: DisruptionBudget, replicas: number, pdb: string): string {
  if (replicas <= 1)
    return `run at least 2 replicas so one can be evicted while the other serves, or downgrade this error if the workload may be interrupted only by hand ${downgradeHint("pdb-blocks-drain", pdb)}`;
  const keep = replicas - 1;
  return `allow at least one disruption: maxUnavailable: 1 or minAvailable: ${keep}${budget.value.kind === "percent" ? ` (a percentage of at most ${Math.floor((keep * 100) / replicas)}% for minAvailable)` : ""}, or raise the replica count`;
}

/** pdb-overlap: the workloads' pods are selected by every PDB in `pdbs`. */
export function overlap(
  pdbs: readonly string[],
  ns: string,
  workloads: readonly DescribedWorkload[],
): FindingText {
  return text(
    `Pods of ${describeWorkloads(workloads)} in ${ns} are selected by ${pdbs.length} PodDisruptionBudgets: ${pdbs.join(", ")}. The Eviction API refuses such pods with HTTP 500 "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support", so kubectl drain fails on every node running them.`,
    "keep one PDB per workload; narrow the selectors so each pod matches exactly one",
  );
}

/** pdb-invalid: the validation error of a raw PDB; its fix is the error's. */
export function invalid(error: ValidationError): FindingText {
  return {
    message: `${error.message} (the API server would reject this PodDisruptionBudget)`,
    fix: error.fix,
  };
}

/** The message of a finding the `downgrade` option turned into a warning. */
export function downgradedMessage(message: string, reason: string | undefined): string {
  return `${message} [downgraded to a warning by the DrainSafety downgrade option${reason ? `: ${reason}` : ""}]`;
}

/** The line an error adds to cdk8s's "Validation failed" list. */
export function synthErrorLine(code: string, message: string): string {
  return `DrainSafety error [${code}]: ${message}`;
}

/** The line the default `onWarnings` prints. */
export function warningLine(code: string, message: string): string {
  return `kube-upkeep DrainSafety warning [${code}]: ${message}`;
}
