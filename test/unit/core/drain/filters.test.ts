import type { V1Pod } from "@kubernetes/client-node";
import {
  DAEMONSET_FATAL,
  LOCAL_STORAGE_FATAL,
  UNMANAGED_FATAL,
} from "../../../../lib/core/drain/messages";
import {
  filterPods,
  makeFilters,
  shouldSkipPod,
  type DaemonSetLookup,
  type FilterOptions,
} from "../../../../lib/core/drain/filters";

interface PodOpts {
  name: string;
  ns?: string;
  owner?: { kind: string; name: string; controller?: boolean };
  emptyDir?: boolean;
  mirror?: boolean;
  phase?: string;
  deletedSecondsAgo?: number;
}

const NOW = new Date("2026-11-24T12:00:00Z");

function pod(o: PodOpts): V1Pod {
  return {
    metadata: {
      name: o.name,
      namespace: o.ns ?? "default",
      uid: `uid-${o.name}`,
      annotations: o.mirror ? { "kubernetes.io/config.mirror": "hash" } : undefined,
      ownerReferences: o.owner
        ? [
            {
              apiVersion: "apps/v1",
              kind: o.owner.kind,
              name: o.owner.name,
              uid: "x",
              controller: o.owner.controller ?? true,
            },
          ]
        : undefined,
      deletionTimestamp:
        o.deletedSecondsAgo !== undefined
          ? new Date(NOW.getTime() - o.deletedSecondsAgo * 1000)
          : undefined,
    },
    spec: {
      containers: [{ name: "c", image: "i" }],
      volumes: o.emptyDir ? [{ name: "s", emptyDir: {} }] : undefined,
    },
    status: { phase: o.phase ?? "Running" },
  };
}

function run(
  pods: V1Pod[],
  opts: FilterOptions = {},
  daemonSets: Record<string, DaemonSetLookup> = {},
) {
  return filterPods(
    pods,
    makeFilters(opts, { daemonSets: new Map(Object.entries(daemonSets)), now: NOW }),
    opts,
  );
}

const rs = { kind: "ReplicaSet", name: "web-abc" };
const ds = { kind: "DaemonSet", name: "agent" };

