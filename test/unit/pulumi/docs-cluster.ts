/**
 * The cluster docs/pulumi.md's preview examples are made from (3 control-plane nodes and 5
 * workers at v1.34.2, as kubeadm deploys them): the live plan's input, built by hand, so that
 * docs-program.test.ts can check the doc shows exactly what the plan prints.
 */
import type { LiveClusterState, LiveComponent, LiveNode } from "../../../lib/core/live/state";
import type { UpgradeProgress } from "../../../lib/core/progress/annotation";

export const DOC_NODES = [
  { name: "cp-1", role: "control-plane" as const },
  { name: "cp-2", role: "control-plane" as const },
  { name: "cp-3", role: "control-plane" as const },
  ...Array.from({ length: 5 }, (_, i) => ({ name: `w-${i + 1}`, role: "worker" as const })),
];

const node = (name: string, kubeletVersion: string, o: Partial<LiveNode> = {}): LiveNode => {
  const cp = name.startsWith("cp");
  return {
    name,
    kubeletVersion,
    ready: true,
    roles: cp ? ["control-plane"] : [],
    role: cp ? "control-plane" : "worker",
    unschedulable: false,
    ...o,
  };
};

/** The cluster before the roll (`from`), or after it stopped at `stoppedAt` of run `runId`. */
export function docCluster(
  o: { stoppedAfter?: string[]; resume?: string; runId?: string } = {},
): LiveClusterState {
  const target = "v1.35.4";
  const done = new Set(o.stoppedAfter ?? []);
  const mark = (step: UpgradeProgress["step"], mode: "apply" | "node"): UpgradeProgress => ({
    runId: o.runId ?? `upgrade@${target}`,
    target,
    from: "v1.34.2",
    mode,
    step,
    at: "2026-03-01T10:00:00.000Z",
  });
  const nodes = DOC_NODES.map((n, i) => {
    if (done.has(n.name))
      return node(n.name, target, { progress: mark("uncordoned", i === 0 ? "apply" : "node") });
    if (o.resume === n.name)
      return node(n.name, target, {
        unschedulable: true,
        cordonedBy: o.runId ?? `upgrade@${target}`,
        progress: mark("upgraded", "node"),
      });
    return node(n.name, "v1.34.2");
  });
  const upgradedCps = DOC_NODES.filter((n) => n.role === "control-plane" && done.has(n.name));
  // in the order componentsOf gives them: each static pod kind per node, kube-proxy, CoreDNS, etcd
  const staticPod = (c: LiveComponent["component"], n: string, v: string): LiveComponent => ({
    component: c,
    node: n,
    image: `registry.k8s.io/${c}:${v}`,
    version: v,
  });
  const cps = ["cp-1", "cp-2", "cp-3"];
  const components: LiveComponent[] = [
    ...(["kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const).flatMap((c) =>
      cps.map((n) => staticPod(c, n, done.has(n) ? target : "v1.34.2")),
    ),
    {
      component: "kube-proxy",
      pods: 8,
      image: "registry.k8s.io/kube-proxy:v1.34.2",
      version: "v1.34.2",
    },
    {
      component: "coredns",
      pods: 2,
      image: "registry.k8s.io/coredns/coredns:v1.12.1",
      version: "v1.12.1",
    },
    ...cps.map((n) => staticPod("etcd", n, "3.6.5-0")),
  ];
  return {
    server: "https://10.0.0.10:6443",
    apiserverVersion: upgradedCps.length > 0 ? target : "v1.34.2",
    kubeadmVersion: upgradedCps.length > 0 ? target : "v1.34.2",
    nodes,
    components,
    notes: [],
  };
}
