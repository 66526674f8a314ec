/**
 * Every text the drain engine produces comes from this file, so users find kubectl's familiar
 * wording (k8s.io/kubectl/pkg/drain) in one place. kubectl's flag hints are kept verbatim and the
 * matching kube-upkeep option is appended in brackets.
 */

/** Annotation kube-upkeep sets on a node it cordoned: the run id of the drain. */
export const CORDONED_BY_ANNOTATION = "kube-upkeep.io/cordoned-by";
/** Annotation kube-upkeep sets on a node it cordoned: when (RFC 3339). */
export const CORDONED_AT_ANNOTATION = "kube-upkeep.io/cordoned-at";
/** corev1.MirrorPodAnnotationKey: static pods shown through the API server. */
export const MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror";

/** kubectl daemonSetFatal + our option. */
export const DAEMONSET_FATAL =
  "DaemonSet-managed Pods (use --ignore-daemonsets to ignore) [kube-upkeep option: ignoreDaemonSets: true]";
/** kubectl daemonSetWarning. */
export const DAEMONSET_WARNING = "ignoring DaemonSet-managed Pods";
/** kubectl localStorageFatal + our option. */
export const LOCAL_STORAGE_FATAL =
  "Pods with local storage (use --delete-emptydir-data to override) [kube-upkeep option: deleteEmptyDirData: true]";
/** kubectl localStorageWarning. */
export const LOCAL_STORAGE_WARNING = "deleting Pods with local storage";
/** kubectl unmanagedFatal + our option. */
export const UNMANAGED_FATAL =
  "cannot delete Pods that declare no controller (use --force to override) [kube-upkeep option: force: true]";
/** kubectl unmanagedWarning. */
export const UNMANAGED_WARNING = "deleting Pods that declare no controller";

/** The error client-go returns for a missing DaemonSet (kubectl shows err.Error()). */
export function daemonSetNotFound(name: string): string {
  return `daemonsets.apps ${JSON.stringify(name)} not found`;
}

/** kubectl podSkipMsgTemplate (without the newline). */
export function podSkipMessage(podName: string, seconds: number): string {
  return `pod ${JSON.stringify(podName)} has DeletionTimestamp older than ${seconds} seconds, skipping`;
}

/**
 * kubectl PodDeleteList.errors(): messages grouped with the pods they apply to, prefixed with
 * "cannot delete " unless the message already starts with it. Order: first occurrence.
 */
export function groupErrors(items: readonly { pod: string; message: string }[]): string[] {
  return group(items).map(([msg, pods]) =>
    msg.toLowerCase().startsWith("cannot delete")
      ? `${msg}: ${pods.join(", ")}`
      : `cannot delete ${msg}: ${pods.join(", ")}`,
  );
}

/** kubectl PodDeleteList.Warnings(): "<message>: ns/a, ns/b" per message. */
export function groupWarnings(items: readonly { pod: string; message: string }[]): string[] {
  return group(items).map(([msg, pods]) => `${msg}: ${pods.join(", ")}`);
}

function group(items: readonly { pod: string; message: string }[]): [string, string[]][] {
  const byMessage = new Map<string, string[]>();
  for (const { pod, message } of items) {
    const msg = message === "" ? "unexpected error" : message;
    const list = byMessage.get(msg) ?? [];
    list.push(pod);
    byMessage.set(msg, list);
  }
  return [...byMessage.entries()];
}

/** kubectl: `evicting pod ns/name`. */
export function evictingMessage(pod: string, usingEviction: boolean): string {
  return usingEviction ? `evicting pod ${pod}` : `deleting pod ${pod}`;
}

/** kubectl: `pod/name evicted` (we keep the namespace). */
export function deletedMessage(pod: string, usingEviction: boolean): string {
  return `pod/${pod} ${usingEviction ? "evicted" : "deleted"}`;
}

