/**
 * What DrainSafety says at synth against what the real control plane does with the same
 * manifests: the chart is synthesized, applied to the local kube-apiserver (kwok nodes, real
 * disruption controller), and for every PodDisruptionBudget the status.disruptionsAllowed the
 * controller computes and the answer of the Eviction API are compared with the findings.
 */
import {
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PolicyV1Api,
  type KubernetesObject,
  type V1PodDisruptionBudget,
} from "@kubernetes/client-node";
import { Chart, Testing } from "cdk8s";
import { k8s } from "cdk8s-plus-33";
import { Construct } from "constructs";
import { checkDrainSafety, Finding, PodDisruptionBudget } from "kube-upkeep/cdk8s";
import { disruptionsAllowedAtFullHealth } from "kube-upkeep/core";
import {
  createNamespace,
  createNodes,
  deleteNamespace,
  deleteNodes,
  evictPod,
  listPods,
  loadKubeConfig,
  PAUSE_IMAGE,
  POOL_LABEL,
  uniqueName,
  waitFor,
  waitForPdbStatus,
  waitForReadyPods,
} from "../../cluster/fixtures";

jest.setTimeout(240_000);

const KUBELET_VERSION = "v1.35.4";

let kc: KubeConfig;
let ns: string;
let pool: string;
let nodes: string[] = [];
let findings: Finding[];

function podTemplate(labels: Record<string, string>) {
  return {
    metadata: { labels },
    spec: {
      containers: [{ name: "main", image: PAUSE_IMAGE }],
      nodeSelector: { [POOL_LABEL]: pool },
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
    },
  };
}

function deployment(
  scope: Construct,
  name: string,
  replicas: number,
  labels: Record<string, string>,
) {
  return new k8s.KubeDeployment(scope, name, {
    metadata: { name },
    spec: { replicas, selector: { matchLabels: labels }, template: podTemplate(labels) },
  });
}

/**
 * PDBs over one workload each, the budget the chart sets and the case checks with:
 * [pdb, pod selector, budget, replicas, expected findings].
 */
const CASES: Array<
  [
    string,
    Record<string, string>,
    { minAvailable?: number | string; maxUnavailable?: number | string },
    number,
    string[],
  ]
> = [
  // web Deployment, maxUnavailable 1 -> fine, 1 disruption
  ["web-pdb", { app: "web" }, { maxUnavailable: 1 }, 3, []],
  // zookeeper StatefulSet, minAvailable 2 -> fine, 1 disruption
  ["zk-pdb", { app: "zk" }, { minAvailable: 2 }, 3, []],
  // api Deployment, minAvailable "90%" -> ceil(2.7) = 3 -> blocks
  ["api-pdb", { app: "api" }, { minAvailable: "90%" }, 3, ["error:pdb-blocks-drain"]],
  // cache Deployment, maxUnavailable "50%" -> ceil(1.5) = 2 disruptions
  ["cache-pdb", { app: "cache" }, { maxUnavailable: "50%" }, 3, []],
];

function buildChart(): Chart {
  const chart = new Chart(Testing.app(), "drain-safety-it", { namespace: ns });
  for (const [name, labels, budget, replicas] of CASES) {
    const workload =
      labels.app === "zk"
        ? new k8s.KubeStatefulSet(chart, "zk", {
            metadata: { name: "zk" },
            spec: {
              replicas,
              serviceName: "zk",
              podManagementPolicy: "Parallel",
              selector: { matchLabels: labels },
              template: podTemplate(labels),
            },
          })
        : deployment(chart, labels.app, replicas, labels);
    PodDisruptionBudget.forWorkload(chart, name, workload, { metadata: { name }, ...budget });
  }
  // e: shop, two PDBs over the same pods -> overlap
  deployment(chart, "shop", 2, { app: "shop", tier: "frontend" });
  new PodDisruptionBudget(chart, "shop-by-app", {
    metadata: { name: "shop-by-app" },
    selector: { matchLabels: { app: "shop" } },
    maxUnavailable: 1,
  });
  new PodDisruptionBudget(chart, "shop-by-tier", {
    metadata: { name: "shop-by-tier" },
    selector: { matchExpressions: [{ key: "tier", operator: "In", values: ["frontend"] }] },
    maxUnavailable: 1,
  });
  // f: DaemonSet with maxUnavailable -> unscalable
  new k8s.KubeDaemonSet(chart, "agent", {
    metadata: { name: "agent" },
    spec: { selector: { matchLabels: { app: "agent" } }, template: podTemplate({ app: "agent" }) },
  });
  new PodDisruptionBudget(chart, "agent-pdb", {
    metadata: { name: "agent-pdb" },
    selector: { matchLabels: { app: "agent" } },
    maxUnavailable: 1,
  });
  // g: a bare pod with maxUnavailable -> unscalable (not counted: 0 expected pods)
  new k8s.KubePod(chart, "solo", {
    metadata: { name: "solo", labels: { app: "solo" } },
    spec: podTemplate({ app: "solo" }).spec,
  });
  new PodDisruptionBudget(chart, "solo-pdb", {
    metadata: { name: "solo-pdb" },
    selector: { matchLabels: { app: "solo" } },
    maxUnavailable: 1,
  });
  return chart;
}

