/**
 * readClusterState: the live plan's reads, through the roll's kubeconfig. Four GETs: the nodes
 * (nodes list), kube-system/kubeadm-config (configmaps get, that one object), kube-system's pods
 * (pods list) and /version (public). Only the node list is required; a ConfigMap or pod list that
 * is missing or refused is a note (the plan says what it could not read). Every request is
 * bounded by one deadline (`timeoutMs`) and aborted at it, so a server that does not answer ends
 * the read, instead of holding the Pulumi program until the connection times out.
 */
import type { KubeConfig, V1ConfigMap, V1Pod } from "@kubernetes/client-node";
import { apiErrorMessage, apiStatusCode, loadClientNode } from "../drain/client";
import { type LiveClusterState, componentsOf, kubeadmConfigVersion, liveNodeOf } from "./state";

export const DEFAULT_LIVE_READ_TIMEOUT_MS = 20_000;

export interface ReadClusterOptions {
  /** The whole read's deadline. @default 20000 */
  readonly timeoutMs?: number;
}

/** An error of the read that says which request failed (and keeps the status code). */
export class ClusterReadError extends Error {
  constructor(
    message: string,
    public readonly code?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ClusterReadError";
  }
}

export async function readClusterState(
  kc: KubeConfig,
  o: ReadClusterOptions = {},
): Promise<LiveClusterState> {
  const k8s = loadClientNode();
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new ClusterReadError("the kubeconfig names no cluster server");
  const timeoutMs = o.timeoutMs ?? DEFAULT_LIVE_READ_TIMEOUT_MS;
  const deadline = new AbortController();
  const timer = setTimeout(
    () => deadline.abort(new Error(`no answer from ${server} within ${timeoutMs / 1000} s`)),
    timeoutMs,
  );
  // every call carries the deadline's signal (client-node middleware, which works on its
  // Observable stub: an object whose toPromise() gives the value)
  const observable = <T>(v: T) => ({ toPromise: () => Promise.resolve(v) });
  const withSignal = {
    middleware: [
      {
        pre: (ctx: { setSignal(s: AbortSignal): void }) => {
          ctx.setSignal(deadline.signal);
          return observable(ctx);
        },
        post: <T>(r: T) => observable(r),
      },
    ],
    middlewareMergeStrategy: "append",
  } as unknown as Parameters<InstanceType<typeof k8s.CoreV1Api>["listNode"]>[1];
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const version = kc.makeApiClient(k8s.VersionApi);
  const why = (what: string, e: unknown) =>
    deadline.signal.aborted
      ? `${what}: ${(deadline.signal.reason as Error).message}`
      : `${what}: ${apiErrorMessage(e)}`;
  const notes: string[] = [];
  try {
    const [nodes, cm, pods, info] = await Promise.all([
      core.listNode({}, withSignal).catch((e: unknown) => {
        throw new ClusterReadError(why("listing the nodes", e), apiStatusCode(e), { cause: e });
      }),
      core
        .readNamespacedConfigMap({ namespace: "kube-system", name: "kubeadm-config" }, withSignal)
        .catch((e: unknown): V1ConfigMap | undefined => {
          notes.push(
            apiStatusCode(e) === 404
              ? "kube-system/kubeadm-config not found (not a kubeadm cluster?): whether kubeadm upgrade apply ran is judged from the control-plane kubelets"
              : `${why("reading kube-system/kubeadm-config", e)} (the control-plane kubelets decide where kubeadm upgrade apply runs)`,
          );
          return undefined;
        }),
      core
        .listNamespacedPod({ namespace: "kube-system" }, withSignal)
        .then((l) => l.items)
        .catch((e: unknown): V1Pod[] => {
          notes.push(`${why("listing the pods of kube-system", e)} (no component versions)`);
          return [];
        }),
      version.getCode(withSignal as never).catch((e: unknown) => {
        notes.push(why("reading /version", e));
        return undefined;
      }),
    ]);
    const kubeadmVersion = kubeadmConfigVersion(cm);
    if (cm && kubeadmVersion === undefined)
      notes.push("kube-system/kubeadm-config has no ClusterConfiguration kubernetesVersion");
    return {
      server,
      ...(info?.gitVersion ? { apiserverVersion: info.gitVersion } : {}),
      ...(kubeadmVersion ? { kubeadmVersion } : {}),
      nodes: nodes.items.map(liveNodeOf).sort((a, b) => a.name.localeCompare(b.name)),
      components: componentsOf(pods),
      notes,
    };
  } finally {
    clearTimeout(timer);
  }
}
