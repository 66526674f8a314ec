/**
 * ClusterUpgrade's health gates, progress and plan timing under Pulumi mocks: a node's gate
 * (NodeHealthGate, plus a remote.Command per `command` check) follows its uncordon and the next
 * node of the chain waits for it; the steps get their `progress` input (Events, annotation);
 * the node resources are registered once the plan is made (`ready`), and a plan that cannot be
 * made (the declared versions break the skew policy and the cluster cannot be read) rejects
 * `ready` with the error and registers no node resource. The gates against a real cluster are
 * test/integration/health; through the real engine, test/e2e/live-roll.test.ts.
 */
import { ValidationErrors } from "kube-upkeep/core";
import { ClusterUpgrade, ClusterUpgradePlanError, type ClusterNode } from "kube-upkeep/pulumi";
import { mockAndRecord, SECRET_SIG, SIG_KEY, value, type Registered } from "./mocks";
import { waitForRPCs } from "./rpcs";

const KUBECONFIG = "apiVersion: v1\nkind: Config\n";
const registered = new Map<string, Registered>();

beforeAll(() =>
  mockAndRecord(registered, (args) => ({
    ...(args.type.endsWith(":NodeReadyWait") ? { kubeletVersion: args.inputs.targetVersion } : {}),
  })),
);
afterAll(async () => {
  await waitForRPCs();
});

const node = (
  name: string,
  role: ClusterNode["role"],
  extra: Partial<ClusterNode> = {},
): ClusterNode => ({
  name,
  role,
  connection: { host: `${name}.example`, privateKey: "k", hostKey: "ssh-ed25519 AAAA" },
  ...extra,
});

const raw = (name: string) => {
  const r = registered.get(name);
  if (!r) throw new Error(`${name} not registered; have ${[...registered.keys()].join(", ")}`);
  return r;
};

async function settle(cu: ClusterUpgrade) {
  await cu.ready;
  await value(cu.kubeletVersions);
  await Promise.all(Object.values(cu.healthGates).map((g) => value(g.urn)));
}

describe("health gates", () => {
  let cu: ClusterUpgrade;
  beforeAll(async () => {
    cu = new ClusterUpgrade("hg", {
      nodes: [
        node("cp-1", "control-plane"),
        node("w-1", "worker", {
          healthChecks: [
            { kind: "command", command: "systemctl is-active kubelet", timeoutSeconds: 30 },
          ],
        }),
        node("w-2", "worker"),
      ],
      currentVersion: "v1.34.4",
      targetVersion: "v1.35.4",
      kubeconfig: KUBECONFIG,
      commandOverride: "true",
      etcdSnapshot: false,
      healthChecks: [
        { kind: "rollout", namespace: "shop", workload: "deployment/web" },
        {
          kind: "prometheus",
          url: "http://prometheus.monitoring:9090",
          query: 'ALERTS{alertstate="firing"}',
          headers: { Authorization: "Bearer PROM-TOKEN-123" },
        },
        { kind: "command", command: "curl -fsS localhost:10248/healthz", node: "cp-1" },
      ],
    });
    await settle(cu);
  });

  test("after each node's uncordon, under its NodeUpgrade; the next node waits for the gate", () => {
    for (const n of ["cp-1", "w-1", "w-2"]) {
      const gate = raw(`hg-${n}-health`);
      expect(gate.type).toBe("pulumi-nodejs:dynamic/kube-upkeep:NodeHealthGate");
      expect(gate.parent).toContain(`kube-upkeep:index:NodeUpgrade::hg-${n}`);
      expect(gate.dependencies).toContain(`hg-${n}-uncordon`);
    }
    // the next node's drain: after the previous node's gate (and the preflights), not its uncordon
    expect(raw("hg-w-1-drain").dependencies).toContain("hg-cp-1-health");
    expect(raw("hg-w-1-drain").dependencies).not.toContain("hg-cp-1-uncordon");
    expect(raw("hg-w-2-drain").dependencies).toContain("hg-w-1-health");
    expect(Object.keys(cu.healthGates)).toEqual(["cp-1", "w-1", "w-2"]);
  });

  test("command checks: a remote.Command each, on the node named (default: the node), before the gate", () => {
    const roll = raw("hg-w-1-health-command-1");
    expect(roll.type).toBe("command:remote:Command");
    expect(roll.dependencies).toEqual(["hg-w-1-uncordon"]);
    // the roll's command check names cp-1: it runs on cp-1's connection after w-1's uncordon
    expect(JSON.stringify(roll.raw.connection)).toContain("cp-1.example");
    expect(String(roll.raw.stdin)).toContain("curl -fsS localhost:10248/healthz");
    expect(String(roll.raw.stdin)).toContain("deadline=$(( $(date +%s) + 300 ))");
    const own = raw("hg-w-1-health-command-2");
    expect(JSON.stringify(own.raw.connection)).toContain("w-1.example");
    expect(String(own.raw.stdin)).toContain("deadline=$(( $(date +%s) + 30 ))");
    expect(raw("hg-w-1-health").dependencies).toEqual(
      expect.arrayContaining([
        "hg-w-1-uncordon",
        "hg-w-1-health-command-1",
        "hg-w-1-health-command-2",
      ]),
    );
    expect(registered.has("hg-w-2-health-command-2")).toBe(false);
  });

  test("the gate gets the API checks, as a secret when one has headers; the target as its trigger", () => {
    const gate = raw("hg-w-2-health");
    const checks = gate.raw.checks as Record<string, unknown>;
    expect(checks[SIG_KEY]).toBe(SECRET_SIG);
    expect(checks.value).toEqual([
      { kind: "rollout", namespace: "shop", workload: "deployment/web" },
      {
        kind: "prometheus",
        url: "http://prometheus.monitoring:9090",
        query: 'ALERTS{alertstate="firing"}',
        headers: { Authorization: "Bearer PROM-TOKEN-123" },
      },
    ]);
    expect(gate.raw.trigger).toBe("v1.35.4");
    expect(gate.raw.progress).toEqual({
      runId: "hg@v1.35.4",
      targetVersion: "v1.35.4",
      mode: "node",
      fromVersion: "v1.34.4",
    });
  });

  test("every step gets its progress input (run id, target, mode, from)", () => {
    for (const step of ["drain", "ready", "uncordon"])
      expect(raw(`hg-cp-1-${step}`).raw.progress).toEqual({
        runId: "hg@v1.35.4",
        targetVersion: "v1.35.4",
        mode: "apply",
        fromVersion: "v1.34.4",
      });
  });
});

