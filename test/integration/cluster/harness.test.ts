/**
 * Proves the local control plane is real: version, server-side apply of every synthesized
 * manifest, apiserver validation, the disruption controller, the eviction subresource, the
 * scheduler honouring cordons, and the kwok stages behind the fixtures.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  PolicyV1Api,
  VersionApi,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT, readVersions, testRunPid } from "../../cluster/cluster";
import {
  CONTROL_PLANE_LABEL,
  MIRROR_ANNOTATION,
  POOL_LABEL,
  createBarePod,
  createDaemonSet,
  createDeployment,
  createNamespace,
  createNodes,
  createPdb,
  createWorkerPool,
  createStatefulSet,
  deleteNamespace,
  deleteNodes,
  evictPod,
  isPodReady,
  listPods,
  loadKubeConfig,
  setUnschedulable,
  statusOf,
  uniqueName,
  waitFor,
  waitForPdbStatus,
  waitForReadyPods,
} from "../../cluster/fixtures";

jest.setTimeout(180_000);

const run = promisify(execFile);
const FIELD_MANAGER = "kube-upkeep-harness-test";

let kc: KubeConfig;
let ns: string;
const nodes: string[] = [];

beforeAll(async () => {
  kc = loadKubeConfig();
  ns = await createNamespace(kc, "harness");
});

afterAll(async () => {
  if (!kc) return;
  await deleteNamespace(kc, ns);
  await deleteNodes(kc, nodes);
});

/** Creates worker nodes <pool>-<i> in one new pool and remembers them for cleanup. */
async function workers(prefix: string, count: number, opts: { cordoned?: number[] } = {}) {
  const created = await createWorkerPool(kc, prefix, count, {
    kubeletVersion: "v1.35.4",
    cordoned: opts.cordoned,
  });
  nodes.push(...created.names);
  return created;
}

test("/version reports the pinned Kubernetes version", async () => {
  const v = await kc.makeApiClient(VersionApi).getCode();
  expect(v.gitVersion).toBe(readVersions().kubernetes);
  expect(v.gitVersion).toBe("v1.35.4");
});

/** Synthesizes examples/cdk8s/main.ts into a temp dir (never touching dist/) and returns the files. */
async function synthManifests(): Promise<string[]> {
  const main = join(REPO_ROOT, "examples", "cdk8s", "main.ts");
  if (!existsSync(main)) {
    throw new Error(
      `${main} does not exist yet, so \`npm run synth\` has nothing to synthesize; ` +
        "the harness test applies every manifest it writes (dist/*.k8s.yaml).",
    );
  }
  const out = mkdtempSync(join(tmpdir(), "ku-synth-"));
  try {
    await run(join(REPO_ROOT, "node_modules", ".bin", "cdk8s"), ["synth", "--output", out], {
      cwd: REPO_ROOT,
      timeout: 120_000,
      env: { ...process.env, CDK8S_CHECK_UPGRADE: "false" },
    });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`cdk8s synth failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`);
  }
  const files = readdirSync(out)
    .filter((f) => f.endsWith(".k8s.yaml"))
    .map((f) => join(out, f));
  const texts = files.map((f) => readFileSync(f, "utf8"));
  rmSync(out, { recursive: true, force: true });
  if (texts.length === 0) throw new Error("cdk8s synth wrote no *.k8s.yaml file");
  return texts;
}