describe("drain filters (kubectl order and messages)", () => {
  test("replicated pods are deleted without warnings", () => {
    const l = run([pod({ name: "web-1", owner: rs })]);
    expect(l.pods.map((p) => p.metadata?.name)).toEqual(["web-1"]);
    expect(l.errors).toEqual([]);
    expect(l.warnings).toEqual([]);
  });

  test("DaemonSet pods: error unless ignoreDaemonSets, with kubectl's message", () => {
    const pods = [
      pod({ name: "agent-1", owner: ds }),
      pod({ name: "agent-2", ns: "kube-system", owner: ds }),
    ];
    const found = { "default/agent": "found", "kube-system/agent": "found" } as const;
    const l = run(pods, {}, found);
    expect(l.pods).toEqual([]);
    expect(l.errors).toEqual([
      `cannot delete ${DAEMONSET_FATAL}: default/agent-1, kube-system/agent-2`,
    ]);
    expect(l.errors[0]).toContain(
      "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)",
    );

    const ok = run(pods, { ignoreDaemonSets: true }, found);
    expect(ok.pods).toEqual([]);
    expect(ok.errors).toEqual([]);
    expect(ok.warnings).toEqual([
      "ignoring DaemonSet-managed Pods: default/agent-1, kube-system/agent-2",
    ]);
  });

  test("orphaned DaemonSet pods: error (even with ignoreDaemonSets), deleted with force and a warning", () => {
    const p = [pod({ name: "agent-1", owner: ds })];
    const missing = { "default/agent": "not-found" } as const;
    expect(run(p, { ignoreDaemonSets: true }, missing).errors).toEqual([
      'cannot delete daemonsets.apps "agent" not found: default/agent-1',
    ]);
    const forced = run(p, { force: true }, missing);
    expect(forced.pods).toHaveLength(1);
    expect(forced.warnings).toEqual(['daemonsets.apps "agent" not found: default/agent-1']);
  });

  test("DaemonSet lookup errors other than 404 are errors even with force", () => {
    const l = run(
      [pod({ name: "a", owner: ds })],
      { force: true },
      { "default/agent": { error: "forbidden" } },
    );
    expect(l.errors).toEqual(["cannot delete forbidden: default/a"]);
  });

  test("finished DaemonSet pods are deletable", () => {
    const l = run(
      [pod({ name: "a", owner: ds, phase: "Succeeded" })],
      {},
      { "default/agent": "found" },
    );
    expect(l.pods).toHaveLength(1);
    expect(l.errors).toEqual([]);
  });

  test("mirror pods are skipped silently (even without a controller)", () => {
    const l = run([pod({ name: "kube-apiserver-cp1", ns: "kube-system", mirror: true })]);
    expect(l.pods).toEqual([]);
    expect(l.errors).toEqual([]);
    expect(l.skipped).toEqual([{ pod: "kube-system/kube-apiserver-cp1", reason: "mirror pod" }]);
  });

  test("emptyDir: error unless deleteEmptyDirData", () => {
    const p = [pod({ name: "cache", owner: rs, emptyDir: true })];
    expect(run(p).errors).toEqual([`cannot delete ${LOCAL_STORAGE_FATAL}: default/cache`]);
    expect(run(p).errors[0]).toContain(
      "cannot delete Pods with local storage (use --delete-emptydir-data to override)",
    );
    const ok = run(p, { deleteEmptyDirData: true });
    expect(ok.pods).toHaveLength(1);
    expect(ok.warnings).toEqual(["deleting Pods with local storage: default/cache"]);
  });

  test("no controller: error unless force (message already starts with 'cannot delete')", () => {
    const p = [pod({ name: "bare" })];
    expect(run(p).errors).toEqual([`${UNMANAGED_FATAL}: default/bare`]);
    expect(run(p).errors[0]).toMatch(
      /^cannot delete Pods that declare no controller \(use --force to override\)/,
    );
    const ok = run(p, { force: true });
    expect(ok.pods).toHaveLength(1);
    expect(ok.warnings).toEqual(["deleting Pods that declare no controller: default/bare"]);
  });

  test("an owner reference without controller: true is no controller", () => {
    const l = run([
      pod({ name: "x", owner: { kind: "ReplicaSet", name: "r", controller: false } }),
    ]);
    expect(l.errors[0]).toContain("declare no controller");
  });

  test("Succeeded/Failed pods are always deletable (no controller, emptyDir)", () => {
    const l = run([
      pod({ name: "done", emptyDir: true, phase: "Succeeded" }),
      pod({ name: "failed", phase: "Failed" }),
    ]);
    expect(l.pods.map((p) => p.metadata?.name)).toEqual(["done", "failed"]);
    expect(l.errors).toEqual([]);
  });

  test("all errors of a node are reported together, grouped by message", () => {
    const l = run(
      [
        pod({ name: "bare1" }),
        pod({ name: "agent", owner: ds }),
        pod({ name: "cache", owner: rs, emptyDir: true }),
        pod({ name: "bare2" }),
        pod({ name: "ok", owner: rs }),
      ],
      {},
      { "default/agent": "found" },
    );
    expect(l.errors).toEqual([
      `${UNMANAGED_FATAL}: default/bare1, default/bare2`,
      `cannot delete ${DAEMONSET_FATAL}: default/agent`,
      `cannot delete ${LOCAL_STORAGE_FATAL}: default/cache`,
    ]);
    expect(l.pods.map((p) => p.metadata?.name)).toEqual(["ok"]);
  });

  test("warnings of every filter are kept (kubectl keeps only the last)", () => {
    const l = run([pod({ name: "x", emptyDir: true })], { force: true, deleteEmptyDirData: true });
    expect(l.warnings).toEqual([
      "deleting Pods with local storage: default/x",
      "deleting Pods that declare no controller: default/x",
    ]);
  });

  test("skipWaitForDeleteTimeoutSeconds: pods deleted longer ago are skipped, newer ones drained", () => {
    const pods = [
      pod({ name: "old", owner: rs, deletedSecondsAgo: 120 }),
      pod({ name: "new", owner: rs, deletedSecondsAgo: 10 }),
    ];
    const l = run(pods, { skipWaitForDeleteTimeoutSeconds: 60 });
    expect(l.pods.map((p) => p.metadata?.name)).toEqual(["new"]);
    expect(l.skipped).toEqual([
      {
        pod: "default/old",
        reason: 'pod "old" has DeletionTimestamp older than 60 seconds, skipping',
      },
    ]);
    // 0 = never skip (kubectl default)
    expect(run(pods).pods).toHaveLength(2);
    expect(shouldSkipPod(pods[0], 0, NOW)).toBe(false);
    // strictly older than N whole seconds
    expect(shouldSkipPod(pod({ name: "e", deletedSecondsAgo: 60 }), 60, NOW)).toBe(false);
    expect(shouldSkipPod(pod({ name: "e", deletedSecondsAgo: 61 }), 60, NOW)).toBe(true);
  });

  test("a deleted pod is skipped before the DaemonSet check (filter order)", () => {
    const l = run([pod({ name: "a", owner: ds, deletedSecondsAgo: 100 })], {
      skipWaitForDeleteTimeoutSeconds: 5,
    });
    expect(l.errors).toEqual([]);
    expect(l.pods).toEqual([]);
  });
});
