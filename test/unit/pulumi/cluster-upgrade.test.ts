import { formatPlanWithVerification } from "../../../lib/core/plan";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
// Modules only define classes; every resource is constructed after setMocks (beforeAll).
import { ValidationError, ValidationErrors } from "../../../lib/core/errors";
import { ClusterUpgrade, type ClusterNode } from "../../../lib/pulumi/cluster-upgrade";
import { NodeUpgrade, secretConnection } from "../../../lib/pulumi/node-upgrade";
import { mockAndRecord, SECRET_SIG, SIG_KEY, value, type Registered } from "./mocks";

const KEY_MARKER = "KEY-MARKER-9001";
const PRIVATE_KEY = `-----BEGIN OPENSSH PRIVATE KEY-----\n${KEY_MARKER}\n-----END OPENSSH PRIVATE KEY-----\n`;
const KUBECONFIG_MARKER = "KUBECONFIG-MARKER-4242";
const KUBECONFIG = `apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: ${KUBECONFIG_MARKER}\n`;
const registered = new Map<string, Registered>();

beforeAll(() =>
  mockAndRecord(registered, (args) => ({
    ...(args.type.endsWith(":NodeReadyWait") ? { kubeletVersion: args.inputs.targetVersion } : {}),
    ...(args.type === "command:remote:Command" ? { stdout: "ok" } : {}),
  })),
);

/** Raw (serialized) inputs of a registered resource, with secrets as {sig, value} wrappers. */
function inputsOf(name: string): Record<string, unknown> {
  const r = registered.get(name);
  if (!r)
    throw new Error(`resource ${name} not registered; have ${[...registered.keys()].join(", ")}`);
  return r.raw;
}

const node = (
  name: string,
  role: ClusterNode["role"],
  port: number,
  version?: string,
): ClusterNode => ({
  name,
  role,
  version,
  connection: {
    host: "127.0.0.1",
    port,
    user: "root",
    privateKey: PRIVATE_KEY,
    hostKey: "ssh-ed25519 AAAAC3Nza",
  },
});

function cluster(cp: number, workers: number): ClusterNode[] {
  return [
    ...Array.from({ length: cp }, (_, i) => node(`cp-${i + 1}`, "control-plane", 2200 + i)),
    ...Array.from({ length: workers }, (_, i) => node(`w-${i + 1}`, "worker", 2300 + i)),
  ];
}

async function settle(cu: ClusterUpgrade) {
  await cu.ready;
  await value(cu.urn);
  await Promise.all(Object.values(cu.nodeUpgrades).map((u) => value(u.uncordon.urn)));
  if (cu.snapshot) await value(cu.snapshot.urn);
  await value(cu.kubeletVersions);
}

/** The dependencies of `name` other than the roll's preflights (every drain waits for all of them). */
function chainDeps(name: string): string[] {
  return (registered.get(name)?.dependencies ?? []).filter((d) => !d.endsWith("-preflight"));
}

/** true when `a` is a (transitive) dependency of `b`. */
function before(a: string, b: string): boolean {
  const seen = new Set<string>();
  const stack = [b];
  while (stack.length) {
    const cur = stack.pop()!;
    for (const d of registered.get(cur)?.dependencies ?? []) {
      if (d === a) return true;
      if (!seen.has(d)) {
        seen.add(d);
        stack.push(d);
      }
    }
  }
  return false;
}

