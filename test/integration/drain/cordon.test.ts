/** Cordon ownership against the real API server: kube-upkeep never uncordons a cordon it did not make. */
import { CORDONED_BY_ANNOTATION, cordon, drainNode, uncordon } from "kube-upkeep/core";
import { CORDON_TAINT_ANNOTATION } from "../../../lib/core/drain/cordon";
import { CORDONED_AT_ANNOTATION } from "../../../lib/core/drain/messages";
import {
  createDeployment,
  setUnschedulable,
  waitFor,
  waitForReadyPods,
} from "../../cluster/fixtures";
import { TOLERATIONS, type DrainEnv, drainEnv } from "./helpers";

jest.setTimeout(180_000);

let env: DrainEnv;
beforeAll(async () => {
  env = await drainEnv("drain-cordon");
});
afterAll(async () => {
  await env?.cleanup();
});

test("an admin-cordoned node: drain works, cordonedByUs is false, and uncordon leaves it cordoned", async () => {
  const [a, b] = await env.workers("admin", 2);
  await createDeployment(env.kc, env.ns, {
    name: "adm",
    replicas: 1,
    nodeNames: [a],
    tolerations: TOLERATIONS,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "adm" }, 1);
  await setUnschedulable(env.kc, a, true); // the admin's cordon
  void b;

  const res = await drainNode(env.kc, a, { runId: "t-admin", timeoutSeconds: 60 });
  expect(res.cordon).toMatchObject({
    cordonedByUs: false,
    alreadyCordoned: true,
    message: `node/${a} already cordoned`,
  });
  expect(res.evictedPods).toHaveLength(1);
  expect((await env.readNode(a)).metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();

  const u = await uncordon(env.kc, a, { runId: "t-admin" });
  expect(u).toMatchObject({ uncordoned: false, outcome: "cordoned-by-someone-else" });
  expect(u.message).toContain(`node/${a} left cordoned: it was cordoned by someone else`);
  const u2 = await uncordon(env.kc, a); // without runId too
  expect(u2.outcome).toBe("cordoned-by-someone-else");
  expect((await env.readNode(a)).spec?.unschedulable).toBe(true);

  // explicit force
  const u3 = await uncordon(env.kc, a, { force: true });
  expect(u3.uncordoned).toBe(true);
  expect((await env.readNode(a)).spec?.unschedulable).toBeFalsy();
});

test("run ownership: another run's cordon is left; the owning run (or no runId) removes it and the annotations", async () => {
  const [n] = await env.workers("own", 1);
  const c = await cordon(env.kc, n, "run-a");
  expect(c).toMatchObject({
    cordonedByUs: true,
    alreadyCordoned: false,
    message: `node/${n} cordoned`,
  });
  let node = await env.readNode(n);
  expect(node.spec?.unschedulable).toBe(true);
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("run-a");
  expect(Date.parse(node.metadata?.annotations?.[CORDONED_AT_ANNOTATION] ?? "")).toBeGreaterThan(0);

  const other = await uncordon(env.kc, n, { runId: "run-b" });
  expect(other).toMatchObject({ uncordoned: false, outcome: "cordoned-by-other-run" });
  expect((await env.readNode(n)).spec?.unschedulable).toBe(true);

  // a later run takes over a kube-upkeep cordon (e.g. after a timed-out drain)
  const again = await cordon(env.kc, n, "run-b");
  expect(again).toMatchObject({
    cordonedByUs: true,
    alreadyCordoned: true,
    previousRunId: "run-a",
    message: `node/${n} already cordoned by kube-upkeep run "run-a"; run "run-b" takes the cordon over`,
  });
  expect((await env.readNode(n)).metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("run-b");

  const mine = await uncordon(env.kc, n, { runId: "run-b" });
  expect(mine).toMatchObject({
    uncordoned: true,
    outcome: "uncordoned",
    message: `node/${n} uncordoned`,
  });
  node = await env.readNode(n);
  expect(node.spec?.unschedulable).toBeFalsy();
  expect(node.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBeUndefined();
  expect(node.metadata?.annotations?.[CORDONED_AT_ANNOTATION]).toBeUndefined();

  const twice = await uncordon(env.kc, n);
  expect(twice).toMatchObject({
    uncordoned: false,
    outcome: "not-cordoned",
    message: `node/${n} already uncordoned`,
  });
});

test("a missing node: uncordon with ignoreMissingNode reports it, drain fails with the API's 404", async () => {
  const r = await uncordon(env.kc, "no-such-node-kube-upkeep", { ignoreMissingNode: true });
  expect(r.outcome).toBe("node-not-found");
  await expect(drainNode(env.kc, "no-such-node-kube-upkeep", { runId: "x" })).rejects.toThrow(
    'drainNode: node "no-such-node-kube-upkeep" not found',
  );
});

/** The node lifecycle controller's node.kubernetes.io/unschedulable taint time, once it is there. */
async function taintTime(name: string, not?: string): Promise<string> {
  return waitFor(
    async () => {
      const t = (await env.readNode(name)).spec?.taints?.find(
        (x) => x.key === "node.kubernetes.io/unschedulable",
      )?.timeAdded;
      const iso = t ? new Date(t as unknown as string).toISOString() : undefined;
      return iso !== undefined && iso !== not ? iso : undefined;
    },
    { timeoutMs: 30_000, what: `unschedulable taint on ${name}` },
  );
}

test("an admin's kubectl uncordon + kubectl cordon after our cordon is the admin's: our stale annotation does not make it ours", async () => {
  const [n] = await env.workers("recordon", 1);
  // a drain (of an empty node) cordons and, when done, records the controller's taint time
  await drainNode(env.kc, n, { runId: "run-r", timeoutSeconds: 30 });
  const ours = await taintTime(n);
  expect((await env.readNode(n)).metadata?.annotations?.[CORDON_TAINT_ANNOTATION]).toBe(ours);
  // the admin: plain uncordon (our annotation stays behind), then a cordon of their own
  await setUnschedulable(env.kc, n, false);
  await waitFor(
    async () =>
      (await env.readNode(n)).spec?.taints?.some(
        (x) => x.key === "node.kubernetes.io/unschedulable",
      )
        ? undefined
        : true,
    { timeoutMs: 30_000, what: "taint removed" },
  );
  await new Promise((r) => setTimeout(r, 1100)); // timeAdded has second precision
  await setUnschedulable(env.kc, n, true);
  await taintTime(n, ours);
  expect((await env.readNode(n)).metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("run-r");

  const u = await uncordon(env.kc, n, { runId: "run-r" });
  expect(u.outcome).toBe("cordoned-by-someone-else");
  expect((await env.readNode(n)).spec?.unschedulable).toBe(true);
  const c = await cordon(env.kc, n, "run-s");
  expect(c).toMatchObject({ cordonedByUs: false, alreadyCordoned: true });
});

test("exported entry points refuse a node name that is not one (a comma would add a field-selector term)", async () => {
  await expect(cordon(env.kc, "a,spec.unschedulable=true", "r")).rejects.toThrow(
    /cordonNode: invalid nodeName "a,spec.unschedulable=true": not a Kubernetes node name/,
  );
  await expect(uncordon(env.kc, "w1; rm -rf /")).rejects.toThrow(/uncordonNode: invalid nodeName/);
});
