/**
 * e2e: `pulumi up` of the demo program (Pulumi.yaml -> examples/pulumi/index.ts) through the real
 * Pulumi engine, on a simulated 3 control-plane + 6 worker cluster (kwokctl control plane, kwok
 * nodes), with the per-node commands run by remote.Command over SSH against a real sshd on
 * 127.0.0.1 and the etcd snapshot taken from the cluster's real etcd.
 *
 * The test does not trust the engine's account of what happened: it watches the nodes itself
 * (spec.unschedulable transitions = cordon / uncordon, status.nodeInfo.kubeletVersion changes =
 * the upgrade taking effect) and the pods of the PDB-covered workloads (ready count per workload
 * after every event), and checks the order and the bounds on those timelines.
 *
 * Missing binaries (control plane, Pulumi engine, sshd) fail the run with how to get them.
 */
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startWatchedCluster, type NodeTimeline, type PdbWatcher } from "./watchers";
import {
  createDemoStack,
  nodeStates,
  TARGET_VERSION,
  type DemoStack,
  type SimulatedCluster,
} from "./simulated-cluster";

jest.setTimeout(900_000);

const MAX_UNAVAILABLE = 2;
/** The second roll (a patch release of the same minor). */
const NEXT_VERSION = "v1.35.5";
/** The failing roll. */
const FAIL_VERSION = "v1.35.6";

let cluster: SimulatedCluster;
let demo: DemoStack | undefined;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;
/** The simulated command's record of upgrades that took effect (the failing roll and its re-run). */
let upgradeLog = "";

beforeAll(async () => {
  // throws with the build / install command for anything missing
  ({ cluster, nodes, pdbs } = await startWatchedCluster(`ku-e2e-${process.pid}`, 6, "e2e"));
});

afterAll(async () => {
  nodes?.stop();
  pdbs?.stop();
  await demo?.dispose();
  await cluster?.stop();
});

test("pulumi up rolls 3 control-plane + 6 workers to the target: order, bounds, PDBs, snapshot", async () => {
  demo = await createDemoStack(cluster, `e2e-${process.pid}`, {
    maxUnavailable: MAX_UNAVAILABLE,
    simulatedUpgradeSeconds: 1,
    drainRetryIntervalMs: 500,
  });
  const started = Date.now();
  const up = await demo.stack.up({ onOutput: () => undefined });
  expect(up.summary.result).toBe("succeeded");
  process.stderr.write(
    `[e2e] pulumi up: ${((Date.now() - started) / 1000).toFixed(1)}s, ${demo.standInCommandProvider ? "stand-in" : "built"} command provider\n`,
  );

  // the watchers saw the whole run (a watch the apiserver ended was re-listed and resumed)
  process.stderr.write(
    `[e2e] watch restarts: nodes ${nodes.restarts}, pods ${pdbs.restarts}; ${nodes.errors.concat(pdbs.errors).join("; ")}\n`,
  );

  // every node at the target and schedulable (read from the API, not from the outputs)
  const state = await nodeStates(cluster.kc);
  const all = [...cluster.controlPlanes, ...cluster.workers];
  for (const n of all)
    expect({ n, ...state[n] }).toEqual({ n, version: TARGET_VERSION, unschedulable: false });
  expect(up.outputs.kubeletVersions.value).toEqual(
    Object.fromEntries(all.map((n) => [n, TARGET_VERSION])),
  );

  // per node: cordon < version change < uncordon, each exactly once
  const span = new Map<string, { cordon: number; version: number; uncordon: number }>();
  for (const n of all) {
    const [c, v, u] = [nodes.of(n, "cordon"), nodes.of(n, "version"), nodes.of(n, "uncordon")];
    expect({
      n,
      cordons: c.length,
      versions: v.map((e) => e.version),
      uncordons: u.length,
    }).toEqual({
      n,
      cordons: 1,
      versions: [TARGET_VERSION],
      uncordons: 1,
    });
    expect(c[0].t).toBeLessThanOrEqual(v[0].t);
    expect(v[0].t).toBeLessThanOrEqual(u[0].t);
    span.set(n, { cordon: c[0].t, version: v[0].t, uncordon: u[0].t });
  }

  // control-plane nodes one at a time, in order, all before any worker is cordoned
  for (let i = 1; i < cluster.controlPlanes.length; i++) {
    expect(span.get(cluster.controlPlanes[i - 1])!.uncordon).toBeLessThanOrEqual(
      span.get(cluster.controlPlanes[i])!.cordon,
    );
  }
  const lastCp = span.get(cluster.controlPlanes[cluster.controlPlanes.length - 1])!.uncordon;
  for (const w of cluster.workers) expect(span.get(w)!.cordon).toBeGreaterThanOrEqual(lastCp);
  expect(nodes.maxConcurrentCordoned(cluster.controlPlanes)).toBe(1);

  // never more than maxUnavailable workers out at once (and the width was used)
  const widest = nodes.maxConcurrentCordoned(cluster.workers);
  expect(widest).toBeLessThanOrEqual(MAX_UNAVAILABLE);
  expect(widest).toBeGreaterThanOrEqual(1);
  // ... and really used: two workers of different chains (worker i is in chain i mod k) were out
  // at the same time, from the watcher's own timestamps (cordon..uncordon intervals overlap)
  const chains = Array.from({ length: MAX_UNAVAILABLE }, (_, c) =>
    cluster.workers.filter((_, i) => i % MAX_UNAVAILABLE === c),
  );
  const overlap = { ms: -Infinity, a: "", b: "" };
  for (const a of chains[0]!)
    for (const b of chains[1]!) {
      const [x, y] = [span.get(a)!, span.get(b)!];
      const ms = Math.min(x.uncordon, y.uncordon) - Math.max(x.cordon, y.cordon);
      if (ms > overlap.ms) Object.assign(overlap, { ms, a, b });
    }
  process.stderr.write(
    `[e2e] chains ${JSON.stringify(chains)}: longest overlap ${overlap.a} / ${overlap.b} ${overlap.ms} ms\n`,
  );
  expect(overlap.ms).toBeGreaterThan(0);
  expect(widest).toBe(MAX_UNAVAILABLE);

  // no moment with fewer ready pods than a PDB allows, and the drains did evict
  expect(pdbs.violations).toEqual([]);
  expect(pdbs.events).toBeGreaterThan(0);
  const drains = up.outputs.drains.value as { name: string; evicted: number; retries: number }[];
  const evicted = drains.reduce((s, d) => s + d.evicted, 0);
  expect(evicted).toBeGreaterThan(0);
  process.stderr.write(
    `[e2e] evictions ${evicted}, PDB retries ${drains.reduce((s, d) => s + d.retries, 0)}, lowest ready: ${JSON.stringify(Object.fromEntries(pdbs.lowest))}, widest worker window ${widest}\n`,
  );

  // the pre-upgrade snapshot exists (etcdctl against the cluster's etcd, over SSH)
  expect(String(up.outputs.etcdSnapshotPath.value)).toMatch(/etcd-snapshot-\d{8}T\d{6}Z\.db$/);
});