describe("ClusterUpgrade (mocks)", () => {
  let cu: ClusterUpgrade;
  beforeAll(async () => {
    cu = new ClusterUpgrade("up", {
      nodes: cluster(3, 5),
      currentVersion: "v1.34.2",
      targetVersion: "v1.35.4",
      maxUnavailable: 2,
      kubeconfig: KUBECONFIG,
      drain: { ignoreDaemonSets: true, deleteEmptyDirData: true, timeoutSeconds: 300 },
    });
    await settle(cu);
  });

  test("component types and parents", () => {
    expect(registered.get("up")?.type).toBe("kube-upkeep:index:ClusterUpgrade");
    expect(registered.get("up-cp-1")?.type).toBe("kube-upkeep:index:NodeUpgrade");
    expect(registered.get("up-cp-1")?.parent).toContain("kube-upkeep:index:ClusterUpgrade::up");
    expect(registered.get("up-w-3-drain")?.type).toBe(
      "pulumi-nodejs:dynamic/kube-upkeep:NodeDrain",
    );
    expect(registered.get("up-w-3-drain")?.parent).toContain(
      "kube-upkeep:index:NodeUpgrade::up-w-3",
    );
    expect(registered.get("up-w-3-upgrade")?.type).toBe("command:remote:Command");
    expect(registered.get("up-w-3-ready")?.type).toBe(
      "pulumi-nodejs:dynamic/kube-upkeep:NodeReadyWait",
    );
    expect(registered.get("up-w-3-uncordon")?.type).toBe(
      "pulumi-nodejs:dynamic/kube-upkeep:NodeUncordon",
    );
    expect(registered.get("up-etcd-snapshot")?.parent).toContain(
      "kube-upkeep:index:ClusterUpgrade::up",
    );
  });

  test("per node: drain < upgrade < ready-wait < uncordon", () => {
    for (const n of ["cp-1", "cp-2", "cp-3", "w-1", "w-2", "w-3", "w-4", "w-5"]) {
      expect([n, before(`up-${n}-drain`, `up-${n}-upgrade`)]).toEqual([n, true]);
      expect([n, before(`up-${n}-upgrade`, `up-${n}-ready`)]).toEqual([n, true]);
      expect([n, before(`up-${n}-ready`, `up-${n}-uncordon`)]).toEqual([n, true]);
      expect([n, before(`up-${n}-uncordon`, `up-${n}-drain`)]).toEqual([n, false]);
    }
  });

  test("the snapshot before everything; control plane strictly serial, then workers", () => {
    for (const r of registered.values()) {
      if (r.name.startsWith("up-") && r.name.endsWith("-drain"))
        expect([r.name, before("up-etcd-snapshot", r.name)]).toEqual([r.name, true]);
    }
    expect(before("up-cp-1-uncordon", "up-cp-2-drain")).toBe(true);
    expect(before("up-cp-2-uncordon", "up-cp-3-drain")).toBe(true);
    expect(before("up-cp-2-drain", "up-cp-1-uncordon")).toBe(false);
    for (const w of ["w-1", "w-2", "w-3", "w-4", "w-5"])
      expect(before("up-cp-3-uncordon", `up-${w}-drain`)).toBe(true);
  });

  test("workers as 2 chains: worker i waits for worker i-2's uncordon (and the preflights), nothing else among workers; the first wait for the last control-plane node's verification", () => {
    expect(chainDeps("up-w-1-drain")).toEqual(["up-cp-3-health"]);
    expect(chainDeps("up-w-2-drain")).toEqual(["up-cp-3-health"]);
    expect(chainDeps("up-w-3-drain")).toEqual(["up-w-1-uncordon"]);
    expect(chainDeps("up-w-4-drain")).toEqual(["up-w-2-uncordon"]);
    expect(chainDeps("up-w-5-drain")).toEqual(["up-w-3-uncordon"]);
    // every drain waits for every node's preflight (test/unit/pulumi/node-upgrade.test.ts)
    for (const w of ["w-1", "w-5"])
      expect(
        registered.get(`up-${w}-drain`)?.dependencies.filter((d) => d.endsWith("-preflight")),
      ).toHaveLength(8);
    // the two chains are independent: no batch barrier
    expect(before("up-w-1-uncordon", "up-w-2-drain")).toBe(false);
    expect(before("up-w-2-uncordon", "up-w-3-drain")).toBe(false);
    expect(before("up-w-3-uncordon", "up-w-4-drain")).toBe(false);
  });

  test("commands: kubeadm upgrade apply on cp-1 only, rendered script on stdin, target in triggers", () => {
    const cp1 = inputsOf("up-cp-1-upgrade");
    expect(cp1.create).toBe("sh -s");
    expect(cp1.stdin).toContain('as_root kubeadm upgrade apply "$TARGET" -y');
    expect(cp1.triggers).toEqual(["v1.35.4", "apply"]);
    for (const n of ["cp-2", "w-4"]) {
      const i = inputsOf(`up-${n}-upgrade`);
      expect(i.stdin).toContain("as_root kubeadm upgrade node");
      expect(i.stdin).not.toContain("upgrade apply");
      expect(i.triggers).toEqual(["v1.35.4", "node"]);
    }
    const snap = inputsOf("up-etcd-snapshot");
    expect(snap.stdin).toContain("etcdctl");
    expect(snap.triggers).toEqual(["v1.35.4"]);
    expect(inputsOf("up-w-1-drain").runId).toBe("up@v1.35.4");
    expect(inputsOf("up-w-1-drain").options).toEqual({
      ignoreDaemonSets: true,
      deleteEmptyDirData: true,
      timeoutSeconds: 300,
    });
    expect(inputsOf("up-w-1-uncordon").runId).toBe("up@v1.35.4");
    expect(inputsOf("up-w-1-ready").targetVersion).toBe("v1.35.4");
  });

  test("the SSH private key and the kubeconfig never appear outside a secret", () => {
    const leaks: string[] = [];
    let secrets = 0;
    const walk = (v: unknown, path: string) => {
      if (typeof v === "string") {
        if (v.includes(KEY_MARKER) || v.includes(KUBECONFIG_MARKER)) leaks.push(path);
      } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[SIG_KEY] === SECRET_SIG) {
          secrets++;
          return;
        }
        for (const [k, x] of Object.entries(o)) walk(x, `${path}.${k}`);
      }
    };
    for (const r of registered.values()) if (r.name.startsWith("up")) walk(r.raw, r.name);
    expect(leaks).toEqual([]);
    // the key is there, inside a secret (@pulumi/command lifts the whole connection into the secret)
    const conn = inputsOf("up-w-2-upgrade").connection as Record<string, unknown>;
    expect(conn[SIG_KEY]).toBe(SECRET_SIG);
    expect(conn.value).toMatchObject({
      host: "127.0.0.1",
      port: 2301,
      user: "root",
      privateKey: PRIVATE_KEY,
    });
    // 8 node commands + the snapshot (connection), 8 x drain/ready/uncordon (kubeconfig)
    expect(secrets).toBeGreaterThanOrEqual(9 + 8 * 3);
  });

  test("secretConnection makes the credentials secret even when given as plain strings", async () => {
    const c = secretConnection({
      host: "h",
      privateKey: PRIVATE_KEY,
      password: "pw",
      privateKeyPassword: "pp",
    });
    for (const k of ["privateKey", "password", "privateKeyPassword"] as const)
      expect(await pulumi.isSecret(pulumi.output(c[k]))).toBe(true);
    expect(await pulumi.isSecret(pulumi.output(c.host))).toBe(false);
  });

  test("plan output and text", async () => {
    const plan = await value(cu.plan);
    expect(plan.chains).toEqual([
      ["w-1", "w-3", "w-5"],
      ["w-2", "w-4"],
    ]);
    expect(plan.steps[0]?.id).toBe("etcd-snapshot");
    const text = await value(cu.planText);
    expect(text).toMatch(
      /^Upgrade plan: control plane v1.34.2 -> v1.35.4, workers 2 at a time in 2 chain\(s\)/,
    );
    expect(text).toContain("kubeadm upgrade apply v1.35.4");
    // what verify (default on) will check, as the gates are named (logged with the plan)
    const logged = formatPlanWithVerification(plan, undefined, "up");
    expect(logged.startsWith(text)).toBe(true);
    const verification = logged.slice(text.length);
    expect(verification).toMatch(
      /^\n\nVerification \(verify\):\n  after each of cp-1, cp-2, cp-3: .* \(\S+-<node>-health\)\n  after the last node: every node Ready at v1\.35\.4, .* \(\S+-verify\)$/,
    );
    expect(await value(cu.kubeletVersions)).toEqual(
      Object.fromEntries(
        ["cp-1", "cp-2", "cp-3", "w-1", "w-2", "w-3", "w-4", "w-5"].map((n) => [n, "v1.35.4"]),
      ),
    );
  });
});