/** A PodDisruptionBudget that covers a pod, with its status at the time of the 429. */
export interface PdbBlock {
  /** namespace/name of the PodDisruptionBudget. */
  readonly name: string;
  readonly disruptionsAllowed?: number;
  readonly currentHealthy?: number;
  readonly desiredHealthy?: number;
  readonly expectedPods?: number;
}

/** "PodDisruptionBudget ns/web (disruptionsAllowed 0, healthy 2/2 desired)" */
export function describePdbBlock(b: PdbBlock): string {
  const parts: string[] = [];
  if (b.disruptionsAllowed !== undefined) parts.push(`disruptionsAllowed ${b.disruptionsAllowed}`);
  if (b.currentHealthy !== undefined && b.desiredHealthy !== undefined)
    parts.push(`${b.currentHealthy} healthy, ${b.desiredHealthy} desired`);
  if (b.expectedPods !== undefined) parts.push(`${b.expectedPods} expected`);
  return `PodDisruptionBudget ${b.name}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

function pdbList(pdbs: readonly PdbBlock[]): string {
  return pdbs.length === 0
    ? "a PodDisruptionBudget (none found matching the pod's labels any more)"
    : pdbs.map(describePdbBlock).join(" and ");
}

/** kubectl: `error when evicting pods/"name" -n "ns" (will retry after 5s): Cannot evict pod ...`, plus the PDB. */
export function pdbRetryMessage(
  pod: string,
  pdbs: readonly PdbBlock[],
  retryInMs: number,
  serverMessage: string,
  /** The retry comes as soon as the budget allows a disruption, retryInMs at the latest. */
  early = false,
): string {
  const [ns, name] = splitPod(pod);
  const when = early
    ? `will retry when the budget allows it, at the latest after ${formatMs(retryInMs)}`
    : `will retry after ${formatMs(retryInMs)}`;
  return (
    `error when evicting pods/${JSON.stringify(name)} -n ${JSON.stringify(ns)} ` +
    `(${when}): ${serverMessage || "Too Many Requests"} ` +
    `[blocked by ${pdbList(pdbs)}]`
  );
}

/** The API server answers 500 when more than one PodDisruptionBudget selects a pod. */
export function multiplePdbMessage(
  pod: string,
  pdbs: readonly PdbBlock[],
  serverMessage: string,
): string {
  const [ns, name] = splitPod(pod);
  const names = pdbs.map((p) => p.name).join(", ");
  return (
    `error when evicting pods/${JSON.stringify(name)} -n ${JSON.stringify(ns)}: ${serverMessage}` +
    ` [the pod is selected by ${pdbs.length > 1 ? `${pdbs.length} PodDisruptionBudgets: ${names}` : "more than one PodDisruptionBudget"};` +
    ` the eviction API refuses such pods. Fix: make the PodDisruptionBudget selectors disjoint]`
  );
}

/**
 * A PodDisruptionBudget refused the eviction (429) and its budgets could not be listed to name
 * it (e.g. 403): the refusal and the list error, with the permission to grant when it is one.
 */
export function pdbListErrorMessage(
  pod: string,
  serverMessage: string,
  listError: string,
  forbidden: boolean,
): string {
  const [ns, name] = splitPod(pod);
  return (
    `error when evicting pods/${JSON.stringify(name)} -n ${JSON.stringify(ns)}: ${serverMessage || "Too Many Requests"}` +
    ` [a PodDisruptionBudget refused it, and ${listError}` +
    (forbidden
      ? `. Fix: grant list on poddisruptionbudgets (API group "policy") to the drain's identity, as MaintenanceRbac / MaintenanceServiceAccount do]`
      : "]")
  );
}

/** kubectl: `error when evicting pods/"name" -n "ns": <err>`. */
export function evictErrorMessage(pod: string, err: string, usingEviction: boolean): string {
  const [ns, name] = splitPod(pod);
  return `error when ${usingEviction ? "evicting" : "deleting"} pods/${JSON.stringify(name)} -n ${JSON.stringify(ns)}: ${err}`;
}