test("a second pulumi up with the same target changes nothing", async () => {
  expect(demo).toBeDefined();
  const eventsBefore = nodes.events.length;
  const up = await demo!.stack.up({ onOutput: () => undefined });
  expect(up.summary.result).toBe("succeeded");
  const changes = { ...up.summary.resourceChanges };
  delete changes.same;
  expect(changes).toEqual({});
  // nothing was cordoned or upgraded again
  await new Promise((r) => setTimeout(r, 1000));
  expect(nodes.events.slice(eventsBefore)).toEqual([]);
});

test("raising the target rolls every node again, in the same order", async () => {
  expect(demo).toBeDefined();
  const eventsBefore = nodes.events.length;
  await demo!.setTarget(NEXT_VERSION);
  const up = await demo!.stack.up({ onOutput: () => undefined });
  expect(up.summary.result).toBe("succeeded");
  const state = await nodeStates(cluster.kc);
  const all = [...cluster.controlPlanes, ...cluster.workers];
  const after = nodes.events.slice(eventsBefore);
  for (const n of all) {
    expect({ n, ...state[n] }).toEqual({ n, version: NEXT_VERSION, unschedulable: false });
    expect(after.filter((e) => e.node === n).map((e) => e.kind)).toEqual([
      "cordon",
      "version",
      "uncordon",
    ]);
  }
  const firstWorkerCordon = Math.min(
    ...after.filter((e) => e.kind === "cordon" && cluster.workers.includes(e.node)).map((e) => e.t),
  );
  const lastCpUncordon = Math.max(
    ...after
      .filter((e) => e.kind === "uncordon" && cluster.controlPlanes.includes(e.node))
      .map((e) => e.t),
  );
  expect(firstWorkerCordon).toBeGreaterThanOrEqual(lastCpUncordon);
  expect(pdbs.violations).toEqual([]);

  // after three `pulumi up`s: the stack's state files (checkpoint, backups, history) hold the SSH
  // private key and the kubeconfig only encrypted
  const leaks = plaintextSecretsIn(demo!.dirs[0]!);
  expect(leaks.files.length).toBeGreaterThan(0);
  expect(leaks.ciphertexts).toBeGreaterThan(0);
  expect(leaks.found).toEqual([]);
  process.stderr.write(
    `[e2e] state files: ${leaks.files.length}, ${leaks.markers} secret markers searched, ${leaks.ciphertexts} ciphertexts, no plaintext\n`,
  );
});

