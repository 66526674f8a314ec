/**
 * The live plan against a real control plane of its own (kwokctl: etcd, kube-apiserver,
 * controller-manager, scheduler; kwok nodes), with what a kubeadm cluster has in kube-system
 * made by hand: the kubeadm-config ConfigMap and the static / DaemonSet pods' images
 * (kwok runs no kubelet). readClusterState reads it; ClusterUpgrade under Pulumi mocks (preview)
 * plans from it: CURRENT from the cluster, the component rows, a stale declared version caught,
 * a listed node the cluster lacks and an unlisted node caught (or left alone when allowed),
 * nodes already at the target up to date with no resources, kubeadm upgrade apply only while
 * ClusterConfiguration is below the target, a node this run upgraded kept (done) or resumed.
 * Without cluster access the plan comes from the declared versions and says so.
 */
import { readFileSync } from "node:fs";
import { CoreV1Api, PatchStrategy, setHeaderOptions, KubeConfig } from "@kubernetes/client-node";
import * as pulumi from "@pulumi/pulumi";
import {
  formatUpgradeProgress,
  readClusterState,
  UPGRADE_ANNOTATION,
  ValidationErrors,
} from "kube-upkeep/core";
import { ClusterUpgrade, ClusterUpgradePlanError, type ClusterNode } from "kube-upkeep/pulumi";
import { type ClusterInfo, startCluster, stopCluster } from "../../cluster/cluster";
import { createNodes } from "../../cluster/fixtures";
import { mockAndRecord, type Registered } from "../../unit/pulumi/mocks";
import { waitForRPCs } from "../../unit/pulumi/rpcs";

jest.setTimeout(300_000);

const NAME = `ku-live-${process.pid}`;
const FROM = "v1.34.4";
const TARGET = "v1.35.4";
let info: ClusterInfo;
let kc: KubeConfig;
let yaml: string;
let core: CoreV1Api;
const registered = new Map<string, Registered>();

beforeAll(async () => {
  info = await startCluster({ name: NAME, log: (l) => process.stderr.write(`[live] ${l}\n`) });
  yaml = readFileSync(info.kubeconfigPath, "utf8");
  kc = new KubeConfig();
  kc.loadFromString(yaml);
  core = kc.makeApiClient(CoreV1Api);
  await createNodes(kc, [
    { name: "cp-1", role: "control-plane", kubeletVersion: FROM },
    { name: "w-1", role: "worker", kubeletVersion: FROM },
    { name: "w-2", role: "worker", kubeletVersion: FROM },
  ]);
  await setKubeadmVersion(FROM);
  const pod = (name: string, node: string, labels: Record<string, string>, image: string) =>
    core.createNamespacedPod({
      namespace: "kube-system",
      body: {
        metadata: { name, labels },
        spec: {
          nodeName: node,
          tolerations: [{ operator: "Exists" }],
          containers: [{ name: labels.component ?? labels["k8s-app"]!, image }],
        },
      },
    });
  await pod(
    "etcd-cp-1",
    "cp-1",
    { component: "etcd", tier: "control-plane" },
    "registry.k8s.io/etcd:3.6.5-0",
  );
  for (const c of ["kube-apiserver", "kube-controller-manager", "kube-scheduler"])
    await pod(
      `${c}-cp-1`,
      "cp-1",
      { component: c, tier: "control-plane" },
      `registry.k8s.io/${c}:${FROM}`,
    );
  for (const n of ["cp-1", "w-1", "w-2"])
    await pod(
      `kube-proxy-${n}`,
      n,
      { "k8s-app": "kube-proxy" },
      `registry.k8s.io/kube-proxy:${FROM}`,
    );
  await pod(
    "coredns-1",
    "w-1",
    { "k8s-app": "kube-dns" },
    "registry.k8s.io/coredns/coredns:v1.12.1",
  );

  mockAndRecord(registered, (args) =>
    args.type.endsWith(":NodeReadyWait") ? { kubeletVersion: args.inputs.targetVersion } : {},
  );
});
afterAll(async () => {
  await waitForRPCs();
  if (info) await stopCluster(NAME);
});

async function setKubeadmVersion(v: string) {
  const body = {
    metadata: { name: "kubeadm-config", namespace: "kube-system" },
    data: {
      ClusterConfiguration: `apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: ${v}\nnetworking:\n  dnsDomain: cluster.local\n`,
    },
  };
  await core
    .replaceNamespacedConfigMap({ namespace: "kube-system", name: "kubeadm-config", body })
    .catch(() => core.createNamespacedConfigMap({ namespace: "kube-system", body }));
}

async function patchNode(name: string, body: object, status = false) {
  const opts = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  if (status) await core.patchNodeStatus({ name, body }, opts);
  else await core.patchNode({ name, body }, opts);
}

const node = (name: string, role: ClusterNode["role"]): ClusterNode => ({
  name,
  role,
  connection: { host: "127.0.0.1", privateKey: "k", hostKey: "ssh-ed25519 AAAA" },
});
const NODES = [node("cp-1", "control-plane"), node("w-1", "worker"), node("w-2", "worker")];

