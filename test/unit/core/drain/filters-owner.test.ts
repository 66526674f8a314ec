/**
 * The DaemonSet filter matches the owner's API group as well as its kind, as kubectl does
 * (kubernetes/kubernetes#128779): a pod controlled by a `kind: DaemonSet` of another group
 * (OpenKruise's Advanced DaemonSet, apps.kruise.io) is an ordinary controller-managed pod.
 */
import type { V1Pod } from "@kubernetes/client-node";
import {
  apiGroupOf,
  daemonSetOf,
  filterPods,
  makeFilters,
  type DaemonSetLookup,
  type FilterOptions,
} from "../../../../lib/core/drain/filters";

function pod(name: string, apiVersion: string, kind: string, phase = "Running"): V1Pod {
  return {
    metadata: {
      name,
      namespace: "default",
      uid: `uid-${name}`,
      ownerReferences: [{ apiVersion, kind, name: "agent", uid: "x", controller: true }],
    },
    spec: { containers: [{ name: "c", image: "i" }] },
    status: { phase },
  };
}

function run(pods: V1Pod[], opts: FilterOptions, daemonSets: Record<string, DaemonSetLookup>) {
  return filterPods(
    pods,
    makeFilters(opts, { daemonSets: new Map(Object.entries(daemonSets)) }),
    opts,
  );
}

const KRUISE = "apps.kruise.io/v1alpha1";

describe("DaemonSet owners of another API group", () => {
  test("apiGroupOf: the part before the slash, the core group for a bare version", () => {
    expect(apiGroupOf("apps/v1")).toBe("apps");
    expect(apiGroupOf(KRUISE)).toBe("apps.kruise.io");
    expect(apiGroupOf("v1")).toBe("");
    expect(apiGroupOf(undefined)).toBe("");
  });

  test("daemonSetOf names only apps DaemonSets (the ones the drain looks up in apps/v1)", () => {
    expect(daemonSetOf(pod("a", "apps/v1", "DaemonSet"))).toBe("default/agent");
    expect(daemonSetOf(pod("k", KRUISE, "DaemonSet"))).toBeUndefined();
    expect(daemonSetOf(pod("x", "example.com/v1", "DaemonSet"))).toBeUndefined();
  });

  test.each([
    ["without options", {}],
    ["with ignoreDaemonSets", { ignoreDaemonSets: true }],
  ])(
    "an Advanced DaemonSet pod is evicted like a ReplicaSet pod (%s), no daemonsets.apps error",
    (_, opts) => {
      // Before the fix the drain looked the owner up as an apps/v1 DaemonSet: not found.
      const l = run([pod("kruise-agent-1", KRUISE, "DaemonSet")], opts, {
        "default/agent": "not-found",
      });
      expect(l.errors).toEqual([]);
      expect(l.warnings).toEqual([]);
      expect(l.pods.map((p) => p.metadata?.name)).toEqual(["kruise-agent-1"]);
    },
  );

  test("an apps/v1 DaemonSet pod next to it is still left in place", () => {
    const l = run(
      [pod("ds-1", "apps/v1", "DaemonSet"), pod("kruise-1", KRUISE, "DaemonSet")],
      { ignoreDaemonSets: true },
      { "default/agent": "found" },
    );
    expect(l.pods.map((p) => p.metadata?.name)).toEqual(["kruise-1"]);
    expect(l.warnings).toEqual(["ignoring DaemonSet-managed Pods: default/ds-1"]);
    expect(l.errors).toEqual([]);
  });
});
