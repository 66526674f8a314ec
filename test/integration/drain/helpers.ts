/** Shared setup for the drain integration tests: nodes in a private pool, a namespace, cleanup. */
import { CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from "@kubernetes/client-node";
import {
  createDeployment,
  createNamespace,
  createWorkerPool,
  deleteNamespace,
  deleteNodes,
  listPods,
  loadKubeConfig,
  setUnschedulable,
  waitForReadyPods,
} from "../../cluster/fixtures";

export const KUBELET_VERSION = "v1.35.4";

/**
 * The cluster is shared by every integration test file, and some apply unpinned workloads: our
 * nodes carry this NoSchedule taint so only our pods (which tolerate it) are scheduled there.
 */
export const PRIVATE_TAINT = "kube-upkeep.test/drain-private";
export const TOLERATIONS = [{ key: PRIVATE_TAINT, operator: "Exists", effect: "NoSchedule" }];

export interface DrainEnv {
  kc: KubeConfig;
  ns: string;
  /** Creates worker nodes <pool>-0.. in one pool; indexes in `cordoned` are created unschedulable. */
  workers(prefix: string, count: number, cordoned?: number[]): Promise<string[]>;
  /**
   * Two workers a and b and a 2-replica Deployment `app` whose pods all run on a (b is cordoned
   * while they schedule, then made schedulable so evictions from a can land there).
   */
  podsToEvict(prefix: string, app: string): Promise<{ a: string; b: string; pods: V1Pod[] }>;
  readNode(name: string): Promise<V1Node>;
  /** node name of each pod matching the selector, by pod name */
  placement(selector: Record<string, string>): Promise<Record<string, string>>;
  cleanup(): Promise<void>;
}

/** `kc`: another cluster than the shared one (e.g. a test's own, for faults on the control plane). */
export async function drainEnv(
  prefix: string,
  kc: KubeConfig = loadKubeConfig(),
): Promise<DrainEnv> {
  const ns = await createNamespace(kc, prefix);
  const nodes: string[] = [];
  const core = kc.makeApiClient(CoreV1Api);
  const workers: DrainEnv["workers"] = async (p, count, cordoned = []) => {
    const { names } = await createWorkerPool(kc, p, count, {
      kubeletVersion: KUBELET_VERSION,
      cordoned,
      taints: (pool) => [{ key: PRIVATE_TAINT, value: pool, effect: "NoSchedule" as const }],
    });
    nodes.push(...names);
    return names;
  };
  return {
    kc,
    ns,
    workers,
    async podsToEvict(p, app) {
      const [a, b] = await workers(p, 2, [1]);
      await createDeployment(kc, ns, {
        name: app,
        replicas: 2,
        nodeNames: [a, b],
        tolerations: TOLERATIONS,
      });
      const pods = await waitForReadyPods(kc, ns, { app }, 2);
      await setUnschedulable(kc, b, false);
      return { a, b, pods };
    },
    readNode: (name) => core.readNode({ name }),
    async placement(selector) {
      const pods = await listPods(kc, ns, selector);
      return Object.fromEntries(
        pods
          .filter((p) => !p.metadata?.deletionTimestamp)
          .map((p) => [p.metadata?.name ?? "", p.spec?.nodeName ?? ""]),
      );
    },
    async cleanup() {
      await deleteNamespace(kc, ns);
      await deleteNodes(kc, nodes);
    },
  };
}

/** Records every progress callback of a drain. */
export function recorder() {
  const events: { kind: string; message: string }[] = [];
  const push = (kind: string) => (e: { message: string } | string) =>
    events.push({ kind, message: typeof e === "string" ? e : e.message });
  return {
    events,
    callbacks: {
      onCordoned: push("cordoned"),
      onEvicting: push("evicting"),
      onPdbRetry: push("pdbRetry"),
      onDeleted: push("deleted"),
      onWarning: push("warning"),
    },
    of: (kind: string) => events.filter((e) => e.kind === kind).map((e) => e.message),
  };
}