/** A ClusterUpgrade of the cluster (preview under mocks); its plan text and node resources. */
async function roll(
  name: string,
  extra: Partial<ConstructorParameters<typeof ClusterUpgrade>[1]> = {},
) {
  const cu = new ClusterUpgrade(name, {
    nodes: NODES,
    targetVersion: TARGET,
    kubeconfig: pulumi.secret(yaml),
    commandOverride: "true",
    ...extra,
  });
  const error = await cu.ready.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  const text = error ? undefined : await new Promise<string>((r) => cu.planText.apply(r));
  if (!error) await new Promise((r) => cu.kubeletVersions.apply(r)); // every node's resources
  return { cu, error, text, upgraded: Object.keys(cu.nodeUpgrades) };
}

test("readClusterState: nodes, kubeadm's ClusterConfiguration, components, the apiserver", async () => {
  const live = await readClusterState(kc);
  expect(live.server).toBe(kc.getCurrentCluster()!.server);
  expect(live.apiserverVersion).toMatch(/^v1\.35\./);
  expect(live.kubeadmVersion).toBe(FROM);
  expect(live.nodes.map((n) => [n.name, n.role, n.kubeletVersion, n.ready])).toEqual([
    ["cp-1", "control-plane", FROM, true],
    ["w-1", "worker", FROM, true],
    ["w-2", "worker", FROM, true],
  ]);
  expect(
    live.components.map((c) => `${c.component} ${c.node ?? `x${c.pods}`} ${c.version}`),
  ).toEqual([
    `kube-apiserver cp-1 ${FROM}`,
    `kube-controller-manager cp-1 ${FROM}`,
    `kube-scheduler cp-1 ${FROM}`,
    `kube-proxy x3 ${FROM}`,
    "coredns x1 v1.12.1",
    "etcd cp-1 3.6.5-0",
  ]);
  expect(live.notes).toEqual([]);
});

