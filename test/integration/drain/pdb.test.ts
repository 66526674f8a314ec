/**
 * PodDisruptionBudgets against the real disruption controller and eviction API: a budget that
 * blocks and then allows (scale up during the drain), one that never allows (timeout, node stays
 * cordoned), two budgets on one pod (500), and evicted Deployment pods recreated elsewhere.
 */
import { PatchStrategy, PolicyV1Api, setHeaderOptions } from "@kubernetes/client-node";
import {
  CORDONED_BY_ANNOTATION,
  DrainBlockedError,
  DrainEvictionError,
  DrainTimeoutError,
  drainNode,
} from "kube-upkeep/core";
import {
  createDeployment,
  createPdb,
  scaleDeployment,
  setUnschedulable,
  waitForPdbStatus,
  waitForReadyPods,
} from "../../cluster/fixtures";
import { TOLERATIONS, type DrainEnv, drainEnv, recorder } from "./helpers";

jest.setTimeout(240_000);

let env: DrainEnv;
beforeAll(async () => {
  env = await drainEnv("drain-pdb");
});
afterAll(async () => {
  await env?.cleanup();
});

/** Two nodes; `replicas` pods of a Deployment all on node 0 (node 1 is cordoned while they start). */
async function deploymentOnFirstNode(prefix: string, name: string, replicas: number) {
  const [a, b] = await env.workers(prefix, 2, [1]);
  await createDeployment(env.kc, env.ns, {
    name,
    replicas,
    nodeNames: [a, b],
    tolerations: TOLERATIONS,
  });
  const pods = await waitForReadyPods(env.kc, env.ns, { app: name }, replicas);
  expect(pods.every((p) => p.spec?.nodeName === a)).toBe(true);
  await setUnschedulable(env.kc, b, false);
  return { a, b, pods: pods.map((p) => `${env.ns}/${p.metadata?.name}`) };
}

test("a PDB that blocks, then allows after a scale-up during the drain: retries, names the PDB, pods recreated on the other node", async () => {
  const { a, b, pods } = await deploymentOnFirstNode("unblock", "web", 2);
  await createPdb(env.kc, env.ns, { name: "web-pdb", selector: { app: "web" }, minAvailable: 2 });
  await waitForPdbStatus(env.kc, env.ns, "web-pdb", { disruptionsAllowed: 0, currentHealthy: 2 });

  const rec = recorder();
  let scaled = false;
  const res = await drainNode(env.kc, a, {
    runId: "t-unblock",
    retryIntervalMs: 500,
    timeoutSeconds: 120,
    // minAvailable 2 of 2 can never allow by itself: wait (as kubectl does) for the scale-up
    waitForBlockedPdbs: true,
    ...rec.callbacks,
    onPdbRetry: (e) => {
      rec.callbacks.onPdbRetry(e);
      if (!scaled) {
        scaled = true;
        void scaleDeployment(env.kc, env.ns, "web", 3);
      }
    },
  });
  expect(res.retries).toBeGreaterThanOrEqual(1);
  expect([...res.evictedPods].sort()).toEqual([...pods].sort());
  const retry = rec.of("pdbRetry")[0];
  expect(retry).toMatch(
    /^error when evicting pods\/"web-[a-z0-9-]+" -n "[^"]+" \(will retry when the budget allows it, at the latest after 500ms\): /,
  );
  expect(retry).toContain(
    `[blocked by PodDisruptionBudget ${env.ns}/web-pdb (disruptionsAllowed 0, 2 healthy, 2 desired`,
  );
  expect(rec.of("deleted").sort()).toEqual(pods.map((p) => `pod/${p} evicted`).sort());

  // the Deployment's pods were recreated on the other node
  const ready = await waitForReadyPods(env.kc, env.ns, { app: "web" }, 3);
  expect(ready.map((p) => p.spec?.nodeName)).toEqual([b, b, b]);
  const node = await env.readNode(a);
  expect(node.spec?.unschedulable).toBe(true);
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("t-unblock");
});

