/**
 * NodeUpgrade's preflight under Pulumi mocks: the child resource and its inputs, the graph
 * (preflight before the drain; in a ClusterUpgrade every preflight before the snapshot and every
 * drain), the settings' plumbing from ClusterUpgrade (roll-wide, per node, off, the override
 * path) and their validation before anything is registered. The rendered preflight itself:
 * test/unit/core/scripts/node-preflight.test.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import { ValidationError, ValidationErrors } from "../../../lib/core/errors";
import { ClusterUpgrade, type ClusterNode } from "../../../lib/pulumi/cluster-upgrade";
import { NodeUpgrade } from "../../../lib/pulumi/node-upgrade";
import { mockAndRecord, SECRET_SIG, SIG_KEY, value, type Registered } from "./mocks";

const KUBECONFIG = "apiVersion: v1\nkind: Config\n";
const registered = new Map<string, Registered>();

beforeAll(() =>
  mockAndRecord(registered, (args) => ({
    ...(args.type.endsWith(":NodeReadyWait") ? { kubeletVersion: args.inputs.targetVersion } : {}),
    ...(args.type === "command:remote:Command" ? { stdout: "ok" } : {}),
  })),
);

const node = (name: string, role: ClusterNode["role"], extra: Partial<ClusterNode> = {}) => ({
  name,
  role,
  connection: { host: `${name}.internal`, privateKey: "PRIVATE-KEY", hostKey: "ssh-ed25519 AAAA" },
  ...extra,
});
const cluster = (cp: number, workers: number): ClusterNode[] => [
  ...Array.from({ length: cp }, (_, i) => node(`cp-${i + 1}`, "control-plane")),
  ...Array.from({ length: workers }, (_, i) => node(`w-${i + 1}`, "worker")),
];
const base = { kubeconfig: KUBECONFIG, currentVersion: "v1.34.2", targetVersion: "v1.35.4" };

async function settle(cu: ClusterUpgrade) {
  await value(cu.kubeletVersions);
  await Promise.all(Object.values(cu.nodeUpgrades).map((u) => value(u.uncordon.urn)));
  if (cu.snapshot) await value(cu.snapshot.urn);
}
const raw = (name: string) => {
  const r = registered.get(name);
  if (!r) throw new Error(`${name} not registered; have ${[...registered.keys()].join(", ")}`);
  return r.raw;
};
const deps = (name: string) => [...(registered.get(name)?.dependencies ?? [])].sort();

describe("ClusterUpgrade: a preflight per node, all before anything is cordoned", () => {
  let cu: ClusterUpgrade;
  const nodes = ["cp-1", "cp-2", "w-1", "w-2", "w-3"];
  beforeAll(async () => {
    cu = new ClusterUpgrade("pf", { ...base, nodes: cluster(2, 3), maxUnavailable: 2 });
    await settle(cu);
  });

  test("each node's preflight: a remote.Command child of its NodeUpgrade running the rendered preflight on stdin, keyed like the upgrade, no update, the connection secret", () => {
    for (const n of nodes) {
      const r = registered.get(`pf-${n}-preflight`)!;
      expect(r.type).toBe("command:remote:Command");
      expect(r.parent).toContain(`kube-upkeep:index:NodeUpgrade::pf-${n}`);
      const i = raw(`pf-${n}-preflight`);
      expect(i.create).toBe("sh -s");
      expect(i.stdin).toContain(
        `# kube-upkeep preflight of node ${n} for the upgrade to v1.35.4 (apt).`,
      );
      expect(i.triggers).toEqual(["v1.35.4", n === "cp-1" ? "apply" : "node"]);
      // re-running create on an update is harmless: it changes nothing
      expect(i.update).toBeUndefined();
      expect((i.connection as Record<string, unknown>)[SIG_KEY]).toBe(SECRET_SIG);
      expect(cu.nodeUpgrades[n]!.preflight).toBeDefined();
    }
  });

  test("the preflights wait for nothing; the snapshot and every drain wait for every preflight; the chain order stays", () => {
    const preflights = nodes.map((n) => `pf-${n}-preflight`).sort();
    for (const n of nodes) expect([n, deps(`pf-${n}-preflight`)]).toEqual([n, []]);
    expect(deps("pf-etcd-snapshot")).toEqual(preflights);
    const chain: Record<string, string[]> = {
      "cp-1": ["pf-etcd-snapshot"],
      "cp-2": ["pf-cp-1-health"], // after cp-1's verification
      "w-1": ["pf-cp-2-health"],
      "w-2": ["pf-cp-2-health"],
      "w-3": ["pf-w-1-uncordon"],
    };
    for (const n of nodes)
      expect([n, deps(`pf-${n}-drain`)]).toEqual([n, [...chain[n]!, ...preflights].sort()]);
  });
});

describe("preflight settings", () => {
  test("roll-wide settings, a node's own merged over them (checks key by key), a node turned off; the script's repository reaches the preflight", async () => {
    const nodes = cluster(1, 3);
    nodes[2] = { ...nodes[2]!, preflight: { checks: { cgroup: false } } };
    nodes[3] = { ...nodes[3]!, preflight: false };
    const cu = new ClusterUpgrade("set", {
      ...base,
      nodes,
      script: { packageRepository: "http://10.0.0.1:8080/core:/stable:/{minor}/deb/" },
      preflight: { minFreeDiskMiB: 1024, checks: { swap: false } },
    });
    await settle(cu);
    const w1 = raw("set-w-1-preflight").stdin as string;
    expect(w1).toContain("MIN_FREE_MIB=1024");
    expect(w1).toContain("REPO_URL=http://10.0.0.1:8080/core:/stable:/v1.35/deb/");
    expect(w1).toContain("# cgroup:");
    expect(w1).not.toContain("# swap:");
    const w2 = raw("set-w-2-preflight").stdin as string;
    expect(w2).toContain("MIN_FREE_MIB=1024");
    expect(w2).not.toContain("# cgroup:");
    expect(w2).not.toContain("# swap:");
    expect(registered.has("set-w-3-preflight")).toBe(false);
    expect(cu.nodeUpgrades["w-3"]!.preflight).toBeUndefined();
    // the others' preflights still hold w-3's drain
    expect(deps("set-w-3-drain")).toEqual(
      ["set-cp-1-preflight", "set-w-1-preflight", "set-w-2-preflight", "set-w-2-uncordon"].sort(),
    );
  });

  test("preflight: false: no preflight anywhere, the drains wait for the chain only (as before)", async () => {
    const cu = new ClusterUpgrade("off", { ...base, nodes: cluster(1, 2), preflight: false });
    await settle(cu);
    expect(
      [...registered.keys()].filter((k) => k.startsWith("off-") && k.endsWith("-preflight")),
    ).toEqual([]);
    expect(deps("off-w-2-drain")).toEqual(["off-w-1-uncordon"]);
    expect(deps("off-etcd-snapshot")).toEqual([]);
  });

  test("commandOverride: no preflight by default; preflightOverride runs its command; preflight: {} runs the rendered one", async () => {
    const sim = new ClusterUpgrade("sim", {
      ...base,
      nodes: cluster(1, 1),
      etcdSnapshot: false,
      commandOverride: "simulate-upgrade",
    });
    await settle(sim);
    expect(registered.has("sim-w-1-preflight")).toBe(false);
    expect(deps("sim-w-1-drain")).toEqual(["sim-cp-1-health"]); // cp-1 verified first

    const simPf = new ClusterUpgrade("simpf", {
      ...base,
      nodes: cluster(1, 1),
      etcdSnapshot: false,
      commandOverride: "simulate-upgrade",
      preflightOverride: (n) => `simulate-preflight ${n.nodeName} ${n.mode} ${n.targetVersion}`,
    });
    await settle(simPf);
    expect(raw("simpf-w-1-preflight").create).toBe("simulate-preflight w-1 node v1.35.4");
    expect(raw("simpf-w-1-preflight").stdin).toBeUndefined();
    expect(deps("simpf-w-1-drain")).toEqual(
      ["simpf-cp-1-preflight", "simpf-cp-1-health", "simpf-w-1-preflight"].sort(),
    );

    const rendered = new ClusterUpgrade("simr", {
      ...base,
      nodes: cluster(1, 1),
      etcdSnapshot: false,
      commandOverride: "simulate-upgrade",
      preflight: {},
    });
    await settle(rendered);
    expect(raw("simr-w-1-preflight").stdin).toContain("kube-upkeep preflight of node w-1");
  });
});

/** The ValidationErrors messages `f` throws. */
function messages(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationErrors);
    return (e as ValidationErrors).errors.map((x) => x.message);
  }
  throw new Error("did not throw");
}