test("preview plans from the cluster: CURRENT and components from it, no declared version needed", async () => {
  const { text, upgraded, error } = await roll("live1");
  expect(error).toBeUndefined();
  process.stderr.write(`[live] plan:\n${text}\n`);
  const server = kc.getCurrentCluster()!.server;
  expect(text).toContain(
    `Versions from the cluster (read now: ${server}, kube-apiserver v1.35.4, kubeadm ClusterConfiguration ${FROM}, 3 node(s))`,
  );
  expect(text).toMatch(
    /cp-1 +control-plane +v1\.34\.4 +v1\.35\.4 +kubeadm upgrade apply v1\.35\.4/,
  );
  expect(text).toMatch(/\nCOMPONENT +NODE +CURRENT +TARGET\n/);
  expect(text).toMatch(/kube-apiserver +cp-1 +v1\.34\.4 +v1\.35\.4/);
  expect(text).toMatch(/kube-proxy +3 pod\(s\) +v1\.34\.4 +v1\.35\.4/);
  expect(text).toMatch(/CoreDNS +1 pod\(s\) +v1\.12\.1 +kubeadm v1\.35\.4's/);
  expect(text).toMatch(/etcd +cp-1 +3\.6\.5-0 +kubeadm v1\.35\.4's/);
  expect(upgraded).toEqual(["cp-1", "w-1", "w-2"]);
});

test("a stale declared version, a listed node the cluster lacks, an unlisted node: errors naming the node; nothing registered", async () => {
  const stale = await roll("stale", { currentVersion: "v1.34.2" });
  expect(stale.error).toBeInstanceOf(ClusterUpgradePlanError);
  expect((stale.error as ClusterUpgradePlanError).cause).toBeInstanceOf(ValidationErrors);
  expect((stale.error as ClusterUpgradePlanError).errors.map((e) => e.message)).toEqual(
    ["cp-1", "w-1", "w-2"].map(
      (n) =>
        `ClusterUpgrade stale: invalid currentVersion "v1.34.2": declared v1.34.2, but node ${n} runs kubelet ${FROM} (read from the cluster): a stale declaration would plan the wrong upgrade. Fix: set currentVersion to ${FROM}, or leave it unset (the plan reads the cluster)`,
    ),
  );
  expect(stale.upgraded).toEqual([]);
  expect([...registered.keys()].some((n) => n.startsWith("stale-cp-1"))).toBe(false);

  const missing = await roll("missing", { nodes: [...NODES, node("w-9", "worker")] });
  expect(missing.error?.message).toContain(
    'ClusterUpgrade missing: invalid nodes[3].name "w-9": node w-9 is listed, but the cluster has no such node',
  );
  const unlisted = await roll("unlisted", { nodes: NODES.slice(0, 2) });
  expect(unlisted.error?.message).toContain(
    `ClusterUpgrade unlisted: invalid nodes "w-2": node w-2 (worker, kubelet ${FROM}) is in the cluster but not in nodes`,
  );
  const allowed = await roll("allowed", { nodes: NODES.slice(0, 2), allowUnlistedNodes: true });
  expect(allowed.error).toBeUndefined();
  expect(allowed.text).toContain(
    `Not in the roll (allowUnlistedNodes; left at their version):\n  w-2  worker  ${FROM}`,
  );
  expect(allowed.upgraded).toEqual(["cp-1", "w-1"]);
});

test("nodes at the target: up to date, no resources; apply only while ClusterConfiguration is below the target; this run's nodes kept or resumed", async () => {
  // cp-1 and w-1 were upgraded by something else: kubeadm-config at the target
  await setKubeadmVersion(TARGET);
  for (const n of ["cp-1", "w-1"])
    await patchNode(n, { status: { nodeInfo: { kubeletVersion: TARGET } } }, true);
  const partial = await roll("partial");
  expect(partial.error).toBeUndefined();
  process.stderr.write(`[live] partial plan:\n${partial.text}\n`);
  expect(partial.text).toMatch(
    /cp-1 +control-plane +v1\.35\.4 +v1\.35\.4 +up to date: not drained/,
  );
  expect(partial.text).toMatch(/w-1 +worker +v1\.35\.4 +v1\.35\.4 +up to date: not drained/);
  expect(partial.text).toMatch(/w-2 +worker +v1\.34\.4 +v1\.35\.4 +kubeadm upgrade node/);
  expect(partial.text).not.toContain("kubeadm upgrade apply");
  expect(partial.upgraded).toEqual(["w-2"]);
  expect(registered.has("partial-cp-1-drain") || registered.has("partial-w-1-drain")).toBe(false);

  // this run ("own@v1.35.4") upgraded cp-1 (with apply) and uncordoned it, and upgraded w-1 but
  // did not uncordon it: cp-1 is kept as it was (done), w-1 resumed
  const runId = `own@${TARGET}`;
  const mark = (step: string, mode: "apply" | "node") =>
    formatUpgradeProgress({
      runId,
      target: TARGET,
      from: FROM,
      mode,
      step: step as never,
      at: new Date().toISOString(),
    });
  await patchNode("cp-1", {
    metadata: { annotations: { [UPGRADE_ANNOTATION]: mark("uncordoned", "apply") } },
  });
  await patchNode("w-1", {
    metadata: {
      annotations: {
        [UPGRADE_ANNOTATION]: mark("upgraded", "node"),
        "kube-upkeep.io/cordoned-by": runId,
      },
    },
    spec: { unschedulable: true },
  });
  const own = await roll("own");
  expect(own.error).toBeUndefined();
  process.stderr.write(`[live] this run's plan:\n${own.text}\n`);
  expect(own.text).toMatch(
    /cp-1 +control-plane +v1\.35\.4 +v1\.35\.4 +kubeadm upgrade apply v1\.35\.4 \(done by this run\)/,
  );
  expect(own.text).toMatch(
    /w-1 +worker +v1\.35\.4 +v1\.35\.4 +kubeadm upgrade node \(upgraded by this run: resume at the ready wait\)/,
  );
  expect(own.upgraded).toEqual(["cp-1", "w-1", "w-2"]);
  // the recorded mode and from-version, as the first run registered them
  const upgrade = registered.get("own-cp-1-upgrade")!;
  expect(upgrade.inputs.triggers).toEqual([TARGET, "apply"]);
  expect(registered.get("own-cp-1-drain")!.inputs.progress).toMatchObject({
    fromVersion: FROM,
    mode: "apply",
  });
  await patchNode("w-1", {
    spec: { unschedulable: null },
    metadata: { annotations: { "kube-upkeep.io/cordoned-by": null } },
  });
});

test("without cluster access: the declared versions, and the plan says so; required: an error", async () => {
  const nowhere = yaml.replace(/server: \S+/, "server: https://127.0.0.1:65534");
  const cu = new ClusterUpgrade("offline", {
    nodes: NODES,
    currentVersion: FROM,
    targetVersion: TARGET,
    kubeconfig: nowhere,
    commandOverride: "true",
  });
  await cu.ready;
  const text = await new Promise<string>((r) => cu.planText.apply(r));
  expect(text.split("\n")[1]).toMatch(
    /^Versions as declared \(currentVersion \/ nodes\[\]\.version\): the cluster was not read \(listing the nodes: .*ECONNREFUSED.*\); the plan may not match the cluster$/,
  );
  expect(Object.keys(cu.nodeUpgrades)).toEqual(["cp-1", "w-1", "w-2"]);
  const required = new ClusterUpgrade("offline-req", {
    nodes: NODES,
    currentVersion: FROM,
    targetVersion: TARGET,
    kubeconfig: nowhere,
    commandOverride: "true",
    livePlan: "required",
  });
  await expect(required.ready).rejects.toThrow(
    /ClusterUpgrade offline-req: invalid livePlan "required": the cluster could not be read for the plan: listing the nodes: /,
  );
});