beforeAll(async () => {
  kc = loadKubeConfig();
  ns = await createNamespace(kc, "drain-safety");
  pool = uniqueName("drain-safety");
  nodes = [`${pool}-0`, `${pool}-1`];
  await createNodes(
    kc,
    nodes.map((name) => ({ name, role: "worker" as const, kubeletVersion: KUBELET_VERSION, pool })),
  );
  const chart = buildChart();
  findings = checkDrainSafety(chart);
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const manifest of Testing.synth(chart)) await client.create(manifest as KubernetesObject);
  await Promise.all([
    ...CASES.map(([, labels, , replicas]) => waitForReadyPods(kc, ns, labels, replicas)),
    waitForReadyPods(kc, ns, { app: "shop" }, 2),
    waitForReadyPods(kc, ns, { app: "agent" }, 2),
    waitForReadyPods(kc, ns, { app: "solo" }, 1),
  ]);
});

afterAll(async () => {
  if (kc && ns) await deleteNamespace(kc, ns);
  if (kc && nodes.length) await deleteNodes(kc, nodes);
});

const codesFor = (pdb: string) =>
  findings.filter((f) => f.pdbs.includes(pdb)).map((f) => `${f.severity}:${f.code}`);

async function firstPod(selector: Record<string, string>): Promise<string> {
  const [pod] = await listPods(kc, ns, selector);
  return pod.metadata!.name!;
}

describe.each(CASES)("%s", (name, selector, budget, replicas, codes) => {
  it("DrainSafety and the disruption controller agree on disruptionsAllowed", async () => {
    const expected = disruptionsAllowedAtFullHealth(budget, replicas);
    expect(codesFor(name)).toEqual(codes);
    const status = await waitForPdbStatus(
      kc,
      ns,
      name,
      (s) => s.currentHealthy === replicas && s.expectedPods === replicas,
    );
    expect(status.disruptionsAllowed).toBe(expected);
    expect(expected === 0).toBe(codes.includes("error:pdb-blocks-drain"));
  });

  it("the Eviction API answers accordingly", async () => {
    const expected = disruptionsAllowedAtFullHealth(budget, replicas);
    const res = await evictPod(kc, ns, await firstPod(selector));
    if (expected === 0) {
      expect(res.status).toBe(429);
      expect(res.message).toContain(
        "Cannot evict pod as it would violate the pod's disruption budget",
      );
    } else {
      expect(res.status).toBe(201);
    }
  });
});

test("pdb-overlap: the Eviction API refuses the pods with HTTP 500", async () => {
  const overlap = findings.filter((f) => f.code === "pdb-overlap");
  expect(overlap.map((f) => [f.severity, f.pdbs, f.workloads])).toEqual([
    ["error", ["shop-by-app", "shop-by-tier"], ["Deployment/shop"]],
  ]);
  await waitForPdbStatus(kc, ns, "shop-by-app", { currentHealthy: 2, disruptionsAllowed: 1 });
  await waitForPdbStatus(kc, ns, "shop-by-tier", { currentHealthy: 2, disruptionsAllowed: 1 });
  const res = await evictPod(kc, ns, await firstPod({ app: "shop" }));
  expect(res.status).toBe(500);
  expect(res.message).toContain("This pod has more than one PodDisruptionBudget");
});

