/**
 * Each kubectl drain filter case against the real control plane: the message, and that nothing
 * is evicted (and the node is left as it was) when any pod cannot be deleted.
 */
import { CORDONED_BY_ANNOTATION, DrainFilterError, drainNode } from "../../../lib/core/drain";
import {
  createBarePod,
  createDaemonSet,
  createDeployment,
  listPods,
  waitForReadyPods,
} from "../../cluster/fixtures";
import { TOLERATIONS, type DrainEnv, drainEnv, recorder } from "./helpers";

jest.setTimeout(180_000);

let env: DrainEnv;
beforeAll(async () => {
  env = await drainEnv("drain-filters");
});
afterAll(async () => {
  await env?.cleanup();
});

const FAST = { retryIntervalMs: 300, timeoutSeconds: 60 };

async function expectFilterError(p: Promise<unknown>): Promise<DrainFilterError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DrainFilterError);
  return e as DrainFilterError;
}

test("DaemonSet pods: refused without ignoreDaemonSets (node untouched), left in place with it", async () => {
  const [node] = await env.workers("ds", 1);
  await createDaemonSet(env.kc, env.ns, {
    name: "agent",
    nodeNames: [node],
    tolerations: TOLERATIONS,
  });
  await createDeployment(env.kc, env.ns, {
    name: "web",
    replicas: 1,
    nodeNames: [node],
    tolerations: TOLERATIONS,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "agent" }, 1);
  await waitForReadyPods(env.kc, env.ns, { app: "web" }, 1);

  const err = await expectFilterError(drainNode(env.kc, node, { ...FAST, runId: "t-ds" }));
  expect(err.problems).toEqual([
    expect.stringMatching(
      new RegExp(
        `^cannot delete DaemonSet-managed Pods \\(use --ignore-daemonsets to ignore\\).*: ${env.ns}/agent-`,
      ),
    ),
  ]);
  expect(err.nodeCordoned).toBe(false);
  const n = await env.readNode(node);
  expect(n.spec?.unschedulable).toBeFalsy();
  expect(n.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();
  expect(Object.values(await env.placement({ app: "web" }))).toEqual([node]); // nothing evicted

  const rec = recorder();
  const res = await drainNode(env.kc, node, {
    ...FAST,
    runId: "t-ds",
    ignoreDaemonSets: true,
    ...rec.callbacks,
  });
  expect(res.evictedPods).toEqual([expect.stringMatching(new RegExp(`^${env.ns}/web-`))]);
  expect(res.warnings).toEqual([
    expect.stringMatching(new RegExp(`^ignoring DaemonSet-managed Pods: ${env.ns}/agent-`)),
  ]);
  expect(rec.of("warning")).toEqual(res.warnings);
  expect(rec.of("cordoned")).toEqual([`node/${node} cordoned`]);
  // the DaemonSet pod is still there
  const agents = await listPods(env.kc, env.ns, { app: "agent" });
  expect(agents.filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.spec?.nodeName)).toEqual(
    [node],
  );
  expect((await env.readNode(node)).spec?.unschedulable).toBe(true);
});

