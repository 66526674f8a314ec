/**
 * Fixture API for integration tests against the local control plane (kwok-simulated nodes,
 * real kube-apiserver / controller-manager / scheduler). The jest globalSetup
 * (test/cluster/global-setup.ts) starts the cluster and sets process.env.KUBECONFIG.
 *
 * Isolation: one cluster serves all test files, and jest runs files in parallel. Nodes are
 * cluster-scoped, so:
 *  - name nodes uniquely (uniqueName("drain")) and delete them in afterAll (deleteNodes);
 *  - pin every workload to your own nodes (nodeNames / nodeSelector / nodeName), otherwise
 *    the scheduler may place pods on another test's nodes (and DaemonSets land everywhere).
 * createNodes labels each node with kube-upkeep.test/pool=<pool> (default: the node name)
 * so `nodeSelector: { "kube-upkeep.test/pool": pool }` selects one test's nodes.
 */
import { randomBytes } from "node:crypto";
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Container,
  type V1Node,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1PodDisruptionBudgetStatus,
  type V1PodSpec,
  type V1Toleration,
  type V1Volume,
} from "@kubernetes/client-node";

/** Image recorded in pod specs; kwok never pulls it. */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10";
/** Label createNodes puts on every node (value: spec.pool, or the node name). */
export const POOL_LABEL = "kube-upkeep.test/pool";
/** Label on every namespace createNamespace makes. */
export const TEST_NAMESPACE_LABEL = "kube-upkeep.test/namespace";
export const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";
export const MIRROR_ANNOTATION = "kubernetes.io/config.mirror";

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/**
 * The KubeConfig of the cluster the integration project runs against (process.env.KUBECONFIG,
 * set by the jest globalSetup).
 */
export function loadKubeConfig(): KubeConfig {
  const path = process.env.KUBECONFIG;
  if (!path) {
    throw new Error(
      "KUBECONFIG is not set: integration tests need the local control plane. Run them through the " +
        "integration project (`jest --selectProjects integration ...` or `npm test`), whose globalSetup " +
        "starts the cluster and sets KUBECONFIG, or start one with `npm run cluster:up` and export the " +
        "KUBECONFIG it prints (or set KU_KUBECONFIG to use an existing cluster).",
    );
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** A DNS-1123 name unique for this process: `<prefix>-<8 hex>`. */
export function uniqueName(prefix: string): string {
  const p = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  return `${p || "t"}-${randomBytes(4).toString("hex")}`;
}

/** HTTP status of a client-node error (ApiException), or undefined. */
export function statusOf(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : (e as { code?: number } | undefined)?.code;
}

export interface WaitOptions {
  /** @default 60000 */
  readonly timeoutMs?: number;
  /** @default 250 */
  readonly intervalMs?: number;
  /** Describes the condition in the timeout message. */
  readonly what?: string;
}

/**
 * Polls fn until it returns a value other than undefined / null / false and returns it.
 * Errors thrown by fn are remembered and polling goes on; on timeout throws with `what` and
 * the last error or value.
 */
export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== null && v !== false) return v as T;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail =
        last instanceof Error
          ? `last error: ${last.message}`
          : `last value: ${JSON.stringify(last)}`;
      throw new Error(
        `timed out after ${timeoutMs}ms waiting for ${opts.what ?? "condition"} (${detail})`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Creates a namespace `<prefix>-<random>` and waits for its default ServiceAccount. */
export async function createNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = uniqueName(prefix);
  await core.createNamespace({
    body: { metadata: { name, labels: { [TEST_NAMESPACE_LABEL]: "true" } } },
  });
  await waitFor(() => core.readNamespacedServiceAccount({ name: "default", namespace: name }), {
    timeoutMs: 30_000,
    what: `ServiceAccount ${name}/default (created by the controller-manager)`,
  });
  return name;
}

/** Deletes a namespace (does not wait for it to be gone). */
export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  try {
    await kc.makeApiClient(CoreV1Api).deleteNamespace({ name });
  } catch (e) {
    if (statusOf(e) !== 404) throw e;
  }
}

export interface NodeSpec {
  readonly name: string;
  readonly role: "control-plane" | "worker";
  /** status.nodeInfo.kubeletVersion, e.g. "v1.34.2". */
  readonly kubeletVersion: string;
  /** Create the node cordoned. */
  readonly unschedulable?: boolean;
  /** Value of the kube-upkeep.test/pool label. @default the node name */
  readonly pool?: string;
  readonly labels?: Record<string, string>;
  readonly taints?: {
    key: string;
    value?: string;
    effect: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  }[];
}

