/**
 * The live plan, pure parts: the cluster as read out of API objects (nodes, kubeadm-config,
 * kube-system's pods), the declared roll checked against it (every disagreement an error naming
 * the node), the plan from the cluster's versions (nodes at the target up to date, kubeadm
 * upgrade apply only while the control plane is below the target, a run's own nodes kept with
 * their recorded mode, resumed when not uncordoned) and its table. The reads against the API
 * server are test/integration/live.
 */
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import { ValidationErrors } from "../../../../lib/core/errors";
import {
  componentsOf,
  imageTag,
  kubeadmConfigVersion,
  liveNodeOf,
  type LiveClusterState,
  type LiveNode,
} from "../../../../lib/core/live/state";
import { planComponents } from "../../../../lib/core/live/components";
import { reconcileWithCluster } from "../../../../lib/core/live/reconcile";
import { formatPlan, type UpgradePlan } from "../../../../lib/core/plan";
import { planFromCluster } from "../../../../lib/pulumi/live-plan";
import {
  formatUpgradeProgress,
  UPGRADE_ANNOTATION,
  type UpgradeProgress,
} from "../../../../lib/core/progress/annotation";

const T = "v1.35.4";
const RUN = `upgrade@${T}`;

function liveNode(name: string, kubeletVersion: string, o: Partial<LiveNode> = {}): LiveNode {
  const role = o.role ?? (name.startsWith("cp") ? "control-plane" : "worker");
  return {
    name,
    kubeletVersion,
    ready: true,
    roles: role === "control-plane" ? ["control-plane"] : [],
    role,
    unschedulable: false,
    ...o,
  };
}

function cluster(nodes: LiveNode[], kubeadmVersion?: string): LiveClusterState {
  return {
    server: "https://10.0.0.10:6443",
    apiserverVersion: "v1.34.4",
    ...(kubeadmVersion ? { kubeadmVersion } : {}),
    nodes,
    components: [],
    notes: [],
  };
}

const declared = (names: string[], extra: { version?: Record<string, string> } = {}) =>
  names.map((name) => ({
    name,
    role: (name.startsWith("cp") ? "control-plane" : "worker") as "control-plane" | "worker",
    version: extra.version?.[name],
  }));

/** The plan as ClusterUpgrade's live plan makes it (lib/pulumi/live-plan.ts). */
function livePlan(
  names: string[],
  live: LiveClusterState,
  o: { currentVersion?: string; allowUnlistedNodes?: boolean; maxUnavailable?: number } = {},
): UpgradePlan {
  return planFromCluster(
    {
      where: "ClusterUpgrade up",
      declared: {
        nodes: declared(names),
        currentVersion: o.currentVersion,
        targetVersion: T,
        maxUnavailable: o.maxUnavailable,
      },
      runId: RUN,
      allowUnlistedNodes: o.allowUnlistedNodes,
    },
    live,
  ).plan;
}

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ValidationErrors) return e.errors.map((x) => x.message);
    throw e;
  }
  return [];
}

const progress = (
  step: UpgradeProgress["step"],
  mode: "apply" | "node",
  from = "v1.34.4",
): UpgradeProgress => ({ runId: RUN, target: T, from, mode, step, at: "2026-03-01T10:00:00.000Z" });