test("a refused eviction is retried as soon as the budget allows one (its watch), not after the retry interval", async () => {
  const { a, pods } = await deploymentOnFirstNode("early", "early", 2);
  await createPdb(env.kc, env.ns, {
    name: "early-pdb",
    selector: { app: "early" },
    minAvailable: 2,
  });
  await waitForPdbStatus(env.kc, env.ns, "early-pdb", { disruptionsAllowed: 0, currentHealthy: 2 });
  const rec = recorder();
  let scaledAt: number | undefined;
  const started = Date.now();
  const res = await drainNode(env.kc, a, {
    runId: "t-early",
    retryIntervalMs: 60_000, // the upper bound; the budget's status says when to retry
    timeoutSeconds: 120,
    waitForBlockedPdbs: true,
    ...rec.callbacks,
    onPdbRetry: (e) => {
      rec.callbacks.onPdbRetry(e);
      if (scaledAt === undefined) {
        scaledAt = Date.now();
        void scaleDeployment(env.kc, env.ns, "early", 4);
      }
    },
  });
  expect([...res.evictedPods].sort()).toEqual([...pods].sort());
  expect(res.retries).toBeGreaterThanOrEqual(1);
  // each retry came with the status that allowed it, far sooner than one 60 s interval
  expect(Date.now() - started).toBeLessThan(45_000);
  expect(rec.of("pdbRetry")[0]).toContain(
    "(will retry when the budget allows it, at the latest after 1m",
  );
});

