/**
 * e2e on real nodes: `pulumi up` of examples/pulumi-real-nodes (ClusterUpgrade with the rendered
 * upgrade script, no override) over the harness's kubeadm cluster (test/nodes/nodes.sh: nspawn
 * machines with systemd, sshd, containerd and real kubelets installed by apt from a
 * pkgs.k8s.io-shaped repository), FROM -> TO.
 *
 * Checked from the cluster, not from the engine's account: every node Ready at TO, the
 * control-plane static pods on TO images, kube-proxy and CoreDNS at TO's versions,
 * /readyz?verbose all ok, the workload never below its PDB (an independent watch), each node
 * cordoned and uncordoned once, the etcd snapshot on the first control-plane node, and a second
 * `pulumi up` that changes nothing. Before that, a repository that lacks the target fails in
 * preflight and no node is cordoned.
 */
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  PolicyV1Api,
  setHeaderOptions,
  type V1Pod,
} from "@kubernetes/client-node";
import type { Stack, UpResult } from "@pulumi/pulumi/automation";
import { waitForReadyPods } from "../cluster/fixtures";
import { realNodesDown, realNodesUp, inNode, type RealNodesState } from "../nodes/nodes";
import {
  createNodeRollbackStack,
  createRealNodesStack,
  type NodeRollbackStackOptions,
  type RealNodesStack,
} from "../nodes/real-stack";
import { buildLibrary, checkPrerequisites, DEMO_ENGINE_BINARIES } from "./simulated-cluster";
import { NodeTimeline, PdbWatcher } from "./watchers";

jest.setTimeout(1_800_000);

const log = (l: string) => process.stderr.write(`[real-nodes] ${l}\n`);
const NS = "shop";
const WEB = { replicas: 3, minAvailable: 2 };

let state: RealNodesState;
let kc: KubeConfig;
let stack: Stack;
let real: RealNodesStack | undefined;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;
/** The roll's etcd snapshot on cp1, taken before its upgrade (the control-plane rollback restores it). */
let preUpgradeSnapshot = "";

async function createWorkload(): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: NS,
    body: {
      metadata: { name: "web" },
      spec: {
        replicas: WEB.replicas,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: "web",
                // the pause image the nodes carry: a real container that runs until stopped
                image: "registry.kube-upkeep.local/pause:3.10.1",
                imagePullPolicy: "Never",
              },
            ],
          },
        },
      },
    },
  });
  await kc.makeApiClient(PolicyV1Api).createNamespacedPodDisruptionBudget({
    namespace: NS,
    body: {
      metadata: { name: "web" },
      spec: { minAvailable: WEB.minAvailable, selector: { matchLabels: { app: "web" } } },
    },
  });
  await waitForReadyPods(kc, NS, { app: "web" }, WEB.replicas, { timeoutMs: 120_000 });
}

