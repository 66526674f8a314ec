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
import {
  CoreV1Api,
  Watch,
  type KubeConfig,
  type V1Node,
  type V1Pod,
} from "@kubernetes/client-node";
import {
  buildLibrary,
  checkPrerequisites,
  createDemoStack,
  nodeStates,
  startSimulatedCluster,
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

interface NodeEvent {
  readonly t: number;
  readonly node: string;
  readonly kind: "cordon" | "uncordon" | "version";
  readonly version?: string;
}

/** Records cordon / uncordon / kubelet version changes of every node, with its own clock. */
class NodeTimeline {
  readonly events: NodeEvent[] = [];
  private readonly last = new Map<string, { unschedulable: boolean; version: string }>();
  private abort?: AbortController;
  errors: string[] = [];

  /** Watch restarts (the apiserver may end a watch; a re-list catches up on missed changes). */
  restarts = 0;
  private stopped = false;

  async start(kc: KubeConfig, record = false): Promise<void> {
    const list = await kc.makeApiClient(CoreV1Api).listNode();
    for (const n of list.items) this.observe(n, record);
    this.abort = await new Watch(kc).watch(
      "/api/v1/nodes",
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type: string, n: V1Node) => {
        if (type === "ADDED" || type === "MODIFIED") this.observe(n, true);
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (err) this.errors.push(`node watch ended: ${String(err)}`);
        this.restarts++;
        void this.start(kc, true).catch((e: unknown) =>
          this.errors.push(`node re-watch: ${String(e)}`),
        );
      },
    );
  }

  private observe(n: V1Node, record: boolean): void {
    const name = n.metadata?.name ?? "";
    const now = {
      unschedulable: n.spec?.unschedulable === true,
      version: n.status?.nodeInfo?.kubeletVersion ?? "",
    };
    const before = this.last.get(name);
    this.last.set(name, now);
    if (!record || !before) return;
    const t = Date.now();
    if (!before.unschedulable && now.unschedulable)
      this.events.push({ t, node: name, kind: "cordon" });
    if (before.unschedulable && !now.unschedulable)
      this.events.push({ t, node: name, kind: "uncordon" });
    if (before.version !== now.version)
      this.events.push({ t, node: name, kind: "version", version: now.version });
  }

  of(node: string, kind: NodeEvent["kind"]): NodeEvent[] {
    return this.events.filter((e) => e.node === node && e.kind === kind);
  }

  /** Most nodes of `names` unschedulable at the same time (from the recorded transitions). */
  maxConcurrentCordoned(names: readonly string[]): number {
    const set = new Set(names);
    let cur = 0;
    let max = 0;
    for (const e of this.events) {
      if (!set.has(e.node)) continue;
      if (e.kind === "cordon") max = Math.max(max, ++cur);
      if (e.kind === "uncordon") cur--;
    }
    return max;
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

/** Ready pods per workload after every pod event; records each moment below the PDB's minAvailable. */
class PdbWatcher {
  readonly violations: string[] = [];
  readonly lowest = new Map<string, number>();
  events = 0;
  errors: string[] = [];
  private readonly pods = new Map<string, { app: string; ready: boolean }>();
  private abort?: AbortController;

  constructor(private readonly minAvailable: Map<string, number>) {}

  private static ready(p: V1Pod): boolean {
    if (p.metadata?.deletionTimestamp) return false;
    return (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  }

  restarts = 0;
  private stopped = false;

  async start(kc: KubeConfig, ns: string): Promise<void> {
    const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns });
    this.pods.clear();
    for (const p of list.items) this.apply("ADDED", p);
    this.check("list");
    this.abort = await new Watch(kc).watch(
      `/api/v1/namespaces/${ns}/pods`,
      { resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type: string, p: V1Pod) => {
        if (type === "BOOKMARK") return;
        this.events++;
        this.apply(type, p);
        this.check(`${type} ${p.metadata?.name}`);
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (err) this.errors.push(`pod watch ended: ${String(err)}`);
        this.restarts++;
        void this.start(kc, ns).catch((e: unknown) =>
          this.errors.push(`pod re-watch: ${String(e)}`),
        );
      },
    );
  }

  private apply(type: string, p: V1Pod): void {
    const name = p.metadata?.name ?? "";
    const app = p.metadata?.labels?.app ?? "";
    if (type === "DELETED") this.pods.delete(name);
    else this.pods.set(name, { app, ready: PdbWatcher.ready(p) });
  }

  private check(what: string): void {
    for (const [app, min] of this.minAvailable) {
      const ready = [...this.pods.values()].filter((p) => p.app === app && p.ready).length;
      this.lowest.set(app, Math.min(this.lowest.get(app) ?? Infinity, ready));
      if (ready < min)
        this.violations.push(
          `${new Date().toISOString()} ${app}: ${ready} ready < minAvailable ${min} after ${what}`,
        );
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

let cluster: SimulatedCluster;
let demo: DemoStack | undefined;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;

beforeAll(async () => {
  checkPrerequisites(); // throws with the build / install command for anything missing
  await buildLibrary();
  cluster = await startSimulatedCluster({
    name: `ku-e2e-${process.pid}`,
    workers: 6,
    log: (l) => process.stderr.write(`[e2e] ${l}\n`),
  });
  nodes = new NodeTimeline();
  await nodes.start(cluster.kc);
  pdbs = new PdbWatcher(new Map(cluster.workloads.map((w) => [w.name, w.minAvailable])));
  await pdbs.start(cluster.kc, cluster.namespace);
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
});

test("a failing upgrade command stops the roll at that node: later nodes untouched, the error names the node", async () => {
  expect(demo).toBeDefined();
  await demo!.dispose();
  const next = FAIL_VERSION;
  demo = await createDemoStack(cluster, `e2e-fail-${process.pid}`, {
    maxUnavailable: 1,
    targetVersion: next,
    failNodes: ["w-2"],
    drainRetryIntervalMs: 500,
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