describe("ClusterUpgrade options and validation (mocks)", () => {
  test("nodes at the target get no resources; the override replaces the script; no snapshot when disabled", async () => {
    const cu = new ClusterUpgrade("sim", {
      nodes: [
        node("a", "control-plane", 1, "v1.35.0"),
        node("b", "control-plane", 2),
        node("c", "worker", 3),
      ],
      currentVersion: "v1.34.0",
      targetVersion: "v1.35.0",
      kubeconfig: pulumi.secret(KUBECONFIG),
      etcdSnapshot: false,
      commandOverride: (n) =>
        `simulate-upgrade ${n.nodeName} ${n.mode} ${n.fromVersion} ${n.targetVersion}`,
    });
    await settle(cu);
    expect(Object.keys(cu.nodeUpgrades)).toEqual(["b", "c"]);
    expect(cu.snapshot).toBeUndefined();
    expect(registered.has("sim-a-drain")).toBe(false);
    const b = inputsOf("sim-b-upgrade");
    expect(b.create).toBe("simulate-upgrade b node v1.34.0 v1.35.0");
    expect(b.stdin).toBeUndefined();
    expect(registered.get("sim-b-drain")?.dependencies).toEqual([]);
    expect(inputsOf("sim-b-drain").options).toEqual({ ignoreDaemonSets: true });
    expect(registered.get("sim-c-drain")?.dependencies).toEqual(["sim-b-health"]); // b: control plane
  });

  test("skew and input errors throw at construction (preview, livePlan: false), naming node and rule", () => {
    const errs = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationErrors);
        return (e as ValidationErrors).errors.map((x) => x.message);
      }
      throw new Error("did not throw");
    };
    const base = { kubeconfig: KUBECONFIG, currentVersion: "v1.34.2", livePlan: false as const };
    expect(
      errs(
        () =>
          new ClusterUpgrade("bad1", { ...base, nodes: cluster(1, 1), targetVersion: "v1.36.0" }),
      ),
    ).toEqual([
      expect.stringMatching(
        /^ClusterUpgrade bad1: invalid targetVersion "v1.36.0": \[one-minor-at-a-time\] .*\(node cp-1\)/,
      ),
    ]);
    expect(
      errs(
        () =>
          new ClusterUpgrade("bad2", {
            ...base,
            nodes: [
              ...cluster(1, 0),
              node("w-old", "worker", 9, "v1.31.0"),
              node("w-new", "worker", 8, "v1.35.0"),
            ],
            targetVersion: "v1.35.0",
          }),
      ),
    ).toEqual([
      expect.stringMatching(
        /\[kubelet-skew\] node w-old: kubelet v1.31.0 would be 4 minor versions behind/,
      ),
      expect.stringMatching(/\[control-plane-first\] node w-new/),
    ]);
    const msgs = errs(
      () =>
        // the live plan (the default) checks everything but the versions at construction too
        new ClusterUpgrade("bad3", {
          kubeconfig: KUBECONFIG,
          currentVersion: "v1.34.2",
          nodes: [
            { name: "w", role: "worker", connection: { host: "" } },
            { name: "w", role: "worker", connection: { host: "h" } },
          ],
          targetVersion: "v1.35.0",
          maxUnavailable: "0%",
          etcdSnapshot: { backupDir: "relative/dir" },
        }),
    );
    expect(msgs.join("\n")).toMatch(/nodes\[0\]\.connection\.host "": no SSH host for node w/);
    expect(msgs.join("\n")).toMatch(/duplicate node name/);
    expect(msgs.join("\n")).toMatch(/no control-plane node/);
    expect(msgs.join("\n")).toMatch(/invalid maxUnavailable "0%"/);
    expect(msgs.join("\n")).toMatch(/etcdSnapshot: invalid backupDir/);
    expect(
      errs(
        () =>
          new ClusterUpgrade("bad4", {
            nodes: cluster(1, 1),
            currentVersion: "v1.34.2",
            targetVersion: "v1.35.0",
            kubeconfig: undefined as never,
          }),
      ),
    ).toEqual([
      expect.stringMatching(/^ClusterUpgrade bad4: invalid kubeconfig \(unset\): no kubeconfig/),
    ]);
  });

  test("NodeUpgrade alone validates its node name and host", () => {
    expect(
      () =>
        new NodeUpgrade("x", {
          nodeName: "Bad Node",
          targetVersion: "v1.35.0",
          mode: "node",
          kubeconfig: KUBECONFIG,
          connection: { host: "h" },
        }),
    ).toThrow(/NodeUpgrade x: invalid nodeName "Bad Node"/);
  });
});