test("a PDB that never allows: DrainTimeoutError listing the pods and the PDB; the node stays cordoned", async () => {
  const { a, pods } = await deploymentOnFirstNode("never", "stuck", 2);
  await createPdb(env.kc, env.ns, {
    name: "stuck-pdb",
    selector: { app: "stuck" },
    maxUnavailable: 0,
  });
  await waitForPdbStatus(env.kc, env.ns, "stuck-pdb", { disruptionsAllowed: 0, currentHealthy: 2 });

  const rec = recorder();
  const started = Date.now();
  const err = await drainNode(env.kc, a, {
    runId: "t-never",
    retryIntervalMs: 400,
    timeoutSeconds: 3,
    waitForBlockedPdbs: true, // kubectl's behaviour: retry until the timeout
    ...rec.callbacks,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const took = Date.now() - started;
  expect(err).toBeInstanceOf(DrainTimeoutError);
  const e = err as DrainTimeoutError;
  expect(took).toBeGreaterThanOrEqual(3000);
  expect(took).toBeLessThan(15_000);
  expect(e.message).toContain(
    `drain of node "${a}" timed out after 3s; node "${a}" stays cordoned. 2 pod(s) still on the node:`,
  );
  for (const p of pods) {
    expect(e.message).toContain(
      `${p}: eviction refused by PodDisruptionBudget ${env.ns}/stuck-pdb (disruptionsAllowed 0`,
    );
  }
  expect(e.pending.map((p) => p.pod).sort()).toEqual([...pods].sort());
  expect(e.evictedPods).toEqual([]);
  expect(rec.of("pdbRetry").length).toBeGreaterThanOrEqual(4); // ~3 s / 400 ms, 2 pods
  const node = await env.readNode(a);
  expect(node.spec?.unschedulable).toBe(true);
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("t-never");
  expect(Object.values(await env.placement({ app: "stuck" }))).toEqual([a, a]);
});

test("a PDB that can never allow (maxUnavailable 0, minAvailable = replicas): DrainBlockedError at once, before the cordon, naming the budget, its numbers and the fix", async () => {
  const { a, pods } = await deploymentOnFirstNode("never-fast", "nf", 2);
  await createPdb(env.kc, env.ns, { name: "nf-zero", selector: { app: "nf" }, maxUnavailable: 0 });
  await waitForPdbStatus(env.kc, env.ns, "nf-zero", { disruptionsAllowed: 0, currentHealthy: 2 });
  const started = Date.now();
  const err = await drainNode(env.kc, a, { runId: "t-nf", timeoutSeconds: 120 }).catch(
    (e: unknown) => e,
  );
  expect(Date.now() - started).toBeLessThan(5000);
  expect(err).toBeInstanceOf(DrainBlockedError);
  const e = err as DrainBlockedError;
  expect(e.nodeCordoned).toBe(false);
  expect(e.message).toContain(
    `cannot drain node "${a}": a PodDisruptionBudget will never allow the eviction; nothing was evicted`,
  );
  expect(e.message).toContain(
    `PodDisruptionBudget ${env.ns}/nf-zero (disruptionsAllowed 0, 2 healthy, 2 desired, 2 expected) blocks`,
  );
  for (const p of pods) expect(e.message).toContain(p);
  expect(e.message).toMatch(
    /maxUnavailable is 0: it never allows an eviction\. Fix: set maxUnavailable to at least 1/,
  );
  const node = await env.readNode(a);
  expect(node.spec?.unschedulable).toBeFalsy();
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();

  // minAvailable equal to the replicas: the same, with the scale-up fix
  await env.kc
    .makeApiClient(PolicyV1Api)
    .deleteNamespacedPodDisruptionBudget({ name: "nf-zero", namespace: env.ns });
  await createPdb(env.kc, env.ns, { name: "nf-all", selector: { app: "nf" }, minAvailable: 2 });
  await waitForPdbStatus(env.kc, env.ns, "nf-all", { disruptionsAllowed: 0, currentHealthy: 2 });
  const err2 = await drainNode(env.kc, a, { runId: "t-nf", timeoutSeconds: 120 }).catch(
    (x: unknown) => x,
  );
  expect(err2).toBeInstanceOf(DrainBlockedError);
  expect((err2 as Error).message).toContain(
    "minAvailable 2 >= the 2 pod(s) the workload can have. Fix: scale the workload up",
  );
});

test("a budget that becomes impossible during the drain (edited to maxUnavailable 0): DrainBlockedError after two checks, node stays cordoned, what was evicted is reported", async () => {
  // 2 pods on a; b stays cordoned, so the first evicted pod's replacement stays Pending: the
  // second eviction waits (the Pending pod could still schedule) until the budget is edited
  const [a, b] = await env.workers("never-mid", 2, [1]);
  await createDeployment(env.kc, env.ns, {
    name: "nm",
    replicas: 2,
    nodeNames: [a, b],
    tolerations: TOLERATIONS,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "nm" }, 2);
  await createPdb(env.kc, env.ns, { name: "nm-pdb", selector: { app: "nm" }, maxUnavailable: 1 });
  await waitForPdbStatus(env.kc, env.ns, "nm-pdb", { disruptionsAllowed: 1, currentHealthy: 2 });
  let edited = false;
  const err = await drainNode(env.kc, a, {
    runId: "t-nm",
    retryIntervalMs: 400,
    timeoutSeconds: 120,
    onPdbRetry: () => {
      if (edited) return;
      edited = true;
      void env.kc
        .makeApiClient(PolicyV1Api)
        .patchNamespacedPodDisruptionBudget(
          { name: "nm-pdb", namespace: env.ns, body: { spec: { maxUnavailable: 0 } } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        );
    },
  }).catch((e: unknown) => e);
  expect(edited).toBe(true);
  expect(err).toBeInstanceOf(DrainBlockedError);
  const e = err as DrainBlockedError;
  expect(e.nodeCordoned).toBe(true);
  expect(e.evictedPods).toHaveLength(1);
  expect(e.message).toContain(`node "${a}" stays cordoned (1 pod(s) were evicted before)`);
  expect(e.message).toContain(`PodDisruptionBudget ${env.ns}/nm-pdb`);
  void b;
});

test("a pod selected by two PDBs: the API's 500 is reported with both PDB names; node stays cordoned", async () => {
  const { a, pods } = await deploymentOnFirstNode("twopdb", "dup", 1);
  await createPdb(env.kc, env.ns, { name: "dup-a", selector: { app: "dup" }, maxUnavailable: 1 });
  await createPdb(env.kc, env.ns, { name: "dup-b", selector: { app: "dup" }, maxUnavailable: 1 });
  await waitForPdbStatus(env.kc, env.ns, "dup-a", { currentHealthy: 1 });
  await waitForPdbStatus(env.kc, env.ns, "dup-b", { currentHealthy: 1 });
  const err = await drainNode(env.kc, a, {
    runId: "t-dup",
    retryIntervalMs: 300,
    timeoutSeconds: 30,
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DrainEvictionError);
  const e = err as DrainEvictionError;
  expect(e.problems).toHaveLength(1);
  expect(e.problems[0]).toContain(`error when evicting pods/"${pods[0].split("/")[1]}"`);
  expect(e.problems[0]).toContain("more than one PodDisruptionBudget");
  expect(e.problems[0]).toContain(`2 PodDisruptionBudgets: ${env.ns}/dup-a, ${env.ns}/dup-b`);
  expect(e.message).toContain(`node "${a}" stays cordoned`);
  expect((await env.readNode(a)).spec?.unschedulable).toBe(true);
});

test("concurrency bound: pods are evicted at most `concurrency` at a time and all recreated elsewhere", async () => {
  const { a, b, pods } = await deploymentOnFirstNode("bound", "many", 4);
  let inFlight = 0;
  let maxInFlight = 0;
  const res = await drainNode(env.kc, a, {
    runId: "t-bound",
    concurrency: 2,
    timeoutSeconds: 60,
    onEvicting: () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
    },
    onDeleted: () => {
      inFlight--;
    },
  });
  expect(maxInFlight).toBe(2);
  expect([...res.evictedPods].sort()).toEqual([...pods].sort());
  const ready = await waitForReadyPods(env.kc, env.ns, { app: "many" }, 4);
  expect(new Set(ready.map((p) => p.spec?.nodeName))).toEqual(new Set([b]));
});