describe("preflight validation, before anything is registered", () => {
  test("roll-wide settings once as the component's; a node's own naming the node; the shared script setting once; nothing registered", async () => {
    const before = new Set(registered.keys());
    const nodes = cluster(1, 2);
    nodes[2] = { ...nodes[2]!, preflight: { checks: { ram: false } as never } };
    const msgs = messages(
      () =>
        new ClusterUpgrade("bad", {
          ...base,
          nodes,
          preflight: { minFreeDiskMiB: -1 },
          script: { packageRepository: "http://m/k8s/$(reboot)/" },
        }),
    );
    // one renderer stops at its first problem: the repository, shared with the upgrade script,
    // reported once
    expect(msgs).toEqual([
      expect.stringMatching(
        /^ClusterUpgrade bad: invalid script\.packageRepository "http:\/\/m\/k8s\/\$\(reboot\)\/": has characters/,
      ),
    ]);
    const msgs2 = messages(
      () => new ClusterUpgrade("bad2", { ...base, nodes, preflight: { minFreeDiskMiB: -1 } }),
    );
    expect(msgs2).toEqual([
      expect.stringMatching(
        /^ClusterUpgrade bad2: invalid preflight\.minFreeDiskMiB -1: must be an integer from 0/,
      ),
      expect.stringMatching(
        /^ClusterUpgrade bad2 \/ node w-2: invalid preflight\.checks\.ram false: unknown check\. Fix: the checks are packages, cgroup, disk, swap, containerRuntime/,
      ),
    ]);
    for (const m of [...msgs, ...msgs2]) expect(m).not.toContain("renderNodePreflightScript");
    const msgs3 = messages(
      () =>
        new ClusterUpgrade("bad3", {
          ...base,
          nodes: [node("cp-1", "control-plane", { preflight: "yes" as never })],
          commandOverride: "x",
          preflightOverride: () => {
            throw new ValidationError("my-preflight", "tool", "x", "missing", "install it");
          },
        }),
    );
    expect(msgs3).toEqual([
      expect.stringMatching(
        /^ClusterUpgrade bad3: invalid nodes\[0\]\.preflight "yes": not preflight settings/,
      ),
      expect.stringMatching(/^my-preflight: invalid tool "x": missing/),
    ]);
    await new Promise((r) => setTimeout(r, 200));
    expect([...registered.keys()].filter((k) => !before.has(k))).toEqual([]);
  });
});