describe("the cluster as read", () => {
  test("a node: kubelet, Ready, roles, our cordon and annotation", () => {
    const n: V1Node = {
      metadata: {
        name: "cp-1",
        uid: "u1",
        labels: { "node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux" },
        annotations: {
          "kube-upkeep.io/cordoned-by": RUN,
          [UPGRADE_ANNOTATION]: formatUpgradeProgress(progress("upgraded", "apply")),
        },
      },
      spec: { unschedulable: true },
      status: {
        nodeInfo: { kubeletVersion: T } as never,
        conditions: [{ type: "Ready", status: "True" } as never],
      },
    };
    expect(liveNodeOf(n)).toEqual({
      name: "cp-1",
      uid: "u1",
      kubeletVersion: T,
      ready: true,
      roles: ["control-plane"],
      role: "control-plane",
      unschedulable: true,
      cordonedBy: RUN,
      progress: progress("upgraded", "apply"),
    });
    const w = liveNodeOf({
      metadata: { name: "w", labels: { "node-role.kubernetes.io/master": "" } },
      status: {
        conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady" } as never],
      },
    });
    expect(w).toMatchObject({
      role: "control-plane",
      ready: false,
      readyReason: "KubeletNotReady",
      kubeletVersion: "",
    });
  });

  test("kubeadm-config's kubernetesVersion; image tags", () => {
    const cm = (text: string) => ({ data: { ClusterConfiguration: text } });
    expect(
      kubeadmConfigVersion(
        cm(
          "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.34.4\nnetworking:\n  dnsDomain: cluster.local\n",
        ),
      ),
    ).toBe("v1.34.4");
    expect(kubeadmConfigVersion(cm('kubernetesVersion: "v1.35.0" # set by upgrade\n'))).toBe(
      "v1.35.0",
    );
    expect(kubeadmConfigVersion(cm("etcd:\n  kubernetesVersion: nested\n"))).toBeUndefined();
    expect(kubeadmConfigVersion(undefined)).toBeUndefined();
    expect(imageTag("registry.k8s.io/etcd:3.6.5-0")).toBe("3.6.5-0");
    expect(imageTag("localhost:5000/coredns/coredns:v1.12.1@sha256:abc")).toBe("v1.12.1");
    expect(imageTag("localhost:5000/pause")).toBe("latest");
  });

  test("components from kube-system's pods: static pods per node, kube-proxy and CoreDNS per image", () => {
    const pod = (
      name: string,
      labels: Record<string, string>,
      image: string,
      node: string,
    ): V1Pod => ({
      metadata: { name, labels },
      spec: {
        nodeName: node,
        containers: [{ name: labels.component ?? labels["k8s-app"] ?? "c", image }],
      },
    });
    const pods = [
      pod(
        "etcd-cp-1",
        { component: "etcd", tier: "control-plane" },
        "registry.k8s.io/etcd:3.6.5-0",
        "cp-1",
      ),
      pod(
        "kube-apiserver-cp-1",
        { component: "kube-apiserver" },
        "registry.k8s.io/kube-apiserver:v1.34.4",
        "cp-1",
      ),
      pod("kube-proxy-a", { "k8s-app": "kube-proxy" }, "registry.k8s.io/kube-proxy:v1.34.4", "w-1"),
      pod("kube-proxy-b", { "k8s-app": "kube-proxy" }, "registry.k8s.io/kube-proxy:v1.34.4", "w-2"),
      pod("coredns-x", { "k8s-app": "kube-dns" }, "registry.k8s.io/coredns/coredns:v1.12.1", "w-1"),
      pod("web", { app: "web" }, "nginx", "w-1"),
    ];
    const c = componentsOf(pods);
    expect(c.map((x) => [x.component, x.node ?? x.pods, x.version])).toEqual([
      ["kube-apiserver", "cp-1", "v1.34.4"],
      ["kube-proxy", 2, "v1.34.4"],
      ["coredns", 1, "v1.12.1"],
      ["etcd", "cp-1", "3.6.5-0"],
    ]);
    expect(planComponents(c, T)).toEqual([
      { component: "kube-apiserver", where: "cp-1", current: "v1.34.4", target: T },
      { component: "kube-proxy", where: "2 pod(s)", current: "v1.34.4", target: T },
      { component: "CoreDNS", where: "1 pod(s)", current: "v1.12.1", target: `kubeadm ${T}'s` },
      { component: "etcd", where: "cp-1", current: "3.6.5-0", target: `kubeadm ${T}'s` },
    ]);
  });
});