test("bare pods, emptyDir pods: every problem reported at once, nothing evicted; force + deleteEmptyDirData drain them", async () => {
  const [node] = await env.workers("bare", 1);
  await createBarePod(env.kc, env.ns, { name: "bare-1", nodeName: node });
  await createBarePod(env.kc, env.ns, { name: "bare-2", nodeName: node });
  await createDeployment(env.kc, env.ns, {
    name: "cache",
    replicas: 1,
    nodeNames: [node],
    tolerations: TOLERATIONS,
    emptyDir: true,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "cache" }, 1);

  const err = await expectFilterError(drainNode(env.kc, node, { ...FAST, runId: "t-bare" }));
  expect(err.problems).toHaveLength(2);
  expect(err.problems).toContain(
    "cannot delete Pods that declare no controller (use --force to override) [kube-upkeep option: force: true]: " +
      `${env.ns}/bare-1, ${env.ns}/bare-2`,
  );
  expect(err.problems.find((p) => p.includes("local storage"))).toMatch(
    new RegExp(
      `^cannot delete Pods with local storage \\(use --delete-emptydir-data to override\\) \\[kube-upkeep option: deleteEmptyDirData: true\\]: ${env.ns}/cache-`,
    ),
  );
  expect(err.message).toContain("nothing was evicted, the node is schedulable (left as it was)");
  expect((await env.readNode(node)).spec?.unschedulable).toBeFalsy();
  expect((await listPods(env.kc, env.ns, { app: "bare-1" })).length).toBe(1);

  // force alone is not enough: the emptyDir pod still blocks
  const err2 = await expectFilterError(
    drainNode(env.kc, node, { ...FAST, runId: "t-bare", force: true }),
  );
  expect(err2.problems).toEqual([expect.stringContaining("Pods with local storage")]);

  const res = await drainNode(env.kc, node, {
    ...FAST,
    runId: "t-bare",
    force: true,
    deleteEmptyDirData: true,
  });
  expect([...res.evictedPods].sort()).toEqual([
    `${env.ns}/bare-1`,
    `${env.ns}/bare-2`,
    expect.stringMatching(new RegExp(`^${env.ns}/cache-`)),
  ]);
  expect(res.warnings).toEqual(
    expect.arrayContaining([
      `deleting Pods that declare no controller: ${env.ns}/bare-1, ${env.ns}/bare-2`,
      expect.stringMatching(/^deleting Pods with local storage: /),
    ]),
  );
  expect(await listPods(env.kc, env.ns, { app: "bare-1" })).toEqual([]);
});

test("mirror pods are skipped, not evicted", async () => {
  const [node] = await env.workers("mirror", 1);
  await createBarePod(env.kc, env.ns, { name: "static-web", nodeName: node, mirror: true });
  await createDeployment(env.kc, env.ns, {
    name: "m-web",
    replicas: 1,
    nodeNames: [node],
    tolerations: TOLERATIONS,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "m-web" }, 1);
  const res = await drainNode(env.kc, node, { ...FAST, runId: "t-mirror" });
  expect(res.skippedPods).toEqual([{ pod: `${env.ns}/static-web`, reason: "mirror pod" }]);
  expect(res.evictedPods).toEqual([expect.stringMatching(new RegExp(`^${env.ns}/m-web-`))]);
  expect(
    (await listPods(env.kc, env.ns, { app: "static-web" })).map((p) => p.spec?.nodeName),
  ).toEqual([node]);
});

test("podSelector drains only the selected pods", async () => {
  const [node] = await env.workers("sel", 1);
  await createDeployment(env.kc, env.ns, {
    name: "sel-a",
    replicas: 1,
    nodeNames: [node],
    tolerations: TOLERATIONS,
  });
  await createDeployment(env.kc, env.ns, {
    name: "sel-b",
    replicas: 1,
    nodeNames: [node],
    tolerations: TOLERATIONS,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "sel-a" }, 1);
  await waitForReadyPods(env.kc, env.ns, { app: "sel-b" }, 1);
  const res = await drainNode(env.kc, node, { ...FAST, runId: "t-sel", podSelector: "app=sel-a" });
  expect(res.evictedPods).toEqual([expect.stringMatching(new RegExp(`^${env.ns}/sel-a-`))]);
  expect(Object.values(await env.placement({ app: "sel-b" }))).toEqual([node]);
});

test("disableEviction deletes pods (DELETE, not the eviction API)", async () => {
  const [node] = await env.workers("del", 1);
  await createDeployment(env.kc, env.ns, {
    name: "d-web",
    replicas: 2,
    nodeNames: [node],
    tolerations: TOLERATIONS,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "d-web" }, 2);
  const rec = recorder();
  const res = await drainNode(env.kc, node, {
    ...FAST,
    runId: "t-del",
    disableEviction: true,
    ...rec.callbacks,
  });
  expect(res.usingEviction).toBe(false);
  expect(res.evictedPods).toHaveLength(2);
  expect(rec.of("evicting").every((m) => m.startsWith("deleting pod "))).toBe(true);
  expect(rec.of("deleted").every((m) => m.endsWith(" deleted"))).toBe(true);
});