describe("upgrade verification (verify, default on)", () => {
  let cu: ClusterUpgrade;
  beforeAll(async () => {
    cu = new ClusterUpgrade("vf", {
      nodes: [node("cp-1", "control-plane"), node("cp-2", "control-plane"), node("w-1", "worker")],
      currentVersion: "v1.34.4",
      targetVersion: "v1.35.4",
      kubeconfig: KUBECONFIG,
      commandOverride: "true",
      etcdSnapshot: false,
      healthChecks: [{ kind: "rollout", namespace: "shop", workload: "deployment/web" }],
    });
    await settle(cu);
    await value(cu.verifyGate!.urn);
  });

  test("each control-plane node's gate checks its control plane first, then the roll's checks; workers only the roll's", () => {
    expect((raw("vf-cp-1-health").raw.checks as unknown[])[0]).toEqual({
      kind: "control-plane",
      node: "cp-1",
      version: "v1.35.4",
    });
    expect(raw("vf-cp-2-health").raw.checks).toEqual([
      { kind: "control-plane", node: "cp-2", version: "v1.35.4" },
      { kind: "rollout", namespace: "shop", workload: "deployment/web" },
    ]);
    expect(raw("vf-w-1-health").raw.checks).toEqual([
      { kind: "rollout", namespace: "shop", workload: "deployment/web" },
    ]);
    // the next control-plane node starts after the previous one is verified
    expect(raw("vf-cp-2-drain").dependencies).toContain("vf-cp-1-health");
  });

  test("after the last node: one cluster-version gate over the roll's nodes, after every node's last step", () => {
    const gate = raw("vf-verify");
    expect(gate.type).toBe("pulumi-nodejs:dynamic/kube-upkeep:NodeHealthGate");
    expect(gate.parent).toContain("kube-upkeep:index:ClusterUpgrade::vf");
    expect(gate.raw.checks).toEqual([
      { kind: "cluster-version", version: "v1.35.4", nodes: ["cp-1", "cp-2", "w-1"] },
    ]);
    expect(gate.raw.trigger).toBe("v1.35.4");
    expect(gate.dependencies).toEqual(
      expect.arrayContaining(["vf-cp-1-health", "vf-cp-2-health", "vf-w-1-health"]),
    );
  });

  test("verify: false: no control-plane check, no cluster gate, a control-plane node without checks has no gate", async () => {
    const off = new ClusterUpgrade("vf0", {
      nodes: [node("cp-1", "control-plane"), node("w-1", "worker")],
      currentVersion: "v1.34.4",
      targetVersion: "v1.35.4",
      kubeconfig: KUBECONFIG,
      commandOverride: "true",
      etcdSnapshot: false,
      verify: false,
    });
    await settle(off);
    expect(off.verifyGate).toBeUndefined();
    expect(registered.has("vf0-verify")).toBe(false);
    expect(registered.has("vf0-cp-1-health")).toBe(false);
    expect(raw("vf0-w-1-drain").dependencies).toContain("vf0-cp-1-uncordon");
  });
});