async function serverSideApply(
  api: KubernetesObjectApi,
  obj: KubernetesObject,
): Promise<KubernetesObject> {
  return api.patch(obj, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
}

test("every manifest `npm run synth` writes is accepted by server-side apply", async () => {
  const texts = await synthManifests();
  const objects = texts.flatMap((t) =>
    parseAllDocuments(t)
      .map((d) => d.toJS() as KubernetesObject | null)
      .filter((o): o is KubernetesObject => !!o && !!o.kind),
  );
  expect(objects.length).toBeGreaterThan(0);
  const api = KubernetesObjectApi.makeApiClient(kc);
  const core = kc.makeApiClient(CoreV1Api);
  // namespaces first: the ones declared, then any referenced but not declared
  const declared = objects.filter((o) => o.kind === "Namespace");
  for (const o of declared) await serverSideApply(api, o);
  const referenced = new Set(
    objects.map((o) => o.metadata?.namespace).filter((n): n is string => !!n),
  );
  for (const name of referenced) {
    try {
      await core.readNamespace({ name });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      await core.createNamespace({ body: { metadata: { name } } });
    }
  }
  const failures: string[] = [];
  for (const o of objects.filter((x) => x.kind !== "Namespace")) {
    try {
      const applied = await serverSideApply(api, o);
      expect(applied.metadata?.uid).toBeTruthy();
    } catch (e) {
      const body = (e as { body?: unknown }).body;
      failures.push(
        `${o.kind} ${o.metadata?.namespace ?? ""}/${o.metadata?.name}: ${statusOf(e)} ${String(body)}`,
      );
    }
  }
  expect(failures).toEqual([]);
});

test("the apiserver rejects a PDB with both minAvailable and maxUnavailable, with its own message", async () => {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const broken = {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: { name: "broken", namespace: ns },
    spec: { minAvailable: 1, maxUnavailable: 1, selector: { matchLabels: { app: "x" } } },
  };
  let error: unknown;
  try {
    await serverSideApply(api, broken);
  } catch (e) {
    error = e;
  }
  expect(statusOf(error)).toBe(422);
  expect(String((error as { body?: unknown }).body)).toContain(
    "minAvailable and maxUnavailable cannot be both set",
  );
});

test("disruption controller fills PDB status; eviction is refused with 429 when the budget is exhausted and succeeds otherwise", async () => {
  const { names } = await workers("pdb", 3);
  const labels = { app: "web" };
  await createDeployment(kc, ns, { name: "web", replicas: 3, labels, nodeNames: names });
  await waitForReadyPods(kc, ns, labels, 3);

  // budget exhausted: minAvailable equals replicas
  await createPdb(kc, ns, { name: "web", selector: labels, minAvailable: 3 });
  const exhausted = await waitForPdbStatus(kc, ns, "web", {
    currentHealthy: 3,
    expectedPods: 3,
    desiredHealthy: 3,
  });
  expect(exhausted.disruptionsAllowed).toBe(0);
  const [victim] = await waitForReadyPods(kc, ns, labels, 3);
  const refused = await evictPod(kc, ns, victim.metadata!.name!);
  expect(refused.status).toBe(429);
  expect(refused.message).toContain("disruption budget");
  expect((await listPods(kc, ns, labels)).map((p) => p.metadata!.name)).toContain(
    victim.metadata!.name,
  );

  // one disruption allowed
  await kc
    .makeApiClient(PolicyV1Api)
    .patchNamespacedPodDisruptionBudget(
      { name: "web", namespace: ns, body: { spec: { minAvailable: 2 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  const open = await waitForPdbStatus(kc, ns, "web", {
    disruptionsAllowed: 1,
    currentHealthy: 3,
    desiredHealthy: 2,
  });
  expect(open.expectedPods).toBe(3);
  const accepted = await evictPod(kc, ns, victim.metadata!.name!);
  expect(accepted).toEqual({ status: 201, message: "" });
  // kwok completes the deletion; the ReplicaSet recreates the pod
  await waitFor(
    async () =>
      !(await listPods(kc, ns, labels)).some((p) => p.metadata!.uid === victim.metadata!.uid),
    { what: `evicted pod ${victim.metadata!.name} gone` },
  );
  const after = await waitForReadyPods(kc, ns, labels, 3);
  expect(after.map((p) => p.metadata!.uid)).not.toContain(victim.metadata!.uid);
  await waitForPdbStatus(kc, ns, "web", { disruptionsAllowed: 1, currentHealthy: 3 });
});

test("a cordoned node receives no recreated pods", async () => {
  // a schedulable, b cordoned: all replicas start on a
  const {
    names: [a, b],
  } = await workers("cordon", 2, { cordoned: [1] });
  const labels = { app: "moving" };
  await createDeployment(kc, ns, { name: "moving", replicas: 4, labels, nodeNames: [a, b] });
  const before = await waitForReadyPods(kc, ns, labels, 4);
  expect(new Set(before.map((p) => p.spec!.nodeName))).toEqual(new Set([a]));

  // swap: cordon a, uncordon b, delete the pods on a
  await setUnschedulable(kc, a, true);
  await setUnschedulable(kc, b, false);
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(
    before.map((p) => core.deleteNamespacedPod({ name: p.metadata!.name!, namespace: ns })),
  );
  const after = await waitFor(
    async () => {
      const pods = await waitForReadyPods(kc, ns, labels, 4);
      return pods.every((p) => !before.some((q) => q.metadata!.uid === p.metadata!.uid))
        ? pods
        : undefined;
    },
    { timeoutMs: 90_000, what: "4 recreated ready pods" },
  );
  expect(new Set(after.map((p) => p.spec!.nodeName))).toEqual(new Set([b]));
});

test("fixtures: node roles and kubelet versions, DaemonSet, StatefulSet, bare and mirror pods, pod deletion", async () => {
  const pool = uniqueName("fx");
  const cp = `${pool}-cp`;
  const w = `${pool}-w`;
  nodes.push(cp, w);
  const created = await createNodes(kc, [
    { name: cp, role: "control-plane", kubeletVersion: "v1.34.3", pool },
    { name: w, role: "worker", kubeletVersion: "v1.33.7", pool },
  ]);
  expect(created.map((n) => n.status?.nodeInfo?.kubeletVersion)).toEqual(["v1.34.3", "v1.33.7"]);
  expect(created[0].metadata?.labels?.[CONTROL_PLANE_LABEL]).toBe("");
  // the fixture's own taints; node.kubernetes.io/not-ready is the node lifecycle controller's,
  // added at registration and removed a moment after Ready (it made this assertion flaky)
  const ownTaints = (created[0].spec?.taints ?? []).filter(
    (t) => !t.key.startsWith("node.kubernetes.io/"),
  );
  expect(ownTaints).toEqual([{ key: CONTROL_PLANE_LABEL, effect: "NoSchedule" }]);
  expect(created[1].metadata?.labels?.[CONTROL_PLANE_LABEL]).toBeUndefined();
  // the version survives kwok's heartbeats
  const core = kc.makeApiClient(CoreV1Api);
  expect((await core.readNode({ name: cp })).status?.nodeInfo?.kubeletVersion).toBe("v1.34.3");

  // DaemonSet over the pool: the control-plane taint keeps it on the worker only
  await createDaemonSet(kc, ns, { name: "agent", nodeSelector: { [POOL_LABEL]: pool } });
  const [agent] = await waitForReadyPods(kc, ns, { app: "agent" }, 1);
  expect(agent.spec?.nodeName).toBe(w);
  expect(agent.metadata?.ownerReferences?.[0]?.kind).toBe("DaemonSet");

  await createStatefulSet(kc, ns, {
    name: "db",
    replicas: 2,
    nodeSelector: { [POOL_LABEL]: pool },
    emptyDir: true,
  });
  const db = await waitForReadyPods(kc, ns, { app: "db" }, 2);
  expect(db.map((p) => p.metadata?.name).sort()).toEqual(["db-0", "db-1"]);

  await createBarePod(kc, ns, { name: "bare", nodeName: w, emptyDir: true });
  await createBarePod(kc, ns, { name: "static", nodeName: cp, mirror: true });
  const [bare] = await waitForReadyPods(kc, ns, { app: "bare" }, 1);
  const [mirror] = await waitForReadyPods(kc, ns, { app: "static" }, 1);
  expect(bare.metadata?.ownerReferences).toBeUndefined();
  expect(bare.spec?.volumes?.[0]?.emptyDir).toEqual({});
  expect(mirror.metadata?.annotations?.[MIRROR_ANNOTATION]).toBeTruthy();
  expect(isPodReady(mirror)).toBe(true);

  // kwok's pod-delete stage completes deletion of a bare pod
  await core.deleteNamespacedPod({ name: "bare", namespace: ns, gracePeriodSeconds: 30 });
  await waitFor(async () => (await listPods(kc, ns, { app: "bare" })).length === 0, {
    what: "bare pod deleted",
  });
});

test("stale-cluster cleanup knows every cluster name a test run gives, and no other", () => {
  expect(
    ["ku-test-123", "ku-test-123-restore", "ku-e2e-55", "ku-e2e-kill-77"].map(testRunPid),
  ).toEqual([123, 123, 55, 77]);
  // the dev cluster (npm run cluster:up), the demo's, and malformed names are never deleted
  for (const name of ["kube-upkeep", "ku-demo", "ku-test-x", "ku-e2e-kill-", "ku-test-0"])
    expect({ name, pid: testRunPid(name) }).toEqual({ name, pid: undefined });
});