test("pdb-unscalable: maxUnavailable over DaemonSet pods leaves disruptionsAllowed at 0", async () => {
  expect(codesFor("agent-pdb")).toEqual(["warning:pdb-unscalable"]);
  const policy = kc.makeApiClient(PolicyV1Api);
  const pdb: V1PodDisruptionBudget = await waitFor(
    async () => {
      const p = await policy.readNamespacedPodDisruptionBudget({
        name: "agent-pdb",
        namespace: ns,
      });
      const cond = (p.status?.conditions ?? []).find((c) => c.type === "DisruptionAllowed");
      return cond?.status === "False" && cond.reason === "SyncFailed" ? p : undefined;
    },
    { timeoutMs: 60_000, what: "agent-pdb condition DisruptionAllowed=False (SyncFailed)" },
  );
  expect(pdb.status?.disruptionsAllowed).toBe(0);
  expect(
    (pdb.status?.conditions ?? []).find((c) => c.type === "DisruptionAllowed")?.message,
  ).toContain("daemonsets.apps does not implement the scale subresource");
  const res = await evictPod(kc, ns, await firstPod({ app: "agent" }));
  expect(res.status).toBe(429);
  // the pod is still there
  const core = kc.makeApiClient(CoreV1Api);
  expect(
    (await core.listNamespacedPod({ namespace: ns, labelSelector: "app=agent" })).items,
  ).toHaveLength(2);
});

test("pdb-unscalable: maxUnavailable over a bare pod counts 0 expected pods and allows 0 disruptions", async () => {
  expect(codesFor("solo-pdb")).toEqual(["error:pdb-unscalable"]);
  const status = await waitForPdbStatus(kc, ns, "solo-pdb", (s) => s.currentHealthy === 1);
  expect([status.expectedPods, status.disruptionsAllowed]).toEqual([0, 0]);
  expect((await evictPod(kc, ns, "solo")).status).toBe(429);
});

/** Replaces the spec of PDB `name` in the cluster with the one `fixed` synthesizes. */
async function applyPdbSpec(name: string, fixed: Chart): Promise<void> {
  const manifest = Testing.synth(fixed).find(
    (m) => m.kind === "PodDisruptionBudget" && m.metadata.name === name,
  ) as V1PodDisruptionBudget;
  const policy = kc.makeApiClient(PolicyV1Api);
  const live = await policy.readNamespacedPodDisruptionBudget({ name, namespace: ns });
  await policy.replaceNamespacedPodDisruptionBudget({
    name,
    namespace: ns,
    body: { ...live, spec: manifest.spec },
  });
}

// After the tests above: these change the cluster's PDBs.
test("pdb-blocks-drain: its fix, applied, lets the Eviction API evict", async () => {
  const [blocking] = findings.filter((f) => f.pdb === "api-pdb");
  expect(blocking.fix).toBe(
    "allow at least one disruption: maxUnavailable: 1 or minAvailable: 2 (a percentage of at most 66% for minAvailable), or raise the replica count",
  );
  const fixed = new Chart(Testing.app(), "fixed", { namespace: ns });
  const api = deployment(fixed, "api", 3, { app: "api" });
  PodDisruptionBudget.forWorkload(fixed, "api-pdb", api, {
    metadata: { name: "api-pdb" },
    minAvailable: 2,
  });
  expect(checkDrainSafety(fixed)).toEqual([]);
  await applyPdbSpec("api-pdb", fixed);
  await waitForPdbStatus(kc, ns, "api-pdb", { currentHealthy: 3, disruptionsAllowed: 1 });
  expect((await evictPod(kc, ns, await firstPod({ app: "api" }))).status).toBe(201);
});

test("pdb-overlap: its fix, applied, lets the Eviction API evict", async () => {
  const [overlap] = findings.filter((f) => f.code === "pdb-overlap");
  expect(overlap.fix).toBe(
    "keep one PDB per workload; narrow the selectors so each pod matches exactly one",
  );
  await kc
    .makeApiClient(PolicyV1Api)
    .deleteNamespacedPodDisruptionBudget({ name: "shop-by-tier", namespace: ns });
  await waitForPdbStatus(kc, ns, "shop-by-app", { currentHealthy: 2, disruptionsAllowed: 1 });
  expect((await evictPod(kc, ns, await firstPod({ app: "shop" }))).status).toBe(201);
});