function nodeManifest(s: NodeSpec): V1Node {
  const cp = s.role === "control-plane";
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: s.name,
      annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
      labels: {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": s.name,
        "kubernetes.io/role": cp ? "control-plane" : "worker",
        type: "kwok",
        [POOL_LABEL]: s.pool ?? s.name,
        ...(cp ? { [CONTROL_PLANE_LABEL]: "" } : {}),
        ...s.labels,
      },
    },
    spec: {
      unschedulable: s.unschedulable ? true : undefined,
      taints: [
        ...(cp ? [{ key: CONTROL_PLANE_LABEL, effect: "NoSchedule" }] : []),
        ...(s.taints ?? []),
      ],
    },
    status: {
      allocatable: { cpu: "32", memory: "256Gi", pods: "110" },
      capacity: { cpu: "32", memory: "256Gi", pods: "110" },
      nodeInfo: {
        architecture: "amd64",
        bootID: "",
        containerRuntimeVersion: "kwok",
        kernelVersion: "kwok",
        kubeProxyVersion: s.kubeletVersion,
        kubeletVersion: s.kubeletVersion,
        machineID: "",
        operatingSystem: "linux",
        osImage: "kwok",
        systemUUID: "",
      },
      phase: "Running",
    },
  };
}

function isNodeReady(n: V1Node): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/**
 * Creates `count` worker nodes named <pool>-0.. in one new pool (uniqueName(prefix)); indexes in
 * `cordoned` are created unschedulable, every node carries `taints(pool)`. Waits until each is
 * Ready.
 */
export async function createWorkerPool(
  kc: KubeConfig,
  prefix: string,
  count: number,
  opts: {
    kubeletVersion: string;
    cordoned?: readonly number[];
    taints?: (pool: string) => NodeSpec["taints"];
  },
): Promise<{ pool: string; names: string[] }> {
  const pool = uniqueName(prefix);
  const names = Array.from({ length: count }, (_, i) => `${pool}-${i}`);
  await createNodes(
    kc,
    names.map((name, i) => ({
      name,
      role: "worker" as const,
      kubeletVersion: opts.kubeletVersion,
      pool,
      unschedulable: opts.cordoned?.includes(i),
      ...(opts.taints ? { taints: opts.taints(pool) } : {}),
    })),
  );
  return { pool, names };
}

/**
 * Creates kwok nodes (control-plane: label node-role.kubernetes.io/control-plane="" and its
 * NoSchedule taint) and waits until kwok reports each Ready with the requested kubeletVersion.
 */
export async function createNodes(kc: KubeConfig, specs: readonly NodeSpec[]): Promise<V1Node[]> {
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(specs.map((s) => core.createNode({ body: nodeManifest(s) })));
  return Promise.all(
    specs.map((s) =>
      waitFor(
        async () => {
          const n = await core.readNode({ name: s.name });
          if (!isNodeReady(n)) return undefined;
          if (n.status?.nodeInfo?.kubeletVersion !== s.kubeletVersion) {
            await core.patchNodeStatus(
              {
                name: s.name,
                body: { status: { nodeInfo: { kubeletVersion: s.kubeletVersion } } },
              },
              MERGE_PATCH,
            );
            return undefined;
          }
          return n;
        },
        {
          timeoutMs: 60_000,
          what: `node ${s.name} Ready (kwok node-initialize stage) at ${s.kubeletVersion}`,
        },
      ),
    ),
  );
}