beforeAll(async () => {
  checkPrerequisites(DEMO_ENGINE_BINARIES);
  await buildLibrary();
  const t0 = Date.now();
  state = await realNodesUp(log);
  log(`real nodes up at ${state.from} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  await createWorkload();
  nodes = new NodeTimeline();
  await nodes.start(kc);
  pdbs = new PdbWatcher(new Map([["web", WEB.minAvailable]]));
  await pdbs.start(kc, NS);

  real = await createRealNodesStack(state, `real-${process.pid}`);
  stack = real.stack;
  log(`pulumi-resource-command: ${real.standInCommandProvider ? "stand-in" : "built"}`);
});

afterAll(async () => {
  nodes?.stop();
  pdbs?.stop();
  await real?.dispose();
  if (process.env.KU_KEEP_REAL_NODES !== "1") await realNodesDown(log);
});

const up = async (what: string): Promise<UpResult | Error> => {
  const t0 = Date.now();
  const res = await stack
    .up({ onOutput: (o) => process.stderr.write(o) })
    .catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
  log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return res;
};

test("a repository without the target fails in preflight; no node is cordoned", async () => {
  // the FROM minor's repository, whatever the target: it has no TO packages
  const fromMinor = state.from.replace(/^v(\d+\.\d+)\..*$/, "v$1");
  await stack.setConfig("packageRepository", {
    value: `${state.repository}/core:/stable:/${fromMinor}/deb/`,
  });
  const res = await up("pulumi up with a repository lacking the target");
  expect(res).toBeInstanceOf(Error);
  const message = String((res as Error).message);
  expect(message).toMatch(/preflight/i);
  expect(message).toContain(state.to.replace(/^v/, ""));
  expect(nodes.events.filter((e) => e.kind === "cordon")).toEqual([]);
  const listed = await kc.makeApiClient(CoreV1Api).listNode();
  for (const n of listed.items)
    expect({ n: n.metadata?.name, u: !!n.spec?.unschedulable }).toEqual({
      n: n.metadata?.name,
      u: false,
    });
});

test("pulumi up rolls the real nodes FROM -> TO with the rendered script", async () => {
  await stack.setConfig("packageRepository", { value: real!.repositoryTemplate });
  await stack.refresh({ onOutput: () => undefined });
  const started = Date.now();
  const res = await up("pulumi up FROM -> TO");
  if (res instanceof Error) throw res;
  expect(res.summary.result).toBe("succeeded");

  const core = kc.makeApiClient(CoreV1Api);
  // every node Ready at TO and schedulable
  const listed = (await core.listNode()).items;
  expect(
    listed
      .map((n) => ({
        name: n.metadata?.name,
        version: n.status?.nodeInfo?.kubeletVersion,
        ready: n.status?.conditions?.find((c) => c.type === "Ready")?.status,
        unschedulable: !!n.spec?.unschedulable,
      }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name))),
  ).toEqual(
    state.nodes
      .map((n) => ({ name: n.name, version: state.to, ready: "True", unschedulable: false }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
  // control-plane static pods on TO images
  const sys = (await core.listNamespacedPod({ namespace: "kube-system" })).items as V1Pod[];
  for (const c of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
    const pod = sys.find((p) => p.metadata?.name === `${c}-cp1`);
    expect({ c, image: pod?.spec?.containers[0]?.image }).toEqual({
      c,
      image: `registry.kube-upkeep.local/${c}:${state.to}`,
    });
  }
  const apps = kc.makeApiClient(AppsV1Api);
  const proxy = await apps.readNamespacedDaemonSet({
    name: "kube-proxy",
    namespace: "kube-system",
  });
  expect(proxy.spec?.template.spec?.containers[0]?.image).toBe(
    `registry.kube-upkeep.local/kube-proxy:${state.to}`,
  );
  const dns = await apps.readNamespacedDeployment({ name: "coredns", namespace: "kube-system" });
  expect(dns.spec?.template.spec?.containers[0]?.image).toMatch(
    /^registry\.kube-upkeep\.local\/coredns:v1\.13\.\d+$/,
  );
  // /readyz?verbose: every check ok
  const readyz = await inNode("cp1", [
    "kubectl",
    "--kubeconfig=/etc/kubernetes/admin.conf",
    "get",
    "--raw=/readyz?verbose",
  ]);
  expect(readyz).toContain("readyz check passed");
  expect(readyz.split("\n").filter((l) => l.startsWith("[-]"))).toEqual([]);

  // the workload never below its PDB; each node cordoned and uncordoned exactly once
  expect(pdbs.violations).toEqual([]);
  // and the watch saw the drains (it survived the apiserver restarts): the budget was used
  expect(pdbs.lowest.get("web")).toBe(WEB.minAvailable);
  for (const n of state.nodes) {
    expect({ n: n.name, cordons: nodes.of(n.name, "cordon").length }).toEqual({
      n: n.name,
      cordons: 1,
    });
    expect({ n: n.name, uncordons: nodes.of(n.name, "uncordon").length }).toEqual({
      n: n.name,
      uncordons: 1,
    });
  }
  // one node at a time, in plan order
  expect(nodes.maxConcurrentCordoned(state.nodes.map((n) => n.name))).toBe(1);
  const perNode = state.nodes.map((n) => {
    const c = nodes.of(n.name, "cordon")[0]!.t;
    const u = nodes.of(n.name, "uncordon")[0]!.t;
    return `${n.name} ${((u - c) / 1000).toFixed(1)}s`;
  });
  log(
    `roll ${((Date.now() - started) / 1000).toFixed(0)}s; cordoned per node: ${perNode.join(", ")}`,
  );

  // the roll's own verification (verify, default on) saw the same: cp1's control plane at TO and
  // its /readyz all ok before the workers, the whole cluster at TO after the last node
  const verification = res.outputs.verification?.value as Record<string, string[]>;
  expect(verification.cp1?.[0]).toMatch(
    new RegExp(
      `^control plane of cp1 at ${state.to}: kube-apiserver ${state.to}, kube-controller-manager ${state.to}, kube-scheduler ${state.to}, etcd \\S+ Ready; 10\\.213\\.0\\.11:6443 readyz: \\d+ checks ok$`,
    ),
  );
  expect(verification.cluster).toEqual([
    expect.stringMatching(
      new RegExp(
        `^cluster at ${state.to}: 3 node\\(s\\) Ready at ${state.to}, kube-proxy ${state.to}, CoreDNS v1\\.13\\.\\d+, API server ${state.to}$`,
      ),
    ),
  ]);

  // the etcd snapshot was taken on the first control-plane node before its cordon
  const snapshot = String(res.outputs.etcdSnapshotPath?.value ?? "").trim();
  expect(snapshot).toMatch(/\.db$/);
  await inNode("cp1", ["test", "-s", snapshot]);
  preUpgradeSnapshot = snapshot;
});

test("a second pulumi up changes nothing", async () => {
  const res = await up("second pulumi up");
  if (res instanceof Error) throw res;
  const changes = res.summary.resourceChanges ?? {};
  expect(Object.keys(changes).filter((k) => k !== "same")).toEqual([]);
  expect(nodes.events.filter((e) => e.kind === "cordon")).toHaveLength(state.nodes.length);
});

// --- Rollback (the field guide's "upgrade rollback scenario") ----------------------------------
// Each journey is its own stack of test/e2e/programs/node-rollback (NodeUpgrade / NodeRollback).

async function nodeProgram(what: string, o: NodeRollbackStackOptions): Promise<UpResult | Error> {
  const s = await createNodeRollbackStack(state, `${o.action}-${process.pid}-${Date.now()}`, o);
  try {
    const t0 = Date.now();
    const res = await s.stack
      .up({ onOutput: (out) => process.stderr.write(out) })
      .catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    log(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return res;
  } finally {
    await s.dispose();
  }
}

async function nodeState(name: string) {
  const n = await kc.makeApiClient(CoreV1Api).readNode({ name });
  return {
    version: n.status?.nodeInfo?.kubeletVersion,
    ready: n.status?.conditions?.find((c) => c.type === "Ready")?.status,
    unschedulable: !!n.spec?.unschedulable,
  };
}

const packageVersions = (node: string) =>
  inNode(node, ["dpkg-query", "-W", "-f=${Package}=${Version} ", "kubeadm", "kubelet"]);

test("rollback of a worker: w2 goes from TO back to FROM (packages, repository, kubelet configuration), Ready and schedulable", async () => {
  const res = await nodeProgram("NodeRollback w2 TO -> FROM", {
    action: "rollback",
    version: state.from,
    nodes: [{ name: "w2" }],
  });
  if (res instanceof Error) throw res;
  expect(res.outputs.kubeletVersions?.value).toEqual({ w2: state.from });
  expect(await nodeState("w2")).toEqual({
    version: state.from,
    ready: "True",
    unschedulable: false,
  });
  const from = state.from.replace(/^v/, "");
  expect(await packageVersions("w2")).toMatch(
    new RegExp(
      `^kubeadm=${from.replace(/\./g, "\\.")}-\\S+ kubelet=${from.replace(/\./g, "\\.")}-\\S+ $`,
    ),
  );
  const fromMinor = state.from.replace(/^v(\d+\.\d+)\..*$/, "v$1");
  expect(await inNode("w2", ["cat", "/etc/apt/sources.list.d/kubernetes.list"])).toContain(
    `/core:/stable:/${fromMinor}/deb/`,
  );
});

test("a worker whose upgrade breaks its kubelet: the upgrade stops at the ready wait, NodeRollback brings it back at FROM", async () => {
  const core = kc.makeApiClient(CoreV1Api);
  // The cluster's KubeletConfiguration made fatal for kubelet TO on these cgroup v1 hosts: kubeadm
  // upgrade node writes it to the node. The preflight reads the node's own file (FROM's, still
  // failCgroupV1: false) and passes: the failure shows only after the upgrade.
  const cm = await core.readNamespacedConfigMap({
    name: "kubelet-config",
    namespace: "kube-system",
  });
  const original = cm.data!.kubelet!;
  expect(original).toContain("failCgroupV1: false");
  const setKubelet = (kubelet: string) =>
    core.patchNamespacedConfigMap(
      { name: "kubelet-config", namespace: "kube-system", body: { data: { kubelet } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  await setKubelet(original.replace("failCgroupV1: false", "failCgroupV1: true"));
  let failed: UpResult | Error;
  try {
    failed = await nodeProgram("NodeUpgrade w2 with a kubelet configuration it refuses", {
      action: "upgrade",
      version: state.to,
      nodes: [{ name: "w2" }],
      readyTimeoutSeconds: 60,
    });
  } finally {
    await setKubelet(original);
  }
  expect(failed).toBeInstanceOf(Error);
  expect(String((failed as Error).message)).toMatch(/NodeReadyWait[\s\S]*w2/);
  // drained and cordoned, its kubelet refusing to start
  expect((await nodeState("w2")).unschedulable).toBe(true);
  expect(
    await inNode("w2", [
      "sh",
      "-c",
      "journalctl -u kubelet --no-pager | grep -c 'cgroup v1' || true",
    ]),
  ).not.toBe("0\n");

  const back = await nodeProgram("NodeRollback w2 (kubelet down) -> FROM", {
    action: "rollback",
    version: state.from,
    nodes: [{ name: "w2" }],
  });
  if (back instanceof Error) throw back;
  expect(await nodeState("w2")).toEqual({
    version: state.from,
    ready: "True",
    unschedulable: false,
  });
  expect(await inNode("w2", ["grep", "failCgroupV1", "/var/lib/kubelet/config.yaml"])).toContain(
    "failCgroupV1: false",
  );
});

test("rollback of the control plane: w1, then cp1 from kubeadm's manifest backup and the pre-upgrade snapshot, serving at FROM", async () => {
  expect(preUpgradeSnapshot).not.toBe("");
  const res = await nodeProgram("NodeRollback w1, then cp1 with the snapshot", {
    action: "rollback",
    version: state.from,
    nodes: [{ name: "w1" }, { name: "cp1", etcdSnapshot: preUpgradeSnapshot }],
  });
  if (res instanceof Error) throw res;
  const core = kc.makeApiClient(CoreV1Api);
  for (const n of state.nodes)
    expect({ n: n.name, ...(await nodeState(n.name)) }).toEqual({
      n: n.name,
      version: state.from,
      ready: "True",
      unschedulable: false,
    });
  // the control plane at FROM, on the restored data (kubeadm's ClusterConfiguration as it was)
  const sys = (await core.listNamespacedPod({ namespace: "kube-system" })).items;
  for (const c of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
    expect({
      c,
      image: sys.find((p) => p.metadata?.name === `${c}-cp1`)?.spec?.containers[0]?.image,
    }).toEqual({
      c,
      image: `registry.kube-upkeep.local/${c}:${state.from}`,
    });
  const version = await inNode("cp1", [
    "kubectl",
    "--kubeconfig=/etc/kubernetes/admin.conf",
    "version",
    "-o",
    "json",
  ]);
  expect(
    (JSON.parse(version) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion,
  ).toBe(state.from);
  const cfg = await core.readNamespacedConfigMap({
    name: "kubeadm-config",
    namespace: "kube-system",
  });
  expect(cfg.data?.ClusterConfiguration).toContain(`kubernetesVersion: ${state.from}`);
  expect(await inNode("cp1", ["cat", "/etc/kubernetes/manifests/etcd.yaml"])).toContain(
    "--data-dir=/var/lib/etcd-rollback",
  );
  // the workload is there and served
  await waitForReadyPods(kc, NS, { app: "web" }, WEB.replicas, { timeoutMs: 180_000 });
});