test("a changed setting on an upgraded node (connection, command) runs only the check: no drain, no upgrade", async () => {
  expect(demo).toBeDefined();
  const eventsBefore = nodes.events.length;
  // a connection change (the host key with a comment: same key) and a command change
  await demo!.stack.setConfig("sshHostKey", { value: `${cluster.sshd.hostKeyLine} ku-e2e` });
  await demo!.stack.setConfig("simulatedUpgradeSeconds", { value: "2" });
  const started = Date.now();
  const up = await demo!.stack.up({ onOutput: () => undefined });
  process.stderr.write(
    `[e2e] changed setting on upgraded nodes: pulumi up ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
  expect(up.summary.result).toBe("succeeded");
  const changes = { ...up.summary.resourceChanges };
  delete changes.same;
  const all = [...cluster.controlPlanes, ...cluster.workers];
  // only the commands change (an update each: the nodes' and the etcd snapshot's, which has the
  // same connection), nothing is created, replaced or deleted
  expect(changes).toEqual({ update: all.length + 1 });
  // each ran the check (its stdout), not the upgrade command (it would say "already at")
  const stdout = await upgradeStdout(demo!);
  for (const n of all)
    expect({ n, stdout: stdout[n] }).toEqual({
      n,
      stdout: expect.stringMatching(
        new RegExp(
          `^kube-upkeep: node ${n}: the upgrade command or its connection changed after it ran for ${NEXT_VERSION}: nothing is run`,
        ),
      ),
    });
  await new Promise((r) => setTimeout(r, 1000));
  expect(nodes.events.slice(eventsBefore)).toEqual([]);
  const state = await nodeStates(cluster.kc);
  for (const n of all)
    expect({ n, ...state[n] }).toEqual({ n, version: NEXT_VERSION, unschedulable: false });
});

test("a failing upgrade command stops the roll at that node: later nodes untouched, the error names the node", async () => {
  expect(demo).toBeDefined();
  await demo!.dispose();
  const next = FAIL_VERSION;
  upgradeLog = join(mkdtempSync(join(tmpdir(), "ku-e2e-log-")), "upgrades.log");
  demo = await createDemoStack(cluster, `e2e-fail-${process.pid}`, {
    maxUnavailable: 1,
    // a new stack of the same cluster: the nodes are where the last roll left them
    currentVersion: NEXT_VERSION,
    targetVersion: next,
    failNodes: ["w-2"],
    drainRetryIntervalMs: 500,
    upgradeLog,
  });
  const eventsBefore = nodes.events.length;
  let message = "";
  try {
    await demo.stack.up({ onOutput: () => undefined });
  } catch (e) {
    message = e instanceof Error ? e.message : String(e);
  }
  expect(message).toContain("upgrade-w-2-upgrade");
  expect(message).toContain("[w-2] simulated failure: kubeadm upgrade node exited 1");
  // the SSH key is a secret: never in the output
  expect(message).not.toContain(cluster.sshd.privateKey.split("\n")[1]);
  const state = await nodeStates(cluster.kc);
  // before the failure: upgraded and back in service
  for (const n of [...cluster.controlPlanes, "w-1"]) {
    expect({ n, ...state[n] }).toEqual({ n, version: next, unschedulable: false });
  }
  // the failed node: drained, not upgraded, left cordoned (failure policy leave-cordoned)
  expect(state["w-2"]).toEqual({ version: NEXT_VERSION, unschedulable: true });
  // later nodes: never touched in this run
  const after = nodes.events.slice(eventsBefore);
  for (const n of ["w-3", "w-4", "w-5", "w-6"]) {
    expect({ n, ...state[n] }).toEqual({ n, version: NEXT_VERSION, unschedulable: false });
    expect(after.filter((e) => e.node === n)).toEqual([]);
  }
  expect(pdbs.violations).toEqual([]);
});

test("a changed setting mid-roll: finished nodes run only the check, the failed node is upgraded behind its drain, the rest roll", async () => {
  expect(demo).toBeDefined();
  const eventsBefore = nodes.events.length;
  // the failure fixed (w-2's command changes) and a setting of every node's command changed
  await demo!.stack.removeConfig("failNodes");
  await demo!.stack.setConfig("simulatedUpgradeSeconds", { value: "2" });
  const started = Date.now();
  const up = await demo!.stack.up({ onOutput: () => undefined });
  process.stderr.write(
    `[e2e] changed setting mid-roll: pulumi up ${((Date.now() - started) / 1000).toFixed(1)}s\n`,
  );
  expect(up.summary.result).toBe("succeeded");
  const state = await nodeStates(cluster.kc);
  const all = [...cluster.controlPlanes, ...cluster.workers];
  for (const n of all)
    expect({ n, ...state[n] }).toEqual({ n, version: FAIL_VERSION, unschedulable: false });
  const after = nodes.events.slice(eventsBefore);
  const kinds = (n: string) => after.filter((e) => e.node === n).map((e) => e.kind);
  const done = [...cluster.controlPlanes, "w-1"];
  const stdout = await upgradeStdout(demo!);
  for (const n of done) {
    // finished before: not drained, not upgraded again; its command ran only the check
    expect({ n, events: kinds(n) }).toEqual({ n, events: [] });
    expect({ n, stdout: stdout[n] }).toEqual({
      n,
      stdout: expect.stringMatching(/^kube-upkeep: node .*: nothing is run/),
    });
  }
  // the failed node was still cordoned by its drain: upgraded, then uncordoned
  expect(kinds("w-2")).toEqual(["version", "uncordon"]);
  for (const n of ["w-3", "w-4", "w-5", "w-6"])
    expect({ n, events: kinds(n) }).toEqual({ n, events: ["cordon", "version", "uncordon"] });
  // every upgrade of the roll happened on a cordoned (drained) node, each node's exactly once
  for (const n of all) {
    const mine = nodes.events.filter((e) => e.node === n);
    for (const [i, e] of mine.entries()) {
      if (e.kind !== "version" || e.version !== FAIL_VERSION) continue;
      const last = mine
        .slice(0, i)
        .filter((x) => x.kind !== "version")
        .pop();
      expect({ n, before: last?.kind }).toEqual({ n, before: "cordon" });
    }
  }
  const upgrades = readFileSync(upgradeLog, "utf8").trim().split("\n");
  expect([...upgrades].sort()).toEqual(
    all.map((n) => expect.stringMatching(new RegExp(`^${n} \\S+ ${FAIL_VERSION}$`))).sort(),
  );
  expect(new Set(upgrades.map((l) => l.split(" ")[0])).size).toBe(all.length);
  expect(pdbs.violations).toEqual([]);
});

/** stdout of each node's upgrade command, from the stack's state. */
async function upgradeStdout(d: DemoStack): Promise<Record<string, string>> {
  const exported = await d.stack.exportStack();
  const resources =
    (
      exported.deployment as {
        resources?: { type: string; urn: string; outputs?: Record<string, unknown> }[];
      }
    ).resources ?? [];
  const out: Record<string, string> = {};
  for (const r of resources) {
    const m = /::upgrade-(.+)-upgrade$/.exec(r.urn);
    if (r.type === "command:remote:Command" && m) out[m[1]!] = String(r.outputs?.stdout ?? "");
  }
  return out;
}

/**
 * Searches every file of the local backend (checkpoints, backups, history) for the SSH private
 * key and the kubeconfig in plaintext: the whole texts (raw and JSON-escaped) and each line of
 * key material (the key's base64 lines; the kubeconfig's *-data, token and password values).
 */
function plaintextSecretsIn(backend: string): {
  files: string[];
  markers: number;
  ciphertexts: number;
  found: string[];
} {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) files.push(p);
    }
  };
  walk(backend);
  const key = cluster.sshd.privateKey;
  const kubeconfig = cluster.kubeconfigYaml;
  const markers = [
    key.trim(),
    JSON.stringify(key.trim()).slice(1, -1),
    kubeconfig.trim(),
    JSON.stringify(kubeconfig.trim()).slice(1, -1),
    ...key
      .split("\n")
      .filter((l) => l.length >= 20 && !l.startsWith("-----"))
      .map((l) => l.trim()),
    ...kubeconfig
      .split("\n")
      .map((l) => /^\s*(?:[a-z-]+-data|token|password):\s*(\S{16,})\s*$/.exec(l)?.[1])
      .filter((v): v is string => v !== undefined),
  ];
  const found: string[] = [];
  let ciphertexts = 0;
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    ciphertexts += (text.match(/"ciphertext"/g) ?? []).length;
    for (const [i, m] of markers.entries())
      if (text.includes(m)) found.push(`${f.slice(backend.length)}: marker ${i}`);
  }
  return { files, markers: markers.length, ciphertexts, found };
}
