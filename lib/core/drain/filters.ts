/**
 * Pod filters in kubectl's order (k8s.io/kubectl/pkg/drain/filters.go): skip deleted, DaemonSet,
 * mirror, local storage, unreplicated. Pure functions: facts that need the API server (does the
 * DaemonSet still exist?) are looked up beforehand and passed in `FilterFacts`.
 *
 * Differences from kubectl: every warning a pod collects is kept (kubectl keeps only the last
 * filter's), and results are returned in the input order.
 */
import type { V1Pod, V1OwnerReference } from "@kubernetes/client-node";
import {
  DAEMONSET_FATAL,
  DAEMONSET_WARNING,
  LOCAL_STORAGE_FATAL,
  LOCAL_STORAGE_WARNING,
  MIRROR_POD_ANNOTATION,
  UNMANAGED_FATAL,
  UNMANAGED_WARNING,
  daemonSetNotFound,
  groupErrors,
  groupWarnings,
  podSkipMessage,
} from "./messages";

/** kubectl PodDeleteStatus reasons. */
export type PodDeleteReason = "Okay" | "Skip" | "Warning" | "Error";

export interface PodDeleteStatus {
  /** Whether the pod will be evicted/deleted. */
  readonly delete: boolean;
  readonly reason: PodDeleteReason;
  readonly message?: string;
}

export type PodFilter = (pod: V1Pod) => PodDeleteStatus;

/** The subset of drain options the filters read. */
export interface FilterOptions {
  /** Delete pods that declare no controller, and orphaned DaemonSet pods. kubectl --force. @default false */
  readonly force?: boolean;
  /** Leave DaemonSet-managed pods in place instead of failing. kubectl --ignore-daemonsets. @default false */
  readonly ignoreDaemonSets?: boolean;
  /** Delete pods with emptyDir volumes (their data is lost). kubectl --delete-emptydir-data. @default false */
  readonly deleteEmptyDirData?: boolean;
  /** Skip pods whose deletionTimestamp is older than this many seconds (0 = never skip). @default 0 */
  readonly skipWaitForDeleteTimeoutSeconds?: number;
}

/** What the DaemonSet lookup found for `namespace/name` of a pod's DaemonSet controller. */
export type DaemonSetLookup = "found" | "not-found" | { readonly error: string };

export interface FilterFacts {
  /** Result of GET daemonset for each `namespace/name` referenced by a pod's controller. */
  readonly daemonSets: ReadonlyMap<string, DaemonSetLookup>;
  /** The clock (tests). @default new Date() */
  readonly now?: Date;
}

export const okay: PodDeleteStatus = { delete: true, reason: "Okay" };
export const skip: PodDeleteStatus = { delete: false, reason: "Skip" };
function warning(del: boolean, message: string): PodDeleteStatus {
  return { delete: del, reason: "Warning", message };
}
function error(message: string): PodDeleteStatus {
  return { delete: false, reason: "Error", message };
}

/** metav1.GetControllerOf: the owner reference with controller: true. */
export function controllerOf(pod: V1Pod): V1OwnerReference | undefined {
  return (pod.metadata?.ownerReferences ?? []).find((r) => r.controller === true);
}