describe("the declared roll against the cluster", () => {
  const names = ["cp-1", "cp-2", "w-1", "w-2"];
  const at = (v: string) =>
    cluster(
      names.map((n) => liveNode(n, v)),
      "v1.34.4",
    );

  test("a stale declared version is an error naming the node and the field", () => {
    const c = at("v1.34.4");
    expect(problems(() => livePlan(names, c, { currentVersion: "v1.34.2" }))).toEqual(
      names.map(
        (n) =>
          `ClusterUpgrade up: invalid currentVersion "v1.34.2": declared v1.34.2, but node ${n} runs kubelet v1.34.4 (read from the cluster): a stale declaration would plan the wrong upgrade. Fix: set currentVersion to v1.34.4, or leave it unset (the plan reads the cluster)`,
      ),
    );
    const own = reconcileWithCluster(
      "ClusterUpgrade up",
      { nodes: declared(names, { version: { "w-2": "v1.33.9" } }), targetVersion: T, runId: RUN },
      c,
    );
    expect(own.problems.map((p) => p.field)).toEqual(["nodes[3].version"]);
    // a node at the target agrees with any declaration (the roll's own progress)
    const partly = cluster([
      liveNode("cp-1", T),
      liveNode("cp-2", "v1.34.4"),
      liveNode("w-1", "v1.34.4"),
      liveNode("w-2", "v1.34.4"),
    ]);
    expect(problems(() => livePlan(names, partly, { currentVersion: "v1.34.4" }))).toEqual([]);
  });

  test("a listed node the cluster lacks, a cluster node not listed, a wrong role: errors naming the node", () => {
    const c = cluster([
      liveNode("cp-1", "v1.34.4"),
      liveNode("w-1", "v1.34.4"),
      liveNode("w-9", "v1.34.4"),
    ]);
    const r = reconcileWithCluster(
      "ClusterUpgrade up",
      {
        nodes: [
          { name: "cp-1", role: "control-plane" },
          { name: "w-1", role: "control-plane" },
          { name: "w-2", role: "worker" },
        ],
        targetVersion: T,
        runId: RUN,
      },
      c,
    );
    expect(r.problems.map((p) => p.message)).toEqual([
      'ClusterUpgrade up: invalid nodes[1].role "control-plane": node w-1 is a worker node in the cluster (roles: none). Fix: declare it with role "worker"',
      'ClusterUpgrade up: invalid nodes[2].name "w-2": node w-2 is listed, but the cluster has no such node (3 nodes read from https://10.0.0.10:6443). Fix: remove it from nodes, or correct the name (kubectl get nodes)',
      'ClusterUpgrade up: invalid nodes "w-9": node w-9 (worker, kubelet v1.34.4) is in the cluster but not in nodes: it would stay at its version. Fix: list it in nodes, or set allowUnlistedNodes: true to leave it (and every other unlisted node) alone',
    ]);
  });

  test("allowUnlistedNodes: left alone, shown, checked against the skew policy as they stay", () => {
    const c = cluster([
      liveNode("cp-1", "v1.34.4"),
      liveNode("w-1", "v1.34.4"),
      liveNode("w-old", "v1.32.0"),
    ]);
    const plan = livePlan(["cp-1", "w-1"], c, { allowUnlistedNodes: true });
    expect(plan.unlisted).toEqual([{ name: "w-old", role: "worker", kubeletVersion: "v1.32.0" }]);
    expect(formatPlan(plan)).toContain(
      "Not in the roll (allowUnlistedNodes; left at their version):\n  w-old  worker  v1.32.0",
    );
    const tooOld = cluster([
      liveNode("cp-1", "v1.34.4"),
      liveNode("w-1", "v1.34.4"),
      liveNode("w-old", "v1.31.0"),
    ]);
    expect(problems(() => livePlan(["cp-1", "w-1"], tooOld, { allowUnlistedNodes: true }))).toEqual(
      [
        expect.stringContaining(
          "node w-old is not in nodes and its kubelet v1.31.0 would be 4 minor versions behind the control plane at v1.35.4; the skew policy allows 3",
        ),
      ],
    );
  });
});