describe("NodeReadyWait serialization", () => {
  test("the provider loads kube-upkeep/core (as NodeDrain does) and captures no secret", () => {
    const r = registered.get("up-w-1-ready");
    const provider = String((r?.raw as Record<string, unknown>).__provider);
    expect(provider).toContain('require("kube-upkeep/core")');
    expect(provider).not.toContain(KUBECONFIG_MARKER);
    expect(provider).not.toContain(KEY_MARKER);
    const kc = (r?.raw as Record<string, unknown>).kubeconfig as Record<string, unknown>;
    expect(kc[SIG_KEY]).toBe(SECRET_SIG);
  });
});

describe("ClusterUpgrade graph = plan (mocks)", () => {
  test.each([
    [1, 0, 1],
    [1, 3, "50%"],
    [3, 6, 4],
  ] as const)("%i control-plane + %i workers, maxUnavailable %p", async (cp, workers, k) => {
    const name = `g${cp}-${workers}-${String(k).replace("%", "p")}`;
    const nodes = cluster(cp, workers).map((n, i) =>
      i === 0 ? { ...n, script: { packageManager: "dnf" as const } } : n,
    );
    const cu = new ClusterUpgrade(name, {
      nodes,
      currentVersion: "v1.34.2",
      targetVersion: "v1.35.0",
      maxUnavailable: k,
      kubeconfig: KUBECONFIG,
      script: { packageManager: "apt", sudo: "never" },
    });
    await settle(cu);
    const plan = await value(cu.plan);
    // a control-plane node's last resource is its verification gate
    const last = (id: string) =>
      id === "etcd-snapshot"
        ? `${name}-etcd-snapshot`
        : `${name}-${id.slice("node/".length)}-${id.startsWith("node/cp-") ? "health" : "uncordon"}`;
    for (const step of plan.steps) {
      if (step.action === "etcd-snapshot") continue;
      expect([step.id, chainDeps(`${name}-${step.node}-drain`)]).toEqual([
        step.id,
        step.dependsOn.map(last),
      ]);
    }
    // per-node script settings merge over the cluster's
    expect(inputsOf(`${name}-cp-1-upgrade`).stdin).toContain('as_root() { "$@"; }');
    expect(inputsOf(`${name}-cp-1-upgrade`).stdin).toContain("dnf install -y");
    if (cp > 1) expect(inputsOf(`${name}-cp-2-upgrade`).stdin).toContain("apt-get install -y");
  });
});

