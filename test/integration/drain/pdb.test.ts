/**
 * PodDisruptionBudgets against the real disruption controller and eviction API: a budget that
 * blocks and then allows (scale up during the drain), one that never allows (timeout, node stays
 * cordoned), two budgets on one pod (500), and evicted Deployment pods recreated elsewhere.
 */
import {
  CORDONED_BY_ANNOTATION,
  DrainEvictionError,
  DrainTimeoutError,
  drainNode,
} from "../../../lib/core/drain";
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
    /^error when evicting pods\/"web-[a-z0-9-]+" -n "[^"]+" \(will retry after 500ms\): /,
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