test("progress: false gives the steps none; { events: false } keeps the annotation", async () => {
  const off = new ClusterUpgrade("pg0", {
    nodes: [node("cp-1", "control-plane")],
    currentVersion: "v1.34.4",
    targetVersion: "v1.35.4",
    kubeconfig: KUBECONFIG,
    commandOverride: "true",
    etcdSnapshot: false,
    progress: false,
  });
  await settle(off);
  expect(raw("pg0-cp-1-drain").raw.progress).toBeUndefined();
  const some = new ClusterUpgrade("pg1", {
    nodes: [node("cp-1", "control-plane")],
    currentVersion: "v1.34.4",
    targetVersion: "v1.35.4",
    kubeconfig: KUBECONFIG,
    commandOverride: "true",
    etcdSnapshot: false,
    progress: { events: false },
  });
  await settle(some);
  expect(raw("pg1-cp-1-uncordon").raw.progress).toMatchObject({
    events: false,
    runId: "pg1@v1.35.4",
  });
});

test("bad health checks are errors at construction, nothing registered", () => {
  const before = registered.size;
  let err: unknown;
  try {
    new ClusterUpgrade("badhc", {
      nodes: [node("cp-1", "control-plane", { healthChecks: [{ kind: "http", url: "ftp://x" }] })],
      currentVersion: "v1.34.4",
      targetVersion: "v1.35.4",
      kubeconfig: KUBECONFIG,
      healthChecks: [{ kind: "command", command: "true", node: "w-9" }],
    });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ValidationErrors);
  expect((err as ValidationErrors).errors.map((e) => e.field)).toEqual([
    "healthChecks[0].node",
    "nodes[0].healthChecks[0].url",
  ]);
  expect(registered.size).toBe(before);
});

test("the live plan: node resources once the plan is made; a plan that cannot be made rejects ready, no node resource", async () => {
  // the cluster cannot be read (no server): the declared versions are used, and they skip a minor
  const cu = new ClusterUpgrade("late", {
    nodes: [node("cp-1", "control-plane"), node("w-1", "worker")],
    currentVersion: "v1.33.4",
    targetVersion: "v1.35.4",
    kubeconfig: KUBECONFIG,
    commandOverride: "true",
  });
  const outcome = await cu.ready.then(
    () => "resolved",
    (e: unknown) => e,
  );
  // the error the program fails with (a ResourceError on the component), with each problem
  expect(outcome).toBeInstanceOf(ClusterUpgradePlanError);
  expect((outcome as ClusterUpgradePlanError).cause).toBeInstanceOf(ValidationErrors);
  expect((outcome as ClusterUpgradePlanError).errors.map((e) => e.field)).toEqual([
    "targetVersion",
  ]);
  expect((outcome as Error).message).toContain(
    'ClusterUpgrade late: invalid targetVersion "v1.35.4": [one-minor-at-a-time]',
  );
  expect(Object.keys(cu.nodeUpgrades)).toEqual([]);
  expect([...registered.keys()].filter((n) => n.startsWith("late-"))).not.toContain(
    "late-cp-1-drain",
  );
  // the snapshot is registered at once; without a plan its command changes nothing and fails
  expect(cu.snapshot).toBeDefined();
  await value(cu.snapshot!.urn);
  expect(String(raw("late-etcd-snapshot").raw.create)).toContain(
    "kube-upkeep: no etcd snapshot: the roll has no plan",
  );
  expect(raw("late-etcd-snapshot").raw.stdin).toBe(raw("late-etcd-snapshot").raw.create);
  // the outputs settle (the program fails once, with the component's error)
  expect(await value(cu.kubeletVersions)).toEqual({});
});
