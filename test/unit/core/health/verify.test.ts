import type {
  V1DaemonSet,
  V1Deployment,
  V1Node,
  V1NodeSystemInfo,
  V1Pod,
} from "@kubernetes/client-node";
import { validateHealthChecks } from "../../../../lib/core/health/checks";
import {
  judgeClusterVersion,
  judgeControlPlanePods,
  judgeReadyz,
} from "../../../../lib/core/health/verify";
import { ValidationErrors } from "../../../../lib/core/errors";
import type { ApiHealthCheck } from "../../../../lib/core/health/checks";
import type { DrainClients } from "../../../../lib/core/drain/client";
import { FatalProbeError } from "../../../../lib/core/health/poll";
import { probeOf, RESTARTED_SERVER_GRACE_MS } from "../../../../lib/core/health/run";

const TO = "v1.35.4";
const REPO = "registry.kube-upkeep.local";

function mirror(
  component: string,
  tag: string,
  o: { node?: string; ready?: boolean; running?: string } = {},
): V1Pod {
  const image = `${REPO}/${component}:${tag}`;
  return {
    metadata: {
      name: `${component}-${o.node ?? "cp1"}`,
      labels: { component, tier: "control-plane" },
    },
    spec: { nodeName: o.node ?? "cp1", containers: [{ name: component, image }] },
    status: {
      conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }],
      containerStatuses: [
        {
          name: component,
          image: o.running ?? image,
          imageID: "",
          ready: o.ready !== false,
          restartCount: 0,
        },
      ],
    },
  };
}

const upgraded = () => [
  mirror("kube-apiserver", TO),
  mirror("kube-controller-manager", TO),
  mirror("kube-scheduler", TO),
  mirror("etcd", "3.6.16-0"),
];

describe("control-plane verification", () => {
  test("passes when the four mirror pods are Ready and the three run the target", () => {
    expect(judgeControlPlanePods("cp1", TO, upgraded())).toEqual({
      ok: true,
      message: `kube-apiserver ${TO}, kube-controller-manager ${TO}, kube-scheduler ${TO}, etcd 3.6.16-0 Ready`,
    });
  });

  test("names each component that is missing, behind, still running the old container, or not Ready", () => {
    const pods = [
      mirror("kube-apiserver", "v1.34.4"),
      mirror("kube-controller-manager", TO, { running: `${REPO}/kube-controller-manager:v1.34.4` }),
      mirror("etcd", "3.6.16-0", { ready: false }),
      mirror("kube-scheduler", TO, { node: "cp2" }),
    ];
    const j = judgeControlPlanePods("cp1", TO, pods);
    expect(j.ok).toBe(false);
    expect(j.message).toBe(
      [
        `kube-apiserver runs ${REPO}/kube-apiserver:v1.34.4, not ${TO}`,
        `kube-controller-manager's container still runs ${REPO}/kube-controller-manager:v1.34.4`,
        "no kube-scheduler pod on cp1",
        "etcd 3.6.16-0 not Ready",
      ].join("; "),
    );
  });

  test("a digest-pinned image counts by its tag", () => {
    const pods = upgraded();
    pods[0]!.spec!.containers[0]!.image = `${REPO}/kube-apiserver:${TO}@sha256:${"a".repeat(64)}`;
    pods[0]!.status!.containerStatuses![0]!.image = pods[0]!.spec!.containers[0]!.image;
    expect(judgeControlPlanePods("cp1", TO, pods).ok).toBe(true);
  });

  test("/readyz?verbose: ok only with status 200, some [+] lines and no [-] line", () => {
    const body = "[+]ping ok\n[+]etcd ok\n[+]informer-sync ok\nreadyz check passed\n";
    expect(judgeReadyz(200, body)).toEqual({ ok: true, message: "readyz: 3 checks ok" });
    expect(
      judgeReadyz(
        500,
        "[+]ping ok\n[-]informer-sync failed: reason withheld\nreadyz check failed\n",
      ),
    ).toEqual({
      ok: false,
      message: "readyz answered 500: [-]informer-sync failed: reason withheld",
    });
    expect(judgeReadyz(403, '{"kind":"Status","message":"forbidden"}').message).toBe(
      'readyz answered 403: {"kind":"Status","message":"forbidden"}',
    );
  });
});