export function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ""}/${pod.metadata?.name ?? ""}`;
}

export function isFinished(pod: V1Pod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

export function hasLocalStorage(pod: V1Pod): boolean {
  return (pod.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined && v.emptyDir !== null);
}

export function isMirrorPod(pod: V1Pod): boolean {
  const a = pod.metadata?.annotations ?? {};
  return Object.prototype.hasOwnProperty.call(a, MIRROR_POD_ANNOTATION);
}

/** kubectl shouldSkipPod: deletionTimestamp older than N (> 0) whole seconds. */
export function shouldSkipPod(
  pod: V1Pod,
  skipWaitForDeleteTimeoutSeconds: number,
  now: Date = new Date(),
): boolean {
  const ts = pod.metadata?.deletionTimestamp;
  if (!(skipWaitForDeleteTimeoutSeconds > 0) || ts === undefined || ts === null) return false;
  const deleted = ts instanceof Date ? ts.getTime() : new Date(ts as unknown as string).getTime();
  return Math.trunc((now.getTime() - deleted) / 1000) > skipWaitForDeleteTimeoutSeconds;
}

/** The API group of an apiVersion: "apps/v1" -> "apps", "v1" (the core group) -> "". */
export function apiGroupOf(apiVersion: string | undefined): string {
  const v = apiVersion ?? "";
  const slash = v.indexOf("/");
  return slash < 0 ? "" : v.slice(0, slash);
}

/**
 * Whether an owner reference is an apps/v1 DaemonSet (group `apps`, kind `DaemonSet`). A
 * `kind: DaemonSet` of another API group (OpenKruise's `apps.kruise.io/v1alpha1` Advanced
 * DaemonSet, ...) is not: kubectl (kubernetes/kubernetes#128779) checks the owner's group too and
 * treats such a pod as an ordinary controller-managed pod, evicted like a ReplicaSet's.
 */
export function isAppsDaemonSet(ref: V1OwnerReference): boolean {
  return ref.kind === "DaemonSet" && apiGroupOf(ref.apiVersion) === "apps";
}

/** The apps/v1 DaemonSet controller `namespace/name` of a pod, if it has one. */
export function daemonSetOf(pod: V1Pod): string | undefined {
  const ref = controllerOf(pod);
  return ref && isAppsDaemonSet(ref) ? `${pod.metadata?.namespace ?? ""}/${ref.name}` : undefined;
}

export function skipDeletedFilter(opts: FilterOptions, facts: FilterFacts): PodFilter {
  return (pod) =>
    shouldSkipPod(pod, opts.skipWaitForDeleteTimeoutSeconds ?? 0, facts.now) ? skip : okay;
}

export function daemonSetFilter(opts: FilterOptions, facts: FilterFacts): PodFilter {
  return (pod) => {
    const ds = daemonSetOf(pod);
    if (ds === undefined) return okay;
    // Any finished pod can be removed.
    if (isFinished(pod)) return okay;
    const lookup = facts.daemonSets.get(ds) ?? "found";
    if (lookup !== "found") {
      const msg =
        lookup === "not-found" ? daemonSetNotFound(controllerOf(pod)?.name ?? "") : lookup.error;
      // remove orphaned pods with a warning if force is used
      if (lookup === "not-found" && opts.force) return warning(true, msg);
      return error(msg);
    }
    if (!opts.ignoreDaemonSets) return error(DAEMONSET_FATAL);
    return warning(false, DAEMONSET_WARNING);
  };
}

export function mirrorPodFilter(): PodFilter {
  return (pod) => (isMirrorPod(pod) ? skip : okay);
}

export function localStorageFilter(opts: FilterOptions): PodFilter {
  return (pod) => {
    if (!hasLocalStorage(pod)) return okay;
    if (isFinished(pod)) return okay;
    if (!opts.deleteEmptyDirData) return error(LOCAL_STORAGE_FATAL);
    return warning(true, LOCAL_STORAGE_WARNING);
  };
}

export function unreplicatedFilter(opts: FilterOptions): PodFilter {
  return (pod) => {
    if (isFinished(pod)) return okay;
    if (controllerOf(pod) !== undefined) return okay;
    if (opts.force) return warning(true, UNMANAGED_WARNING);
    return error(UNMANAGED_FATAL);
  };
}

/** kubectl makeFilters(), same order. */
export function makeFilters(opts: FilterOptions, facts: FilterFacts): PodFilter[] {
  return [
    skipDeletedFilter(opts, facts),
    daemonSetFilter(opts, facts),
    mirrorPodFilter(),
    localStorageFilter(opts),
    unreplicatedFilter(opts),
  ];
}

export interface PodDelete {
  readonly pod: V1Pod;
  /** The status of the last filter that ran (filters stop at the first that does not delete). */
  readonly status: PodDeleteStatus;
  /** Every warning collected on the way (kubectl keeps only the last). */
  readonly warnings: readonly string[];
}

export interface PodDeleteList {
  readonly items: readonly PodDelete[];
  /** The pods to evict/delete. */
  readonly pods: readonly V1Pod[];
  /** kubectl's "cannot delete ..." errors grouped by message; empty when the drain may go on. */
  readonly errors: readonly string[];
  /** Warnings grouped by message ("ignoring DaemonSet-managed Pods: ns/a, ns/b"). */
  readonly warnings: readonly string[];
  /** Pods skipped: mirror pods, pods deleted longer ago than skipWaitForDeleteTimeoutSeconds. */
  readonly skipped: readonly { pod: string; reason: string }[];
}

/** kubectl filterPods(): run the filters over each pod, short-circuiting at the first non-delete. */
export function filterPods(
  pods: readonly V1Pod[],
  filters: readonly PodFilter[],
  opts: FilterOptions = {},
): PodDeleteList {
  const items: PodDelete[] = [];
  for (const pod of pods) {
    let status: PodDeleteStatus = okay;
    const warnings: string[] = [];
    for (const f of filters) {
      status = f(pod);
      if (status.reason === "Warning" && status.message) warnings.push(status.message);
      if (!status.delete) break;
    }
    items.push({ pod, status, warnings });
  }
  const errs: { pod: string; message: string }[] = [];
  const warns: { pod: string; message: string }[] = [];
  const skipped: { pod: string; reason: string }[] = [];
  for (const i of items) {
    const key = podKey(i.pod);
    if (i.status.reason === "Error") errs.push({ pod: key, message: i.status.message ?? "" });
    for (const w of i.warnings) warns.push({ pod: key, message: w });
    if (i.status.reason === "Skip") {
      skipped.push({
        pod: key,
        reason: isMirrorPod(i.pod)
          ? "mirror pod"
          : podSkipMessage(i.pod.metadata?.name ?? "", opts.skipWaitForDeleteTimeoutSeconds ?? 0),
      });
    }
  }
  return {
    items,
    pods: items.filter((i) => i.status.delete).map((i) => i.pod),
    errors: groupErrors(errs),
    warnings: groupWarnings(warns),
    skipped,
  };
}
