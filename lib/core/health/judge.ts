/**
 * What one attempt of a check saw, from what it read: pure functions of the API objects and the
 * HTTP answers, so every rule is unit-tested without a cluster. A judgement is `ok` (the check
 * passed), or not ok with what was seen; `fatal` means waiting cannot help (kubectl rollout status
 * gives up the same way: a Deployment past its progress deadline, an OnDelete strategy).
 *
 * The rollout rules are kubectl's (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go,
 * v0.35), messages included.
 */
import type { V1DaemonSet, V1Deployment, V1Pod, V1StatefulSet } from "@kubernetes/client-node";
import type { WorkloadKind } from "./checks";

export interface Judgement {
  readonly ok: boolean;
  readonly message: string;
  readonly fatal?: boolean;
}

const ok = (message: string): Judgement => ({ ok: true, message });
const waiting = (message: string): Judgement => ({ ok: false, message });
const fatal = (message: string): Judgement => ({ ok: false, message, fatal: true });

/**
 * Why a pod is not Ready: its Ready condition's reason and message, else the first condition that
 * is not True (a Pending pod's PodScheduled: "Unschedulable: 0/5 nodes are available: ..."), else
 * its phase. Cut to 160 characters.
 */
function notReadyReason(p: V1Pod): string {
  const conditions = p.status?.conditions ?? [];
  const c =
    conditions.find((x) => x.type === "Ready" && x.status !== "True") ??
    conditions.find((x) => x.status !== "True");
  const text = c
    ? [c.reason, c.message].filter(Boolean).join(": ") || `${c.type}=${c.status}`
    : `phase ${p.status?.phase ?? "Unknown"}`;
  return bodyExcerpt(text, 160);
}

/**
 * Every pod Ready, at least `minPods` of them. Pods that completed (Succeeded) and pods being
 * deleted are left out: neither will become Ready, and neither is what serves.
 */
