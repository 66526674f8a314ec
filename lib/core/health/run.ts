/**
 * Runs a node's health gate: each check's probe (the API reads of pods / rollout checks, the
 * HTTP GETs of http / prometheus checks) in its poll loop, all checks at once, and what each
 * ended with. The API reads are a pod list (pods list) and a workload read (deployments /
 * statefulsets / daemonsets get); a 401 / 403 fails the check at once with the server's message
 * (the verification kinds: after a grace period, {@link RESTARTED_SERVER_GRACE_MS}).
 */
import type { KubeConfig } from "@kubernetes/client-node";
import {
  type DrainClients,
  apiErrorMessage,
  isPermissionError,
  makeClients,
} from "../drain/client";
import {
  type ApiHealthCheck,
  checkTiming,
  healthCheckName,
  parseWorkload,
  redactUrl,
  selectorText,
} from "./checks";
import { httpGet } from "./http";
import { type Judgement, judgeHttp, judgePods, judgePrometheus, judgeRollout } from "./judge";
import { type CheckResult, FatalProbeError, pollCheck } from "./poll";
import {
  ADVERTISE_ENDPOINT_ANNOTATION,
  apiServerGet,
  judgeClusterVersion,
  judgeControlPlanePods,
  judgeReadyz,
} from "./verify";

/**
 * An API read's failure as what the attempt saw: fatal when the identity is refused, unless
 * `denialIsTransient` says a refusal may still pass (see {@link RESTARTED_SERVER_GRACE_MS}).
 */
function apiFailure(what: string, e: unknown, denialIsTransient = () => false): never {
  const m = `${what}: ${apiErrorMessage(e)}`;
  if (isPermissionError(e) && !denialIsTransient()) throw new FatalProbeError(m, { cause: e });
  throw new Error(m, { cause: e });
}

/**
 * The verification checks run right after kubeadm restarted the API server, which answers 401 /
 * 403 until its authorizer has synced (seen on the real nodes: `kubernetes-admin cannot list
 * pods` 5 s after `kubeadm upgrade apply`). For this long from their first attempt a refusal is
 * an attempt that did not pass; later it fails the check at once, as for the other kinds.
 */
export const RESTARTED_SERVER_GRACE_MS = 60_000;

function withinGrace(): () => boolean {
  let first: number | undefined;
  return () => {
    const t = Date.now();
    first ??= t;
    return t - first < RESTARTED_SERVER_GRACE_MS;
  };
}