/** kubectl: `error when evicting pod "name" from terminating namespace "ns" (will retry after 5s): <err>` */
export function terminatingNamespaceMessage(pod: string, retryInMs: number, err: string): string {
  const [ns, name] = splitPod(pod);
  return `error when evicting pod ${JSON.stringify(name)} from terminating namespace ${JSON.stringify(ns)} (will retry after ${formatMs(retryInMs)}): ${err}`;
}

/** What kept a pod on the node when a drain timed out (the fields of errors.ts PendingPod read here). */
export interface TimeoutCause {
  readonly state: "evicting" | "terminating" | "not-started";
  readonly blockedBy: readonly unknown[];
}

/**
 * The "Fix:" of a drain timeout, one remedy per cause present, in this order: pods whose eviction
 * a PodDisruptionBudget refused, evictions the API server did not accept for another reason, pods
 * evicted but still terminating, pods never started (concurrency bound). Raising timeoutSeconds,
 * draining again and uncordoning to give up apply to all of them.
 */
export function drainTimeoutFix(pending: readonly TimeoutCause[]): string {
  const has = (f: (p: TimeoutCause) => boolean) => pending.some(f);
  const remedies: string[] = [];
  if (has((p) => p.state === "evicting" && p.blockedBy.length > 0))
    remedies.push(
      "let the PodDisruptionBudgets allow a disruption (scale the workload up, or relax minAvailable/maxUnavailable)",
    );
  if (has((p) => p.state === "evicting" && p.blockedBy.length === 0))
    remedies.push(
      "find out why the API server did not accept the evictions (is it reachable? each pod's last answer, if any, is listed above)",
    );
  if (has((p) => p.state === "terminating"))
    remedies.push(
      "find out why the evicted pods do not terminate (kubectl describe pod): a finalizer in metadata.finalizers, " +
        "a long terminationGracePeriodSeconds or preStop hook (gracePeriodSeconds overrides the grace period), " +
        "or a node whose kubelet is down (skipWaitForDeleteTimeoutSeconds makes the next drain skip pods deleted longer ago than that)",
    );
  if (has((p) => p.state === "not-started"))
    remedies.push("raise concurrency (pods were still waiting for a free eviction slot)");
  return `Fix: ${[...remedies, "raise timeoutSeconds"].join("; or ")}; then drain again, or uncordon the node to give up.`;
}

export function cordonedMessage(node: string): string {
  return `node/${node} cordoned`;
}
export function alreadyCordonedMessage(node: string): string {
  return `node/${node} already cordoned`;
}
export function uncordonedMessage(node: string): string {
  return `node/${node} uncordoned`;
}
export function alreadyUncordonedMessage(node: string): string {
  return `node/${node} already uncordoned`;
}
export function cordonedBySomeoneElseMessage(node: string): string {
  return (
    `node/${node} left cordoned: it was cordoned by someone else, not by kube-upkeep ` +
    `(no ${CORDONED_BY_ANNOTATION} annotation); uncordon it yourself (kubectl uncordon ${node}) or pass force: true`
  );
}
export function cordonedByOtherRunMessage(node: string, annotated: string, runId: string): string {
  return (
    `node/${node} left cordoned: kube-upkeep run ${JSON.stringify(annotated)} cordoned it, ` +
    `not run ${JSON.stringify(runId)}; uncordon without a runId (or with ${JSON.stringify(annotated)}) to remove it`
  );
}

/** `ns/name` → [ns, name] */
export function splitPod(pod: string): [string, string] {
  const i = pod.indexOf("/");
  return i < 0 ? ["", pod] : [pod.slice(0, i), pod.slice(i + 1)];
}

/** 5000 → "5s", 250 → "250ms", 90000 → "1m30s" (like Go's time.Duration). */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(3).replace(/0+$/, "")}s`;
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m}m${rest ? formatMs(rest * 1000) : "0s"}`;
}