export function judgePods(pods: readonly V1Pod[], minPods = 1): Judgement {
  const counted = pods.filter(
    (p) => p.status?.phase !== "Succeeded" && !p.metadata?.deletionTimestamp,
  );
  const notReady = counted.filter(
    (p) => !(p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
  );
  const ready = counted.length - notReady.length;
  if (counted.length < minPods)
    return waiting(`${counted.length} pod(s) match, at least ${minPods} expected`);
  if (notReady.length > 0) {
    const shown = notReady
      .slice(0, 5)
      .map((p) => `${p.metadata?.name} on ${p.spec?.nodeName || "no node"} (${notReadyReason(p)})`);
    return waiting(
      `${ready} of ${counted.length} pod(s) Ready; not Ready: ${shown.join(", ")}` +
        (notReady.length > 5 ? `, and ${notReady.length - 5} more` : ""),
    );
  }
  return ok(`${ready} of ${counted.length} pod(s) Ready`);
}

/** kubectl rollout status, for one read of the workload. */
export function judgeRollout(
  kind: WorkloadKind,
  obj: V1Deployment | V1StatefulSet | V1DaemonSet,
): Judgement {
  const name = obj.metadata?.name ?? "";
  const generation = obj.metadata?.generation ?? 0;
  if (kind === "Deployment") {
    const d = obj as V1Deployment;
    const s = d.status ?? {};
    if (generation > (s.observedGeneration ?? 0))
      return waiting("Waiting for deployment spec update to be observed...");
    const progressing = (s.conditions ?? []).find((c) => c.type === "Progressing");
    if (progressing?.reason === "ProgressDeadlineExceeded")
      return fatal(`deployment ${JSON.stringify(name)} exceeded its progress deadline`);
    const replicas = d.spec?.replicas;
    const updated = s.updatedReplicas ?? 0;
    if (replicas !== undefined && updated < replicas)
      return waiting(
        `Waiting for deployment ${JSON.stringify(name)} rollout to finish: ${updated} out of ${replicas} new replicas have been updated...`,
      );
    if ((s.replicas ?? 0) > updated)
      return waiting(
        `Waiting for deployment ${JSON.stringify(name)} rollout to finish: ${(s.replicas ?? 0) - updated} old replicas are pending termination...`,
      );
    if ((s.availableReplicas ?? 0) < updated)
      return waiting(
        `Waiting for deployment ${JSON.stringify(name)} rollout to finish: ${s.availableReplicas ?? 0} of ${updated} updated replicas are available...`,
      );
    return ok(`deployment ${JSON.stringify(name)} successfully rolled out`);
  }
  if (kind === "DaemonSet") {
    const ds = obj as V1DaemonSet;
    const s = ds.status;
    if ((ds.spec?.updateStrategy?.type ?? "RollingUpdate") !== "RollingUpdate")
      return fatal("rollout status is only available for RollingUpdate strategy type");
    if (generation > (s?.observedGeneration ?? 0))
      return waiting("Waiting for daemon set spec update to be observed...");
    const desired = s?.desiredNumberScheduled ?? 0;
    if ((s?.updatedNumberScheduled ?? 0) < desired)
      return waiting(
        `Waiting for daemon set ${JSON.stringify(name)} rollout to finish: ${s?.updatedNumberScheduled ?? 0} out of ${desired} new pods have been updated...`,
      );
    if ((s?.numberAvailable ?? 0) < desired)
      return waiting(
        `Waiting for daemon set ${JSON.stringify(name)} rollout to finish: ${s?.numberAvailable ?? 0} of ${desired} updated pods are available...`,
      );
    return ok(`daemon set ${JSON.stringify(name)} successfully rolled out`);
  }
  const sts = obj as V1StatefulSet;
  const s = sts.status;
  const strategy = sts.spec?.updateStrategy;
  if ((strategy?.type ?? "RollingUpdate") !== "RollingUpdate")
    return fatal("rollout status is only available for RollingUpdate strategy type");
  if (!s?.observedGeneration || generation > s.observedGeneration)
    return waiting("Waiting for statefulset spec update to be observed...");
  const replicas = sts.spec?.replicas;
  if (replicas !== undefined && (s.readyReplicas ?? 0) < replicas)
    return waiting(`Waiting for ${replicas - (s.readyReplicas ?? 0)} pods to be ready...`);
  if (strategy?.rollingUpdate) {
    const partition = strategy.rollingUpdate.partition;
    if (
      replicas !== undefined &&
      partition !== undefined &&
      (s.updatedReplicas ?? 0) < replicas - partition
    )
      return waiting(
        `Waiting for partitioned roll out to finish: ${s.updatedReplicas ?? 0} out of ${replicas - partition} new pods have been updated...`,
      );
    return ok(
      `partitioned roll out complete: ${s.updatedReplicas ?? 0} new pods have been updated...`,
    );
  }
  if (s.updateRevision !== s.currentRevision)
    return waiting(
      `waiting for statefulset rolling update to complete ${s.updatedReplicas ?? 0} pods at revision ${s.updateRevision}...`,
    );
  return ok(
    `statefulset rolling update complete ${s.currentReplicas ?? 0} pods at revision ${s.currentRevision}...`,
  );
}

/** The start of a body, on one line, for messages. */
export function bodyExcerpt(body: string, max = 200): string {
  const one = body.replace(/\s+/g, " ").trim();
  return one.length > max ? `${one.slice(0, max - 3)}...` : one;
}

/** An HTTP answer against the expected statuses. */
export function judgeHttp(
  status: number,
  body: string,
  expect: number | readonly number[] = 200,
): Judgement {
  const wanted = Array.isArray(expect) ? expect : [expect as number];
  const text = `HTTP ${status}${body.trim() ? `: ${bodyExcerpt(body)}` : ""}`;
  return wanted.includes(status) ? ok(text) : waiting(`${text} (expected ${wanted.join(" or ")})`);
}

/** One series of a Prometheus answer as `name{label="v",...} value`. */
function seriesText(s: {
  metric?: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}): string {
  const { __name__: name, ...labels } = s.metric ?? {};
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(", ");
  const value = s.value?.[1] ?? s.values?.[s.values.length - 1]?.[1];
  return `${name ?? ""}{${l}}${value !== undefined ? ` ${value}` : ""}`;
}

/**
 * A Prometheus /api/v1/query answer: passes when the result has no series. An error answer, a
 * scalar or a string result is not a pass (a query that cannot return series cannot say "none").
 */
export function judgePrometheus(status: number, body: string): Judgement {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return waiting(`HTTP ${status}, not a Prometheus answer: ${bodyExcerpt(body)}`);
  }
  const p = parsed as {
    status?: string;
    error?: string;
    errorType?: string;
    data?: { resultType?: string; result?: unknown };
  };
  if (p.status !== "success") {
    const m = `Prometheus answered ${p.errorType ?? `HTTP ${status}`}: ${p.error ?? bodyExcerpt(body)}`;
    // a query Prometheus cannot parse will not parse on the next attempt either
    return p.errorType === "bad_data" ? fatal(m) : waiting(m);
  }
  const type = p.data?.resultType;
  if (type !== "vector" && type !== "matrix")
    return fatal(
      `the query returns a ${type ?? "?"}, not series: write one that returns series, e.g. ALERTS{alertstate="firing"}`,
    );
  const result = Array.isArray(p.data?.result)
    ? (p.data!.result as Parameters<typeof seriesText>[0][])
    : [];
  if (result.length === 0) return ok("no series");
  return waiting(
    `${result.length} series: ${result.slice(0, 5).map(seriesText).join("; ")}` +
      (result.length > 5 ? `; and ${result.length - 5} more` : ""),
  );
}
