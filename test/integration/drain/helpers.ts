/** Shared setup for the drain integration tests: nodes in a private pool, a namespace, cleanup. */
import { CoreV1Api, type KubeConfig, type V1Node } from "@kubernetes/client-node";
import {
  createNamespace,
  createNodes,
  deleteNamespace,
  deleteNodes,
  listPods,
  loadKubeConfig,
  uniqueName,
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
  readNode(name: string): Promise<V1Node>;
  /** node name of each pod matching the selector, by pod name */
  placement(selector: Record<string, string>): Promise<Record<string, string>>;
  cleanup(): Promise<void>;
}

export async function drainEnv(prefix: string): Promise<DrainEnv> {
  const kc = loadKubeConfig();
  const ns = await createNamespace(kc, prefix);
  const nodes: string[] = [];
  const core = kc.makeApiClient(CoreV1Api);
  return {
    kc,
    ns,
    async workers(p, count, cordoned = []) {
      const pool = uniqueName(p);
      const names = Array.from({ length: count }, (_, i) => `${pool}-${i}`);
      nodes.push(...names);
      await createNodes(
        kc,
        names.map((name, i) => ({
          name,
          role: "worker" as const,
          kubeletVersion: KUBELET_VERSION,
          pool,
          unschedulable: cordoned.includes(i),
          taints: [{ key: PRIVATE_TAINT, value: pool, effect: "NoSchedule" as const }],
        })),
      );
      return names;
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
