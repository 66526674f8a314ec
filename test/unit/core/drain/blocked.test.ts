import type { V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { neverAllows, replacementsPending } from "../../../../lib/core/drain/blocked";

const NODE = "w-1";
function pod(
  name: string,
  node: string | undefined,
  o: { ready?: boolean; terminating?: boolean } = {},
): V1Pod {
  return {
    metadata: {
      name,
      namespace: "shop",
      labels: { app: "web" },
      deletionTimestamp: o.terminating ? new Date() : undefined,
    },
    spec: { nodeName: node, containers: [] },
    status: {
      phase: node ? "Running" : "Pending",
      conditions: [{ type: "Ready", status: o.ready === false || !node ? "False" : "True" }],
    },
  };
}
function pdb(
  spec: { minAvailable?: number | string; maxUnavailable?: number | string },
  status: {
    allowed: number;
    healthy: number;
    desired: number;
    expected: number;
    observed?: number;
  },
): V1PodDisruptionBudget {
  return {
    metadata: { name: "web-pdb", namespace: "shop", generation: 2 },
    spec: { selector: { matchLabels: { app: "web" } }, ...spec },
    status: {
      disruptionsAllowed: status.allowed,
      currentHealthy: status.healthy,
      desiredHealthy: status.desired,
      expectedPods: status.expected,
      observedGeneration: status.observed ?? 2,
    },
  };
}
const s = (allowed: number, healthy: number, desired: number, expected: number) => ({
  allowed,
  healthy,
  desired,
  expected,
});

test.each([
  [
    "maxUnavailable 0",
    { maxUnavailable: 0 },
    s(0, 2, 2, 2),
    [pod("a", NODE), pod("b", "w-2")],
    /maxUnavailable is 0/,
  ],
  [
    'maxUnavailable "0%"',
    { maxUnavailable: "0%" },
    s(0, 2, 2, 2),
    [pod("a", NODE), pod("b", "w-2")],
    /maxUnavailable is "0%"/,
  ],
  [
    "minAvailable = replicas",
    { minAvailable: 2 },
    s(0, 2, 2, 2),
    [pod("a", NODE), pod("b", "w-2")],
    /minAvailable 2 >= the 2 pod/,
  ],
  [
    'minAvailable "100%"',
    { minAvailable: "100%" },
    s(0, 3, 3, 3),
    [pod("a", NODE), pod("b", "w-2"), pod("c", "w-3")],
    /minAvailable "100%"/,
  ],
  [
    "one replica, minAvailable 1",
    { minAvailable: 1 },
    s(0, 1, 1, 1),
    [pod("a", NODE)],
    /minAvailable 1 >= the 1 pod/,
  ],
])("never: %s", (_what, spec, status, pods, reason) => {
  const v = neverAllows(pdb(spec, status), pods, NODE);
  expect(v?.reason).toMatch(reason);
  expect(v?.podsOnNode).toEqual(["shop/a"]);
  expect(v?.pdb.name).toBe("shop/web-pdb");
});

test.each([
  ["allows now", { maxUnavailable: 1 }, s(1, 2, 1, 2), [pod("a", NODE), pod("b", "w-2")]],
  [
    "stale status (observedGeneration < generation)",
    { maxUnavailable: 0 },
    { ...s(0, 2, 2, 2), observed: 1 },
    [pod("a", NODE), pod("b", "w-2")],
  ],
  [
    "no covered pod on the node",
    { maxUnavailable: 0 },
    s(0, 2, 2, 2),
    [pod("a", "w-3"), pod("b", "w-2")],
  ],
  [
    "a covered pod is terminating (its replacement is coming)",
    { minAvailable: 2 },
    s(0, 2, 2, 2),
    [pod("a", NODE), pod("b", "w-2", { terminating: true })],
  ],
  [
    "fewer pods than expected (a replacement is coming)",
    { minAvailable: 2 },
    s(0, 1, 2, 3),
    [pod("a", NODE), pod("b", "w-2")],
  ],
  [
    "an unready pod elsewhere may become ready",
    { minAvailable: 2 },
    s(0, 2, 2, 3),
    [pod("a", NODE), pod("b", "w-2"), pod("c", "w-3", { ready: false })],
  ],
  [
    "a replacement exists that the status does not count yet (expectedPods lags)",
    { minAvailable: 2 },
    s(0, 2, 2, 2),
    [pod("a", NODE), pod("b", "w-2"), pod("c", "w-3")],
  ],
  [
    "a pending replica may schedule elsewhere",
    { minAvailable: 1 },
    s(0, 1, 1, 2),
    [pod("a", NODE), pod("b", undefined)],
  ],
])("not never: %s", (_what, spec, status, pods) => {
  expect(neverAllows(pdb(spec, status), pods, NODE)).toBeUndefined();
});

describe("replacementsPending: a verdict that rests on the pods that exist now", () => {
  const owned = (name: string, node: string) => ({
    ...pod(name, node),
    metadata: {
      ...pod(name, node).metadata,
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-1", uid: "u", controller: true },
      ],
    },
  });

  it("minAvailable >= expected right after an eviction, before the replacement exists: not never while the ReplicaSet wants more", async () => {
    // 3 replicas, one just evicted and gone; the controller counts 2 pods, minAvailable 2
    const v = neverAllows(
      pdb({ minAvailable: 2 }, s(0, 2, 2, 2)),
      [owned("a", NODE), owned("b", "w-2")],
      NODE,
    )!;
    expect(v.reason).toMatch(/minAvailable 2 >= the 2 pod/);
    expect(v.unconditional).toBe(false);
    expect(v.owners).toEqual([{ kind: "ReplicaSet", name: "web-1", pods: 2 }]);
    const asked: string[] = [];
    const replicas = (wanted: number | undefined) => async (kind: string, name: string) => {
      asked.push(`${kind}/${name}`);
      return wanted;
    };
    await expect(replacementsPending(v, replicas(3))).resolves.toBe(true);
    await expect(replacementsPending(v, replicas(2))).resolves.toBe(false);
    // unreadable (e.g. 403) or unknown: a replacement may come, so not "never"
    await expect(replacementsPending(v, replicas(undefined))).resolves.toBe(true);
    await expect(
      replacementsPending(v, async () => {
        throw new Error("forbidden");
      }),
    ).resolves.toBe(true);
    expect(asked).toEqual(["ReplicaSet/web-1", "ReplicaSet/web-1", "ReplicaSet/web-1"]);
  });

  it("maxUnavailable 0 and minAvailable 100% never depend on the pods' controllers", async () => {
    for (const spec of [{ maxUnavailable: 0 }, { minAvailable: "100%" }]) {
      const v = neverAllows(pdb(spec, s(0, 2, 2, 2)), [owned("a", NODE), owned("b", "w-2")], NODE)!;
      expect(v.unconditional).toBe(true);
      await expect(replacementsPending(v, async () => 10)).resolves.toBe(false);
    }
  });
});