describe("NodeUpgrade alone", () => {
  test("preflight -> drain; dependsOn holds the preflight (and so the drain); preflight: false: the drain waits for dependsOn directly", async () => {
    const gate = new NodeUpgrade("gate", {
      nodeName: "gate",
      targetVersion: "v1.35.4",
      mode: "node",
      kubeconfig: KUBECONFIG,
      connection: { host: "h" },
      preflight: false,
    });
    const a = new NodeUpgrade(
      "alone",
      {
        nodeName: "w-7",
        targetVersion: "v1.35.4",
        mode: "node",
        kubeconfig: KUBECONFIG,
        connection: { host: "10.0.1.7" },
        preflight: { checks: { containerRuntime: false } },
      },
      { dependsOn: [gate.uncordon] },
    );
    await value(a.uncordon.urn);
    await value(gate.uncordon.urn);
    expect(deps("alone-preflight")).toEqual(["gate-uncordon"]);
    expect(deps("alone-drain")).toEqual(["alone-preflight"]);
    expect(raw("alone-preflight").stdin).not.toContain("# containerRuntime:");
    expect(registered.has("gate-preflight")).toBe(false);
    expect(deps("gate-drain")).toEqual([]);

    const b = new NodeUpgrade(
      "alone-off",
      {
        nodeName: "w-8",
        targetVersion: "v1.35.4",
        mode: "node",
        kubeconfig: KUBECONFIG,
        connection: { host: "10.0.1.8" },
        preflight: false,
      },
      { dependsOn: gate.uncordon },
    );
    await value(b.uncordon.urn);
    expect(deps("alone-off-drain")).toEqual(["gate-uncordon"]);
  });

  test("a bad preflight setting names NodeUpgrade and preflight.<option>; nothing registered", async () => {
    const before = new Set(registered.keys());
    const msgs = messages(
      () =>
        new NodeUpgrade("w-9", {
          nodeName: "w-9",
          targetVersion: "v1.35.4",
          mode: "node",
          kubeconfig: KUBECONFIG,
          connection: { host: "h" },
          preflight: { kubeletConfigPath: "config.yaml" },
        }),
    );
    expect(msgs).toEqual([
      expect.stringMatching(
        /^NodeUpgrade w-9: invalid preflight\.kubeletConfigPath "config\.yaml": path is relative/,
      ),
    ]);
    await new Promise((r) => setTimeout(r, 200));
    expect([...registered.keys()].filter((k) => !before.has(k))).toEqual([]);
  });
});

test("pulumi is the mocked runtime", () => expect(pulumi.runtime.isDryRun()).toBe(true));