/** The ValidationErrors messages `f` throws. */
function validationMessages(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationErrors);
    return (e as ValidationErrors).errors.map((x) => x.message);
  }
  throw new Error("did not throw");
}

/** Names registered since `before` (registrations are asynchronous: waits for late ones first). */
async function registeredSince(before: Set<string>): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 200));
  return [...registered.keys()].filter((k) => !before.has(k));
}

describe("validation before anything is registered (mocks)", () => {
  const base = { kubeconfig: KUBECONFIG, currentVersion: "v1.34.2", targetVersion: "v1.35.0" };

  test("a bad per-node setting on the LAST node: nothing registered (no component, no snapshot, no drain); the error names the component, the node and the field", async () => {
    const before = new Set(registered.keys());
    const nodes = cluster(3, 3);
    nodes[5] = { ...nodes[5]!, script: { packageVersion: "1.35.0'-1" } };
    expect(
      validationMessages(() => new ClusterUpgrade("prod", { ...base, nodes, maxUnavailable: 2 })),
    ).toEqual([
      `ClusterUpgrade prod / node w-3: invalid script.packageVersion "1.35.0'-1": not a package version. Fix: give a version such as "1.35.4-1.1" (apt), "1.35.4-150500.1.1" (rpm) or "1.35.4-*"`,
    ]);
    expect(await registeredSince(before)).toEqual([]);
  });

  test("every problem at once: per-node script settings name their node, the roll's own settings are reported once", async () => {
    const before = new Set(registered.keys());
    const nodes = cluster(2, 3);
    nodes[2] = { ...nodes[2]!, script: { kubeadmFlags: ["--ok", "--bad flag"] } };
    nodes[4] = { ...nodes[4]!, script: { packageVersion: "1.34.9-1" } };
    const msgs = validationMessages(
      () =>
        new ClusterUpgrade("prod2", {
          ...base,
          nodes,
          script: { sudo: "sometimes" as never },
          drain: { timeoutSeconds: 0 },
          readyTimeoutSeconds: -5,
        }),
    );
    expect(msgs).toEqual([
      expect.stringMatching(
        /^ClusterUpgrade prod2: invalid drain\.timeoutSeconds 0: must be a positive/,
      ),
      expect.stringMatching(
        /^ClusterUpgrade prod2: invalid readyTimeoutSeconds -5: must be a positive/,
      ),
      expect.stringMatching(
        /^ClusterUpgrade prod2: invalid script\.sudo "sometimes": unknown value/,
      ),
    ]);
    // sudo is checked before the per-node options: fix it and the nodes' own problems show
    const msgs2 = validationMessages(
      () => new ClusterUpgrade("prod3", { ...base, nodes, script: { sudo: "never" } }),
    );
    expect(msgs2).toEqual([
      expect.stringMatching(
        /^ClusterUpgrade prod3 \/ node w-1: invalid script\.kubeadmFlags\[1\] "--bad flag": not a kubeadm flag/,
      ),
      expect.stringMatching(
        /^ClusterUpgrade prod3 \/ node w-3: invalid script\.packageVersion "1.34.9-1": does not match targetVersion v1.35.0/,
      ),
    ]);
    for (const m of [...msgs, ...msgs2]) expect(m).not.toContain("renderNodeUpgradeScript");
    expect(await registeredSince(before)).toEqual([]);
  });

  test("a commandOverride that throws a ValidationError for the last node: nothing registered", async () => {
    const before = new Set(registered.keys());
    const msgs = validationMessages(
      () =>
        new ClusterUpgrade("prod4", {
          ...base,
          nodes: cluster(1, 2),
          commandOverride: (n) => {
            if (n.nodeName === "w-2")
              throw new ValidationError("my-override", "host", "w-2", "no tool", "install it");
            return "true";
          },
        }),
    );
    expect(msgs).toEqual([expect.stringMatching(/^my-override: invalid host "w-2": no tool/)]);
    expect(await registeredSince(before)).toEqual([]);
  });

  test("NodeUpgrade alone: the error names the component and script.<option>; nothing registered", async () => {
    const before = new Set(registered.keys());
    const msgs = validationMessages(
      () =>
        new NodeUpgrade("w-7", {
          nodeName: "w-7",
          targetVersion: "v1.35.4",
          mode: "node",
          kubeconfig: KUBECONFIG,
          connection: { host: "10.0.1.7" },
          script: { packageVersion: '1.35.4"; reboot; "' },
          drain: { retryIntervalMs: -1 },
        }),
    );
    expect(msgs).toEqual([
      expect.stringMatching(/^NodeUpgrade w-7: invalid drain\.retryIntervalMs -1: /),
      expect.stringMatching(
        /^NodeUpgrade w-7: invalid script\.packageVersion "1\.35\.4\\"; reboot; \\"": not a package version/,
      ),
    ]);
    expect(await registeredSince(before)).toEqual([]);
  });
});

