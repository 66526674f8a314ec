/**
 * Each kubectl drain filter case against the real control plane: the message, and that nothing
 * is evicted (and the node is left as it was) when any pod cannot be deleted.
 */
import { spawnSync } from "node:child_process";
import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Pod,
} from "@kubernetes/client-node";
import { CORDONED_BY_ANNOTATION, DrainFilterError, drainNode } from "kube-upkeep/core";
import { binaries } from "../../cluster/cluster";
import {
  PAUSE_IMAGE,
  createBarePod,
  createDaemonSet,
  createDeployment,
  listPods,
  statusOf,
  waitFor,
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

/**
 * OpenKruise's Advanced DaemonSet: a CRD of kind DaemonSet in the group apps.kruise.io. kubectl
 * 1.35 checks the owner's group (kubernetes/kubernetes#128779) and evicts its pods like any
 * controller-managed pod; kube-upkeep used to look the owner up as an apps/v1 DaemonSet and fail
 * with `cannot delete daemonsets.apps "<name>" not found`, even with ignoreDaemonSets.
 */
const KRUISE_GROUP = "apps.kruise.io";
const KRUISE_VERSION = "v1alpha1";

async function ensureKruiseDaemonSetCrd(): Promise<void> {
  const ext = env.kc.makeApiClient(ApiextensionsV1Api);
  const name = `daemonsets.${KRUISE_GROUP}`;
  try {
    await ext.createCustomResourceDefinition({
      body: {
        metadata: { name },
        spec: {
          group: KRUISE_GROUP,
          scope: "Namespaced",
          names: { plural: "daemonsets", singular: "daemonset", kind: "DaemonSet" },
          versions: [
            {
              name: KRUISE_VERSION,
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: { type: "object", x_kubernetes_preserve_unknown_fields: true },
              },
            },
          ],
        },
      },
    });
  } catch (e) {
    if (statusOf(e) !== 409) throw e;
  }
  await waitFor(
    async () =>
      (await ext.readCustomResourceDefinition({ name })).status?.conditions?.some(
        (c) => c.type === "Established" && c.status === "True",
      ),
    { what: `CRD ${name} established` },
  );
}

/** A pod on `node` controlled by the Advanced DaemonSet `owner` (as its controller creates it). */
async function createKruiseDaemonSetPod(
  owner: { name: string; uid: string },
  podName: string,
  node: string,
): Promise<V1Pod> {
  return env.kc.makeApiClient(CoreV1Api).createNamespacedPod({
    namespace: env.ns,
    body: {
      metadata: {
        name: podName,
        labels: { app: owner.name },
        ownerReferences: [
          {
            apiVersion: `${KRUISE_GROUP}/${KRUISE_VERSION}`,
            kind: "DaemonSet",
            name: owner.name,
            uid: owner.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        nodeName: node,
        containers: [{ name: "main", image: PAUSE_IMAGE }],
        terminationGracePeriodSeconds: 0,
        automountServiceAccountToken: false,
      },
    },
  });
}

test("pods of a DaemonSet of another API group (OpenKruise) are evicted with ignoreDaemonSets, as kubectl does", async () => {
  await ensureKruiseDaemonSetCrd();
  const custom = env.kc.makeApiClient(CustomObjectsApi);
  const owner = (await waitFor(
    () =>
      custom.createNamespacedCustomObject({
        group: KRUISE_GROUP,
        version: KRUISE_VERSION,
        namespace: env.ns,
        plural: "daemonsets",
        body: {
          apiVersion: `${KRUISE_GROUP}/${KRUISE_VERSION}`,
          kind: "DaemonSet",
          metadata: { name: "kruise-agent" },
          spec: {},
        },
      }),
    { what: "Advanced DaemonSet created (CRD served)" },
  )) as { metadata: { name: string; uid: string } };
  const [ours, kubectls] = await env.workers("kruise", 2);
  const ownerRef = { name: owner.metadata.name, uid: owner.metadata.uid };
  await createKruiseDaemonSetPod(ownerRef, "kruise-agent-ours", ours);
  await createKruiseDaemonSetPod(ownerRef, "kruise-agent-kubectl", kubectls);
  await waitForReadyPods(env.kc, env.ns, { app: "kruise-agent" }, 2);

  // kubectl 1.35.4 on one node: the reference behaviour
  const kubectl = spawnSync(
    binaries().kubectl,
    ["drain", kubectls, "--ignore-daemonsets", "--timeout=60s", "--pod-selector=app=kruise-agent"],
    { encoding: "utf8", env: { ...process.env, KUBECONFIG: process.env.KUBECONFIG } },
  );
  expect({ status: kubectl.status, stderr: kubectl.stderr }).toEqual({
    status: 0,
    stderr: expect.not.stringContaining("daemonsets.apps"),
  });
  expect(kubectl.stdout).toContain(`pod/kruise-agent-kubectl evicted`);

  // kube-upkeep on the other node: the same
  const rec = recorder();
  const res = await drainNode(env.kc, ours, {
    ...FAST,
    runId: "t-kruise",
    ignoreDaemonSets: true,
    ...rec.callbacks,
  });
  expect(res.evictedPods).toEqual([`${env.ns}/kruise-agent-ours`]);
  expect(res.warnings).toEqual([]);
  expect(await env.placement({ app: "kruise-agent" })).toEqual({});
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