/** Deletes nodes and waits until they are gone (pods bound to them are garbage-collected later). */
export async function deleteNodes(kc: KubeConfig, names: readonly string[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(
    names.map(async (name) => {
      try {
        await core.deleteNode({ name });
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
      await waitFor(
        async () => {
          try {
            await core.readNode({ name });
            return false;
          } catch (e) {
            if (statusOf(e) === 404) return true;
            throw e;
          }
        },
        { timeoutMs: 30_000, what: `node ${name} deleted` },
      );
    }),
  );
}

/** Sets spec.unschedulable (cordon / uncordon) directly, for test setup. */
export async function setUnschedulable(
  kc: KubeConfig,
  name: string,
  unschedulable: boolean,
): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .patchNode({ name, body: { spec: { unschedulable: unschedulable || null } } }, MERGE_PATCH);
}

export interface PodTemplateOptions {
  /** Pod labels (also the selector of controllers). @default { app: name } */
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** spec.nodeName: bypasses the scheduler (recreated pods land on that node even if cordoned). */
  readonly nodeName?: string;
  readonly nodeSelector?: Record<string, string>;
  /** Required node affinity: kubernetes.io/hostname In nodeNames (the scheduler spreads replicas). */
  readonly nodeNames?: readonly string[];
  readonly tolerations?: V1Toleration[];
  /** Mount an emptyDir volume "scratch" at /scratch. */
  readonly emptyDir?: boolean;
  /** @default 0 */
  readonly terminationGracePeriodSeconds?: number;
}

function podSpec(o: PodTemplateOptions): V1PodSpec {
  const container: V1Container = { name: "main", image: PAUSE_IMAGE };
  const volumes: V1Volume[] = [];
  if (o.emptyDir) {
    volumes.push({ name: "scratch", emptyDir: {} });
    container.volumeMounts = [{ name: "scratch", mountPath: "/scratch" }];
  }
  return {
    containers: [container],
    volumes: volumes.length ? volumes : undefined,
    nodeName: o.nodeName,
    nodeSelector: o.nodeSelector,
    affinity: o.nodeNames?.length
      ? {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: "kubernetes.io/hostname", operator: "In", values: [...o.nodeNames] },
                  ],
                },
              ],
            },
          },
        }
      : undefined,
    tolerations: o.tolerations,
    terminationGracePeriodSeconds: o.terminationGracePeriodSeconds ?? 0,
    automountServiceAccountToken: false,
  };
}

export interface WorkloadOptions extends PodTemplateOptions {
  readonly name: string;
}

export interface ReplicatedOptions extends WorkloadOptions {
  readonly replicas: number;
}

function labelsOf(o: WorkloadOptions): Record<string, string> {
  return o.labels ?? { app: o.name };
}

export async function createDeployment(kc: KubeConfig, ns: string, o: ReplicatedOptions) {
  const labels = labelsOf(o);
  return kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: o.name, labels },
      spec: {
        replicas: o.replicas,
        selector: { matchLabels: labels },
        template: { metadata: { labels, annotations: o.annotations }, spec: podSpec(o) },
      },
    },
  });
}

export async function createStatefulSet(kc: KubeConfig, ns: string, o: ReplicatedOptions) {
  const labels = labelsOf(o);
  return kc.makeApiClient(AppsV1Api).createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name: o.name, labels },
      spec: {
        replicas: o.replicas,
        serviceName: o.name,
        podManagementPolicy: "Parallel",
        selector: { matchLabels: labels },
        template: { metadata: { labels, annotations: o.annotations }, spec: podSpec(o) },
      },
    },
  });
}

/** A DaemonSet; pin it (nodeSelector / nodeNames) or it runs on every test's nodes. */
export async function createDaemonSet(kc: KubeConfig, ns: string, o: WorkloadOptions) {
  const labels = labelsOf(o);
  return kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
    namespace: ns,
    body: {
      metadata: { name: o.name, labels },
      spec: {
        selector: { matchLabels: labels },
        template: { metadata: { labels, annotations: o.annotations }, spec: podSpec(o) },
      },
    },
  });
}

export interface BarePodOptions {
  readonly name: string;
  readonly nodeName: string;
  readonly emptyDir?: boolean;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** Add kubernetes.io/config.mirror (what the kubelet sets on a static pod's mirror). */
  readonly mirror?: boolean;
}

/** A pod without a controller, bound to nodeName; with mirror: true it looks like a static pod's mirror. */
export async function createBarePod(kc: KubeConfig, ns: string, o: BarePodOptions): Promise<V1Pod> {
  const annotations = {
    ...(o.mirror ? { [MIRROR_ANNOTATION]: `kube-upkeep-test-${o.name}` } : {}),
    ...o.annotations,
  };
  return kc.makeApiClient(CoreV1Api).createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name: o.name,
        labels: o.labels ?? { app: o.name },
        annotations: Object.keys(annotations).length ? annotations : undefined,
      },
      spec: podSpec({ nodeName: o.nodeName, emptyDir: o.emptyDir }),
    },
  });
}

