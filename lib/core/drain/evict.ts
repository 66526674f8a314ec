/**
 * One eviction (policy/v1 Eviction subresource) or deletion attempt, classified the way kubectl's
 * evictPods() loop classifies the answer; and the PodDisruptionBudgets that cover a pod, so a 429
 * can name them.
 */
import type { V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { selectorMatches, type LabelSelector } from "../pdb";
import {
  type DrainClients,
  apiErrorMessage,
  apiStatus,
  apiStatusCode,
  readableApiError,
} from "./client";
import type { PdbBlock } from "./messages";
import { type RetryOptions, transientReason, withTransientRetry } from "./retry";

export type EvictOutcome =
  /** Accepted: the pod is being deleted. */
  | { readonly kind: "evicted" }
  /** 404: the pod is already gone. */
  | { readonly kind: "gone" }
  /** 429: a PodDisruptionBudget does not allow the disruption now. */
  | { readonly kind: "pdb"; readonly message: string }
  /** 500: more than one PodDisruptionBudget selects the pod. */
  | { readonly kind: "multiple-pdbs"; readonly message: string }
  /** 403 with cause NamespaceTerminating. */
  | { readonly kind: "namespace-terminating"; readonly message: string }
  /** Worth another try soon: a conflict, 5xx, a 429 not from a PDB, a dropped connection (retry.ts). */
  | { readonly kind: "transient"; readonly reason: string; readonly message: string }
  | { readonly kind: "error"; readonly code?: number; readonly message: string };

/** corev1.NamespaceTerminatingCause */
const NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating";

export function classifyEvictionError(e: unknown): EvictOutcome {
  const code = apiStatusCode(e);
  const status = apiStatus(e);
  const message = apiErrorMessage(e);
  if (code === 404) return { kind: "gone" };
  if (code === 500 && /more than one PodDisruptionBudget/i.test(status?.message ?? message)) {
    return { kind: "multiple-pdbs", message };
  }
  const reason = transientReason(e);
  if (reason !== undefined) return { kind: "transient", reason, message };
  if (code === 429) return { kind: "pdb", message };
  if (
    code === 403 &&
    (status?.details?.causes ?? []).some((c) => c.reason === NAMESPACE_TERMINATING_CAUSE)
  ) {
    return { kind: "namespace-terminating", message };
  }
  return { kind: "error", code, message };
}

/** POST pods/<name>/eviction (policy/v1). */
export async function evictPod(
  clients: DrainClients,
  pod: V1Pod,
  gracePeriodSeconds?: number,
): Promise<EvictOutcome> {
  const name = pod.metadata?.name ?? "";
  const namespace = pod.metadata?.namespace ?? "";
  try {
    await clients.core.createNamespacedPodEviction({
      name,
      namespace,
      body: {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name, namespace },
        deleteOptions: gracePeriodSeconds === undefined ? undefined : { gracePeriodSeconds },
      },
    });
    return { kind: "evicted" };
  } catch (e) {
    return classifyEvictionError(e);
  }
}

/** DELETE the pod (disableEviction: bypasses PodDisruptionBudgets). The pod's UID is a precondition. */
export async function deletePod(
  clients: DrainClients,
  pod: V1Pod,
  gracePeriodSeconds?: number,
): Promise<EvictOutcome> {
  try {
    await clients.core.deleteNamespacedPod({
      name: pod.metadata?.name ?? "",
      namespace: pod.metadata?.namespace ?? "",
      gracePeriodSeconds,
      body: {
        preconditions: pod.metadata?.uid ? { uid: pod.metadata.uid } : undefined,
        gracePeriodSeconds,
      },
    });
    return { kind: "evicted" };
  } catch (e) {
    const code = apiStatusCode(e);
    // 409 on a UID precondition: the pod of that UID is gone (a new one has its name).
    if (code === 404 || code === 409) return { kind: "gone" };
    const reason = transientReason(e);
    if (reason !== undefined) return { kind: "transient", reason, message: apiErrorMessage(e) };
    return { kind: "error", code, message: apiErrorMessage(e) };
  }
}

/** The PodDisruptionBudgets of the pod's namespace whose selector matches the pod's labels. */
export function pdbsCoveringPod(
  pdbs: readonly V1PodDisruptionBudget[],
  pod: V1Pod,
): V1PodDisruptionBudget[] {
  const labels = pod.metadata?.labels ?? {};
  return pdbs.filter(
    (p) =>
      p.metadata?.namespace === pod.metadata?.namespace &&
      selectorMatches(p.spec?.selector as LabelSelector | undefined, labels),
  );
}

export function pdbBlock(p: V1PodDisruptionBudget): PdbBlock {
  return {
    name: `${p.metadata?.namespace ?? ""}/${p.metadata?.name ?? ""}`,
    disruptionsAllowed: p.status?.disruptionsAllowed,
    currentHealthy: p.status?.currentHealthy,
    desiredHealthy: p.status?.desiredHealthy,
    expectedPods: p.status?.expectedPods,
  };
}

/**
 * List the namespace's PodDisruptionBudgets and describe those covering the pod. Transient
 * failures are retried (`retry`; standalone: up to 120 s); any other failure is thrown as
 * "listing the PodDisruptionBudgets of namespace ...: <the server's message>", so a 403 names
 * the missing permission instead of reading as "no budget covers the pod".
 */
export async function blockingPdbs(
  clients: DrainClients,
  pod: V1Pod,
  retry: RetryOptions = {},
): Promise<PdbBlock[]> {
  const namespace = pod.metadata?.namespace ?? "";
  try {
    const list = await withTransientRetry(
      () => clients.policy.listNamespacedPodDisruptionBudget({ namespace }),
      retry,
    );
    return pdbsCoveringPod(list.items, pod).map(pdbBlock);
  } catch (e) {
    const what =
      `listing the PodDisruptionBudgets of namespace ${JSON.stringify(namespace)} ` +
      `(to name those covering pod ${namespace}/${pod.metadata?.name ?? ""})`;
    const readable = readableApiError(what, e);
    throw readable !== e ? readable : new Error(`${what}: ${apiErrorMessage(e)}`, { cause: e });
  }
}
