/**
 * Watchers the e2e tests use to check what happened on the cluster independently of the engine's
 * account: node cordon / uncordon / kubelet-version transitions, and ready pods per PDB-covered
 * workload after every pod event.
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
  startSimulatedCluster,
  type SimulatedCluster,
} from "./simulated-cluster";

export interface NodeEvent {
  readonly t: number;
  readonly node: string;
  readonly kind: "cordon" | "uncordon" | "version";
  readonly version?: string;
}

/** Records cordon / uncordon / kubelet version changes of every node, with its own clock. */
export class NodeTimeline {
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
export class PdbWatcher {
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

/** A simulated cluster with both watchers running (the common setup of the e2e test files). */
export interface WatchedCluster {
  readonly cluster: SimulatedCluster;
  readonly nodes: NodeTimeline;
  readonly pdbs: PdbWatcher;
}

/**
 * Checks the prerequisites (failing with how to get what is missing), builds dist-lib, starts a
 * simulated cluster with `workers` workers and the node and PDB watchers. Log lines get `[tag]`.
 */
export async function startWatchedCluster(
  name: string,
  workers: number,
  tag: string,
): Promise<WatchedCluster> {
  checkPrerequisites();
  await buildLibrary();
  const cluster = await startSimulatedCluster({
    name,
    workers,
    log: (l) => process.stderr.write(`[${tag}] ${l}\n`),
  });
  const nodes = new NodeTimeline();
  await nodes.start(cluster.kc);
  const pdbs = new PdbWatcher(new Map(cluster.workloads.map((w) => [w.name, w.minAvailable])));
  await pdbs.start(cluster.kc, cluster.namespace);
  return { cluster, nodes, pdbs };
}