export interface PdbOptions {
  readonly name: string;
  /** matchLabels of the budget. */
  readonly selector: Record<string, string>;
  readonly minAvailable?: number | string;
  readonly maxUnavailable?: number | string;
  readonly unhealthyPodEvictionPolicy?: "IfHealthyBudget" | "AlwaysAllow";
}

export async function createPdb(
  kc: KubeConfig,
  ns: string,
  o: PdbOptions,
): Promise<V1PodDisruptionBudget> {
  return kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
    namespace: ns,
    body: {
      metadata: { name: o.name },
      spec: {
        selector: { matchLabels: o.selector },
        minAvailable: o.minAvailable,
        maxUnavailable: o.maxUnavailable,
        unhealthyPodEvictionPolicy: o.unhealthyPodEvictionPolicy,
      },
    },
  });
}

export function isPodReady(p: V1Pod): boolean {
  return (
    !p.metadata?.deletionTimestamp &&
    p.status?.phase === "Running" &&
    (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

function selectorString(selector: string | Record<string, string>): string {
  return typeof selector === "string"
    ? selector
    : Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
}

/** Lists pods matching a label selector (string or matchLabels). */
export async function listPods(
  kc: KubeConfig,
  ns: string,
  selector: string | Record<string, string>,
) {
  const res = await kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: ns, labelSelector: selectorString(selector) });
  return res.items;
}

/** Waits until exactly n matching pods are Running and Ready (none terminating) and returns them. */
export async function waitForReadyPods(
  kc: KubeConfig,
  ns: string,
  selector: string | Record<string, string>,
  n: number,
  opts: WaitOptions = {},
): Promise<V1Pod[]> {
  return waitFor(
    async () => {
      const pods = await listPods(kc, ns, selector);
      const ready = pods.filter(isPodReady);
      return ready.length === n && pods.length === n ? ready : undefined;
    },
    {
      timeoutMs: 90_000,
      ...opts,
      what: opts.what ?? `${n} ready pods ${selectorString(selector)} in ${ns}`,
    },
  );
}

/**
 * Waits until the PDB's status (computed by the disruption controller for the current
 * generation) satisfies the expectation: an object of expected fields, or a predicate.
 */
export async function waitForPdbStatus(
  kc: KubeConfig,
  ns: string,
  name: string,
  expected: Partial<V1PodDisruptionBudgetStatus> | ((s: V1PodDisruptionBudgetStatus) => boolean),
  opts: WaitOptions = {},
): Promise<V1PodDisruptionBudgetStatus> {
  const policy = kc.makeApiClient(PolicyV1Api);
  return waitFor(
    async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name, namespace: ns });
      const s = pdb.status;
      if (!s || s.observedGeneration !== pdb.metadata?.generation) return undefined;
      const ok =
        typeof expected === "function"
          ? expected(s)
          : Object.entries(expected).every(
              ([k, v]) => (s as unknown as Record<string, unknown>)[k] === v,
            );
      return ok ? s : undefined;
    },
    {
      timeoutMs: 60_000,
      ...opts,
      what: opts.what ?? `PDB ${ns}/${name} status ${JSON.stringify(expected)}`,
    },
  );
}

export async function scaleDeployment(
  kc: KubeConfig,
  ns: string,
  name: string,
  replicas: number,
): Promise<void> {
  await kc
    .makeApiClient(AppsV1Api)
    .patchNamespacedDeploymentScale(
      { name, namespace: ns, body: { spec: { replicas } } },
      MERGE_PATCH,
    );
}

/**
 * Evicts a pod through the policy/v1 eviction subresource. Resolves with the HTTP status:
 * 201 when the eviction was accepted, 429 when a PDB refused it, other error codes as returned.
 */
export async function evictPod(
  kc: KubeConfig,
  ns: string,
  name: string,
): Promise<{ status: number; message: string }> {
  try {
    await kc.makeApiClient(CoreV1Api).createNamespacedPodEviction({
      name,
      namespace: ns,
      body: { apiVersion: "policy/v1", kind: "Eviction", metadata: { name, namespace: ns } },
    });
    return { status: 201, message: "" };
  } catch (e) {
    const code = statusOf(e);
    if (code === undefined) throw e;
    const body = (e as ApiException<unknown>).body;
    let message = typeof body === "string" ? body : JSON.stringify(body);
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {
      // not JSON
    }
    return { status: code, message };
  }
}