/** One attempt of a check. */
export function probeOf(clients: DrainClients, c: ApiHealthCheck): () => Promise<Judgement> {
  switch (c.kind) {
    case "control-plane": {
      const grace = withinGrace();
      return async () => {
        grace();
        const list = await clients.core
          .listNamespacedPod({ namespace: "kube-system", fieldSelector: `spec.nodeName=${c.node}` })
          .catch((e: unknown) => apiFailure(`listing the kube-system pods on ${c.node}`, e, grace));
        const pods = judgeControlPlanePods(c.node, c.version, list.items);
        if (!pods.ok) return pods;
        const apiserver = list.items.find(
          (p) => p.metadata?.labels?.component === "kube-apiserver",
        );
        const endpoint = apiserver?.metadata?.annotations?.[ADVERTISE_ENDPOINT_ANNOTATION];
        const r = await apiServerGet(clients.kc, "/readyz?verbose", endpoint);
        const readyz = judgeReadyz(r.status, r.body);
        return readyz.ok
          ? {
              ok: true,
              message: `${pods.message}; ${endpoint ?? "the API server"} ${readyz.message}`,
            }
          : { ok: false, message: `${endpoint ?? "the API server"} ${readyz.message}` };
      };
    }
    case "cluster-version": {
      const grace = withinGrace();
      return async () => {
        grace();
        const read = <T>(what: string, p: Promise<T>) =>
          p.catch((e: unknown) => {
            if ((e as { code?: number }).code === 404) return undefined;
            return apiFailure(what, e, grace);
          });
        const [nodes, kubeProxy, coreDns, version] = await Promise.all([
          read("listing nodes", clients.core.listNode()),
          read(
            "reading kube-system/kube-proxy",
            clients.apps.readNamespacedDaemonSet({ namespace: "kube-system", name: "kube-proxy" }),
          ),
          read(
            "reading kube-system/coredns",
            clients.apps.readNamespacedDeployment({ namespace: "kube-system", name: "coredns" }),
          ),
          apiServerGet(clients.kc, "/version", undefined),
        ]);
        let serverVersion = `an answer ${version.status}`;
        try {
          serverVersion = (JSON.parse(version.body) as { gitVersion?: string }).gitVersion ?? "";
        } catch {
          // shown as the status
        }
        return judgeClusterVersion(c.version, {
          nodes: nodes?.items ?? [],
          names: c.nodes,
          kubeProxy,
          coreDns,
          serverVersion,
        });
      };
    }
    case "pods": {
      const labelSelector = selectorText(c.selector);
      return async () => {
        const list = await clients.core
          .listNamespacedPod({ namespace: c.namespace, labelSelector })
          .catch((e: unknown) => apiFailure(`listing pods ${labelSelector} in ${c.namespace}`, e));
        return judgePods(list.items, c.minPods ?? 1);
      };
    }
    case "rollout": {
      const w = parseWorkload(c.workload)!;
      const what = `reading ${c.workload} in ${c.namespace}`;
      return async () => {
        const args = { namespace: c.namespace, name: w.name };
        const obj = await (
          w.kind === "Deployment"
            ? clients.apps.readNamespacedDeployment(args)
            : w.kind === "StatefulSet"
              ? clients.apps.readNamespacedStatefulSet(args)
              : clients.apps.readNamespacedDaemonSet(args)
        ).catch((e: unknown) => apiFailure(what, e));
        return judgeRollout(w.kind, obj);
      };
    }
    case "http":
      return async () => {
        const r = await httpGet(c.url, c);
        return judgeHttp(r.status, r.body, c.expectStatus ?? 200);
      };
    case "prometheus": {
      const base = c.url.replace(/\/+$/, "");
      const url = `${base}/api/v1/query?query=${encodeURIComponent(c.query)}`;
      return async () => {
        const r = await httpGet(url, c).catch((e: unknown) => {
          throw new Error(`querying Prometheus at ${redactUrl(base)}: ${(e as Error).message}`);
        });
        return judgePrometheus(r.status, r.body);
      };
    }
  }
}

export interface HealthGateOptions {
  readonly signal?: AbortSignal;
  /** Told as each check ends (to record it). */
  readonly onResult?: (r: CheckResult) => void;
}

/** Runs every check at once; resolves with each one's result, in the checks' order. */
export async function runHealthChecks(
  kc: KubeConfig | DrainClients,
  checks: readonly ApiHealthCheck[],
  o: HealthGateOptions = {},
): Promise<CheckResult[]> {
  const clients = "core" in kc ? kc : makeClients(kc);
  return Promise.all(
    checks.map(async (c) => {
      const r = await pollCheck(healthCheckName(c), probeOf(clients, c), {
        ...checkTiming(c),
        signal: o.signal,
      });
      o.onResult?.(r);
      return r;
    }),
  );
}

/** The error of a gate whose checks did not all pass: each failed check with its output. */
export function healthGateError(nodeName: string, results: readonly CheckResult[]): Error {
  const failed = results.filter((r) => !r.passed);
  return new Error(
    `health gate after node ${nodeName} failed: ${failed.length} of ${results.length} check(s) did not pass; ` +
      `the roll stops here (the node is upgraded and uncordoned; the next node does not start). ` +
      `Fix what the checks show and run pulumi up again: the gate runs again before the roll goes on.\n` +
      failed.map((r) => `  - ${r.name}: ${r.message}`).join("\n"),
  );
}