describe("cluster verification after the last node", () => {
  const node = (name: string, kubelet: string, ready = true): V1Node => ({
    metadata: { name },
    status: {
      nodeInfo: { kubeletVersion: kubelet } as V1NodeSystemInfo,
      conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
    },
  });
  const proxy = (tag: string, ready = 3): V1DaemonSet => ({
    metadata: { name: "kube-proxy", generation: 2 },
    spec: {
      selector: {},
      template: {
        spec: { containers: [{ name: "kube-proxy", image: `${REPO}/kube-proxy:${tag}` }] },
      },
      updateStrategy: { type: "RollingUpdate" },
    },
    status: {
      observedGeneration: 2,
      desiredNumberScheduled: 3,
      updatedNumberScheduled: 3,
      numberAvailable: ready,
      currentNumberScheduled: 3,
      numberMisscheduled: 0,
      numberReady: ready,
    },
  });
  const dns: V1Deployment = {
    metadata: { name: "coredns", generation: 3 },
    spec: {
      replicas: 2,
      selector: {},
      template: { spec: { containers: [{ name: "coredns", image: `${REPO}/coredns:v1.13.1` }] } },
    },
    status: { observedGeneration: 3, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
  };
  const nodes = [node("cp1", TO), node("w1", TO), node("w2", TO)];

  test("passes with every listed node Ready at the target, kube-proxy and CoreDNS rolled out, the API server at the target", () => {
    expect(
      judgeClusterVersion(TO, { nodes, kubeProxy: proxy(TO), coreDns: dns, serverVersion: TO }),
    ).toEqual({
      ok: true,
      message: `3 node(s) Ready at ${TO}, kube-proxy ${TO}, CoreDNS v1.13.1, API server ${TO}`,
    });
  });

  test("only the listed nodes count (unlisted ones keep their version)", () => {
    const j = judgeClusterVersion(TO, {
      nodes: [...nodes, node("legacy", "v1.34.4")],
      names: ["cp1", "w1", "w2"],
      kubeProxy: proxy(TO),
      coreDns: dns,
      serverVersion: TO,
    });
    expect(j.ok).toBe(true);
  });

  test("says what is behind: a node, kube-proxy's image, a rollout, the server", () => {
    const j = judgeClusterVersion(TO, {
      nodes: [node("cp1", TO), node("w1", "v1.34.4"), node("w2", TO, false)],
      names: ["cp1", "w1", "w2", "w3"],
      kubeProxy: proxy("v1.34.4"),
      coreDns: undefined,
      serverVersion: "v1.34.4",
    });
    expect(j).toEqual({
      ok: false,
      message: [
        `3 node(s) not Ready at ${TO}: w1 (kubelet v1.34.4), w2 (not Ready), w3 (not found)`,
        `kube-proxy runs ${REPO}/kube-proxy:v1.34.4, not ${TO}`,
        "no kube-system/coredns Deployment",
        `the API server reports v1.34.4, not ${TO}`,
      ].join("; "),
    });
    const rolling = judgeClusterVersion(TO, {
      nodes,
      kubeProxy: proxy(TO, 2),
      coreDns: dns,
      serverVersion: TO,
    });
    expect(rolling.message).toMatch(
      /^kube-proxy v1\.35\.4: Waiting for daemon set "kube-proxy" rollout to finish: 2 of 3 updated pods are available\.\.\.$/,
    );
  });
});

test("the verification checks validate their node and version", () => {
  expect(
    validateHealthChecks("X", "checks", [
      { kind: "control-plane", node: "cp1", version: TO },
      { kind: "cluster-version", version: TO, nodes: ["cp1", "w1"] },
    ]),
  ).toHaveLength(2);
  let err: unknown;
  try {
    validateHealthChecks("X", "checks", [
      { kind: "control-plane", node: "CP_1", version: "1.35" },
      { kind: "cluster-version", version: TO, nodes: ["ok", "bad name"] },
    ]);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ValidationErrors);
  expect((err as ValidationErrors).errors.map((e) => e.field)).toEqual([
    "checks[0].version",
    "checks[0].node",
    "checks[1].nodes",
  ]);
});

describe("a just-restarted API server's refusals", () => {
  const denied = () =>
    Object.assign(
      new Error('pods is forbidden: User "kubernetes-admin" cannot list resource "pods"'),
      {
        code: 403,
      },
    );
  const clients = {
    core: {
      listNamespacedPod: () => Promise.reject(denied()),
      listNode: () => Promise.reject(denied()),
    },
    apps: {
      readNamespacedDaemonSet: () => Promise.reject(denied()),
      readNamespacedDeployment: () => Promise.reject(denied()),
    },
    // /version never answers: the API reads' refusals decide
    kc: {
      getCurrentCluster: () => ({ server: "https://127.0.0.1:1" }),
      applyToHTTPSOptions: () => new Promise(() => undefined),
    },
  } as unknown as DrainClients;

  it.each([
    { kind: "control-plane", node: "cp1", version: "v1.35.4" },
    { kind: "cluster-version", version: "v1.35.4" },
  ] as const)(
    "$kind: a 403 is an attempt that did not pass for the grace period, then fails at once",
    async (check) => {
      let t = 1_000_000;
      const now = jest.spyOn(Date, "now").mockImplementation(() => t);
      try {
        const probe = probeOf(clients, check as ApiHealthCheck);
        const first = await probe().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(first).toBeInstanceOf(Error);
        expect(first).not.toBeInstanceOf(FatalProbeError);
        expect(String(first)).toContain("forbidden");
        t += RESTARTED_SERVER_GRACE_MS + 1;
        await expect(probe()).rejects.toBeInstanceOf(FatalProbeError);
      } finally {
        now.mockRestore();
      }
    },
  );
});