describe("remote.Command update semantics (mocks + sh)", () => {
  // pulumi-resource-command re-runs `create` on an update when `update` is unset; every input
  // change other than the triggers (connection, script, override) is an update.
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ku-update-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the update command as sshd would (`sh -c <command>`), with a fake kubelet on PATH. */
  function runUpdate(update: string, kubelet: string | undefined, stdin: string) {
    const bin = mkdtempSync(join(dir, "bin-"));
    if (kubelet !== undefined)
      writeFileSync(join(bin, "kubelet"), `#!/bin/sh\necho "Kubernetes ${kubelet}"\n`, {
        mode: 0o755,
      });
    const r = spawnSync("/bin/sh", ["-c", update], {
      input: stdin,
      env: { PATH: `${bin}:/usr/bin:/bin` },
      encoding: "utf8",
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  test("every node command has an update that only checks; triggers unchanged", () => {
    for (const n of ["cp-1", "cp-2", "w-1", "w-5"]) {
      const i = inputsOf(`up-${n}-upgrade`);
      expect(typeof i.update).toBe("string");
      expect(i.update).not.toBe(i.create);
      expect(i.update).toMatch(/^sh -c /);
      expect(i.update).not.toContain("kubeadm upgrade");
      expect(i.update).not.toContain("apt-get");
      expect(i.triggers).toEqual(["v1.35.4", n === "cp-1" ? "apply" : "node"]);
    }
    // the snapshot keeps the provider's default (a changed setting takes another snapshot)
    expect(inputsOf("up-etcd-snapshot").update).toBeUndefined();
  });

  test("rendered script: at the target it succeeds without running stdin; elsewhere it fails naming the node", () => {
    const update = inputsOf("up-w-1-upgrade").update as string;
    const canary = join(dir, "canary");
    const stdin = `touch ${canary}\n`;
    const ok = runUpdate(update, "v1.35.4", stdin);
    expect(ok).toMatchObject({ status: 0, stderr: "" });
    expect(ok.stdout).toMatch(
      /^kube-upkeep: node w-1: kubelet at v1\.35\.4; the upgrade settings changed after the upgrade ran: nothing to do/,
    );
    const behind = runUpdate(update, "v1.34.2", stdin);
    expect(behind.status).toBe(1);
    expect(behind.stdout).toBe("");
    expect(behind.stderr).toMatch(
      /^kube-upkeep: node w-1: the upgrade settings .* reports kubelet v1\.34\.2 instead of v1\.35\.4\. Not upgrading a node that was not drained for it\. Fix: /,
    );
    const none = runUpdate(update, undefined, stdin);
    expect(none.status).toBe(1);
    expect(none.stderr).toContain("reports kubelet (none) instead of v1.35.4");
    expect(existsSync(canary)).toBe(false);
  });

  test("command override: the update runs nothing and says so", async () => {
    const cu = new ClusterUpgrade("ovr", {
      nodes: cluster(1, 1),
      currentVersion: "v1.34.2",
      targetVersion: "v1.35.0",
      kubeconfig: KUBECONFIG,
      etcdSnapshot: false,
      commandOverride: (n) => `touch /tmp/never-${n.nodeName}`,
    });
    await settle(cu);
    const i = inputsOf("ovr-w-1-upgrade");
    expect(i.create).toBe("touch /tmp/never-w-1");
    const r = runUpdate(i.update as string, "v1.34.0", "");
    expect(r).toEqual({
      status: 0,
      stdout: expect.stringMatching(
        /^kube-upkeep: node w-1: the upgrade command or its connection changed after it ran for v1\.35\.0: nothing is run/,
      ),
      stderr: "",
    });
  });
});