describe("the plan from the cluster", () => {
  test("CURRENT from the cluster; nodes at the target up to date and not drained", () => {
    // a roll half done by hand: cp-1 and w-1 are at the target already
    const c = cluster(
      [
        liveNode("cp-1", T),
        liveNode("cp-2", "v1.34.4"),
        liveNode("w-1", T),
        liveNode("w-2", "v1.34.4"),
      ],
      T,
    );
    const plan = livePlan(["cp-1", "cp-2", "w-1", "w-2"], c);
    expect(plan.steps.map((s) => [s.node, s.action, s.from])).toEqual([
      ["cp-1", "etcd-snapshot", undefined],
      ["cp-2", "kubeadm-upgrade-node", "v1.34.4"],
      ["w-2", "kubeadm-upgrade-node", "v1.34.4"],
      ["cp-1", "skip", T],
      ["w-1", "skip", T],
    ]);
    expect(formatPlan(plan)).toBe(
      [
        "Upgrade plan: control plane v1.34.4 -> v1.35.4, workers 1 at a time in 1 chain(s) (failure policy: leave-cordoned)",
        "Versions from the cluster (read now: https://10.0.0.10:6443, kube-apiserver v1.34.4, kubeadm ClusterConfiguration v1.35.4, 4 node(s))",
        "",
        "STEP  NODE  ROLE           CURRENT  TARGET   ACTION                   CHAIN  AFTER",
        "1     cp-1  control-plane  -        -        etcd snapshot            -      -",
        "2     cp-2  control-plane  v1.34.4  v1.35.4  kubeadm upgrade node     -      etcd-snapshot",
        "3     w-2   worker         v1.34.4  v1.35.4  kubeadm upgrade node     1      cp-2",
        "4     cp-1  control-plane  v1.35.4  v1.35.4  up to date: not drained  -      -",
        "5     w-1   worker         v1.35.4  v1.35.4  up to date: not drained  -      -",
      ].join("\n"),
    );
    // the skew policy is checked against what the cluster runs: a worker ahead of the control plane
    const ahead = cluster([liveNode("cp-1", "v1.34.4"), liveNode("w-1", T)], "v1.34.4");
    expect(problems(() => livePlan(["cp-1", "w-1"], ahead))).toEqual([
      expect.stringContaining(
        "[control-plane-first] node w-1: worker kubelet v1.35.4 is newer than the control plane (v1.34.4)",
      ),
    ]);
  });

  test("kubeadm upgrade apply only while ClusterConfiguration is below the target", () => {
    const nodes = [
      liveNode("cp-1", "v1.34.4"),
      liveNode("cp-2", "v1.34.4"),
      liveNode("w-1", "v1.34.4"),
    ];
    const actions = (kubeadm: string | undefined) =>
      livePlan(["cp-1", "cp-2", "w-1"], cluster(nodes, kubeadm))
        .steps.filter((s) => s.action !== "etcd-snapshot")
        .map((s) => `${s.node} ${s.action}`);
    expect(actions("v1.34.4")).toEqual([
      "cp-1 kubeadm-upgrade-apply",
      "cp-2 kubeadm-upgrade-node",
      "w-1 kubeadm-upgrade-node",
    ]);
    // apply ran (ClusterConfiguration says the target) though no kubelet is there yet
    expect(actions(T)).toEqual([
      "cp-1 kubeadm-upgrade-node",
      "cp-2 kubeadm-upgrade-node",
      "w-1 kubeadm-upgrade-node",
    ]);
    // not a kubeadm cluster (no kubeadm-config): as before, from the control-plane kubelets
    expect(actions(undefined)[0]).toBe("cp-1 kubeadm-upgrade-apply");
  });

  test("this run's nodes: done ones keep their steps and recorded mode (a second pulumi up changes nothing), one not uncordoned is resumed", () => {
    const c = cluster(
      [
        liveNode("cp-1", T, { progress: progress("healthy", "apply") }),
        liveNode("w-1", T, { progress: progress("uncordoned", "node") }),
        liveNode("w-2", T, {
          progress: progress("upgraded", "node"),
          unschedulable: true,
          cordonedBy: RUN,
        }),
        // another run's upgrade: up to date, left alone
        liveNode("w-3", T, {
          progress: { ...progress("uncordoned", "node"), runId: "other@v1.35.4" },
        }),
        // drained by this run, the upgrade did not take effect: again, with the recorded mode
        liveNode("w-4", "v1.34.4", { progress: progress("drained", "node") }),
      ],
      T,
    );
    const plan = livePlan(["cp-1", "w-1", "w-2", "w-3", "w-4"], c);
    expect(plan.steps.map((s) => [s.node, s.action, s.from, s.current, s.progress])).toEqual([
      ["cp-1", "etcd-snapshot", undefined, undefined, undefined],
      // apply, as recorded (ClusterConfiguration alone would say "node")
      ["cp-1", "kubeadm-upgrade-apply", "v1.34.4", T, "done"],
      ["w-1", "kubeadm-upgrade-node", "v1.34.4", T, "done"],
      ["w-2", "kubeadm-upgrade-node", "v1.34.4", T, "resume"],
      ["w-4", "kubeadm-upgrade-node", "v1.34.4", undefined, "started"],
      ["w-3", "skip", T, undefined, undefined],
    ]);
    const text = formatPlan(plan);
    expect(text).toContain("kubeadm upgrade apply v1.35.4 (done by this run)");
    expect(text).toContain("kubeadm upgrade node (upgraded by this run: resume at the ready wait)");
    expect(text).toContain("w-3   worker         v1.35.4  v1.35.4  up to date: not drained");
    // the same cluster gives the same plan: the resources of a finished roll stay as they are
    expect(livePlan(["cp-1", "w-1", "w-2", "w-3", "w-4"], c)).toEqual(plan);
  });

  test("not Ready and foreign cordons are warned about", () => {
    const c = cluster(
      [
        liveNode("cp-1", T),
        liveNode("w-1", "v1.34.4", { ready: false, readyReason: "KubeletNotReady" }),
        liveNode("w-2", T, { unschedulable: true, cordonedBy: "old@v1.35.4" }),
      ],
      T,
    );
    expect(livePlan(["cp-1", "w-1", "w-2"], c).notes).toEqual([
      "node w-1 is not Ready (KubeletNotReady): its upgrade waits for it to be Ready at the target",
      "node w-2 is at the target but cordoned by kube-upkeep run old@v1.35.4: this run leaves it so (kubectl uncordon w-2)",
    ]);
  });
});
