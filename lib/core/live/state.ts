/**
 * What the live plan reads from the cluster (read.ts) and how it is read out of the API objects:
 * each node's kubelet version, Ready, roles and kube-upkeep annotations; kubeadm's
 * ClusterConfiguration `kubernetesVersion`; the images of the control plane's static pods, etcd,
 * CoreDNS and kube-proxy. Pure: API objects in, plain data out (which a Pulumi program logs and a
 * test builds by hand).
 */
import type { V1ConfigMap, V1Node, V1Pod } from "@kubernetes/client-node";
import { CORDONED_BY_ANNOTATION } from "../drain/messages";
import { cordonOwner } from "../drain/cordon";
import type { NodeRole } from "../plan";
import {
  type UpgradeProgress,
  UPGRADE_ANNOTATION,
  parseUpgradeProgress,
} from "../progress/annotation";

/** A node as the cluster has it. */
export interface LiveNode {
  readonly name: string;
  readonly uid?: string;
  /** status.nodeInfo.kubeletVersion, "v1.34.4" ("" when the node has not reported one). */
  readonly kubeletVersion: string;
  readonly ready: boolean;
  /** The Ready condition's reason when not Ready. */
  readonly readyReason?: string;
  /** The node-role.kubernetes.io/<role> labels, e.g. ["control-plane"]. */
  readonly roles: readonly string[];
  /** control-plane when it has the control-plane (or the old master) role. */
  readonly role: NodeRole;
  readonly unschedulable: boolean;
  /** The kube-upkeep run that cordoned it (kube-upkeep.io/cordoned-by, when still its cordon). */
  readonly cordonedBy?: string;
  /** Its kube-upkeep.io/upgrade annotation. */
  readonly progress?: UpgradeProgress;
}

export type LiveComponentName =
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kube-scheduler"
  | "etcd"
  | "kube-proxy"
  | "coredns";

/** A component's pod image(s). Static pods: one per node; kube-proxy and CoreDNS: per version. */
export interface LiveComponent {
  readonly component: LiveComponentName;
  /** The node of a static pod. */
  readonly node?: string;
  /** How many pods run this image (kube-proxy, CoreDNS). */
  readonly pods?: number;
  readonly image: string;
  /** The image's tag ("v1.34.4", "3.6.5-0", "v1.12.1"). */
  readonly version: string;
}

export interface LiveClusterState {
  /** The API server URL read from. */
  readonly server?: string;
  /** /version's gitVersion. */
  readonly apiserverVersion?: string;
  /**
   * kubeadm's ClusterConfiguration kubernetesVersion (kube-system/kubeadm-config): what the
   * control plane is configured at, which `kubeadm upgrade apply` raises. Undefined when absent.
   */
  readonly kubeadmVersion?: string;
  readonly nodes: readonly LiveNode[];
  readonly components: readonly LiveComponent[];
  /** What could not be read and why (the plan shows them). */
  readonly notes: readonly string[];
}

const ROLE_PREFIX = "node-role.kubernetes.io/";

export function liveNodeOf(n: V1Node): LiveNode {
  const labels = n.metadata?.labels ?? {};
  const roles = Object.keys(labels)
    .filter((k) => k.startsWith(ROLE_PREFIX))
    .map((k) => k.slice(ROLE_PREFIX.length))
    .filter((r) => r !== "")
    .sort();
  const ready = (n.status?.conditions ?? []).find((c) => c.type === "Ready");
  const owner = n.spec?.unschedulable === true ? cordonOwner(n) : undefined;
  const progress = parseUpgradeProgress(n.metadata?.annotations?.[UPGRADE_ANNOTATION]);
  return {
    name: n.metadata?.name ?? "",
    ...(n.metadata?.uid ? { uid: n.metadata.uid } : {}),
    kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? "",
    ready: ready?.status === "True",
    ...(ready?.status !== "True" ? { readyReason: ready?.reason ?? "no Ready condition" } : {}),
    roles,
    role: roles.includes("control-plane") || roles.includes("master") ? "control-plane" : "worker",
    unschedulable: n.spec?.unschedulable === true,
    ...(owner !== undefined && n.metadata?.annotations?.[CORDONED_BY_ANNOTATION]
      ? { cordonedBy: owner }
      : {}),
    ...(progress ? { progress } : {}),
  };
}

/** ClusterConfiguration's kubernetesVersion from the kubeadm-config ConfigMap, or undefined. */
export function kubeadmConfigVersion(cm: V1ConfigMap | undefined): string | undefined {
  const text = cm?.data?.ClusterConfiguration;
  if (typeof text !== "string") return undefined;
  // one top-level scalar: a line of its own (kubeadm writes `kubernetesVersion: v1.34.4`)
  const m = /^kubernetesVersion:[ \t]*["']?([^"'\s#]+)["']?[ \t]*(#.*)?$/m.exec(text);
  return m?.[1];
}

/** The tag of an image reference ("registry.k8s.io/etcd:3.6.5-0@sha256:..." -> "3.6.5-0"). */
export function imageTag(image: string): string {
  const noDigest = image.split("@")[0]!;
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  return colon > slash ? noDigest.slice(colon + 1) : "latest";
}

const STATIC: readonly LiveComponentName[] = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "etcd",
];

/**
 * The components from kube-system's pods: kubeadm's static pods by their `component` label (one
 * row per node), kube-proxy (`k8s-app=kube-proxy`) and CoreDNS (`k8s-app=kube-dns`) one row per
 * image, with the number of pods.
 */
export function componentsOf(pods: readonly V1Pod[]): LiveComponent[] {
  const out: LiveComponent[] = [];
  const grouped = new Map<string, { component: LiveComponentName; image: string; pods: number }>();
  const container = (p: V1Pod, name: string) =>
    (p.spec?.containers ?? []).find((c) => c.name === name) ?? p.spec?.containers?.[0];
  for (const p of pods) {
    if (p.metadata?.deletionTimestamp) continue;
    const labels = p.metadata?.labels ?? {};
    const component = labels.component as LiveComponentName | undefined;
    if (component && STATIC.includes(component)) {
      const image = container(p, component)?.image;
      if (image) out.push({ component, node: p.spec?.nodeName, image, version: imageTag(image) });
      continue;
    }
    const app = labels["k8s-app"];
    const kind: LiveComponentName | undefined =
      app === "kube-proxy" ? "kube-proxy" : app === "kube-dns" ? "coredns" : undefined;
    if (!kind) continue;
    const image = container(p, kind)?.image;
    if (!image) continue;
    const key = `${kind} ${image}`;
    const g = grouped.get(key) ?? { component: kind, image, pods: 0 };
    g.pods++;
    grouped.set(key, g);
  }
  const order = (c: LiveComponentName) =>
    [
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kube-proxy",
      "coredns",
      "etcd",
    ].indexOf(c);
  const all: LiveComponent[] = [
    ...out,
    ...[...grouped.values()].map((g) => ({ ...g, version: imageTag(g.image) })),
  ];
  return all.sort(
    (a, b) =>
      order(a.component) - order(b.component) ||
      (a.node ?? "").localeCompare(b.node ?? "") ||
      a.version.localeCompare(b.version),
  );
}
