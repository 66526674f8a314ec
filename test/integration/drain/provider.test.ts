/** The NodeDrain / NodeUncordon dynamic providers' methods called directly against the cluster. */
import { readFileSync } from "node:fs";
import { CORDONED_BY_ANNOTATION } from "kube-upkeep/core";
import { type NodeDrainOutputs, nodeDrainProvider } from "../../../lib/pulumi/node-drain";
import { nodeUncordonProvider } from "../../../lib/pulumi/node-uncordon";
import { createBarePod } from "../../cluster/fixtures";
import { type DrainEnv, drainEnv } from "./helpers";

jest.setTimeout(180_000);

let env: DrainEnv;
let kubeconfig: string;
beforeAll(async () => {
  env = await drainEnv("drain-provider");
  kubeconfig = readFileSync(process.env.KUBECONFIG ?? "", "utf8");
});
afterAll(async () => {
  await env?.cleanup();
});

test("NodeDrain create drains; delete of an older run leaves the newer cordon; delete of the owner uncordons", async () => {
  const { a, pods } = await env.podsToEvict("prov", "pw");

  const inputs = {
    nodeName: a,
    kubeconfig,
    runId: "prov-1",
    options: { timeoutSeconds: 60, ignoreDaemonSets: true },
  };
  expect((await nodeDrainProvider.check!({}, inputs)).failures).toEqual([]);
  const created = await nodeDrainProvider.create(inputs);
  const outs = created.outs as NodeDrainOutputs;
  expect(created.id).toBe(`${a}/prov-1`);
  expect([...outs.evictedPods].sort()).toEqual(
    pods.map((p) => `${env.ns}/${p.metadata?.name}`).sort(),
  );
  expect(outs.cordonedByUs).toBe(true);
  expect(outs.durationMs).toBeGreaterThan(0);
  expect(outs.kubeconfig).toBe(kubeconfig); // kept (secret) for delete
  expect((await env.readNode(a)).spec?.unschedulable).toBe(true);

  // replacement with a new runId: the new drain runs first (takes over the cordon), then the old delete
  const created2 = await nodeDrainProvider.create({ ...inputs, runId: "prov-2" });
  expect((created2.outs as NodeDrainOutputs).evictedPods).toEqual([]);
  await nodeDrainProvider.delete!(created.id, outs);
  let node = await env.readNode(a);
  expect(node.spec?.unschedulable).toBe(true);
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("prov-2");

  await nodeDrainProvider.delete!(created2.id, created2.outs);
  node = await env.readNode(a);
  expect(node.spec?.unschedulable).toBeFalsy();
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();
});

test("NodeDrain create fails with the filter errors and leaves the node as it was", async () => {
  const [n] = await env.workers("provfail", 1);
  await createBarePod(env.kc, env.ns, { name: "lonely", nodeName: n });
  await expect(
    nodeDrainProvider.create({ nodeName: n, kubeconfig, runId: "pf", options: {} }),
  ).rejects.toThrow(/cannot delete Pods that declare no controller \(use --force to override\)/);
  expect((await env.readNode(n)).spec?.unschedulable).toBeFalsy();
});

test("NodeUncordon create: uncordons kube-upkeep's cordon, reports (and keeps) an admin's", async () => {
  const [mine, admin] = await env.workers("unc", 2, [1]);
  await nodeDrainProvider.create({ nodeName: mine, kubeconfig, runId: "u-1", options: {} });
  const r1 = await nodeUncordonProvider.create({ nodeName: mine, kubeconfig, runId: "u-1" });
  expect(r1.outs).toMatchObject({ uncordoned: true, outcome: "uncordoned" });
  expect((await env.readNode(mine)).spec?.unschedulable).toBeFalsy();

  const r2 = await nodeUncordonProvider.create({ nodeName: admin, kubeconfig, runId: "u-1" });
  expect(r2.outs).toMatchObject({ uncordoned: false, outcome: "cordoned-by-someone-else" });
  expect((await env.readNode(admin)).spec?.unschedulable).toBe(true);
  await nodeUncordonProvider.delete!(r2.id, r2.outs); // never re-cordons / touches
  expect((await env.readNode(mine)).spec?.unschedulable).toBeFalsy();
});
