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
import { deleteStaleTestClusters } from "../cluster/cluster";
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

/**
 * List, then watch from the list's resourceVersion; when the apiserver ends the watch, list and
 * watch again (the re-list catches up on what the gap missed). Subclasses say what to list and
 * what to do with the listed items and with each event.
 */
abstract class ListWatcher<T> {
  errors: string[] = [];
  /** Watch restarts. */
  restarts = 0;
  private abort?: AbortController;
  private stopped = false;

  protected async listWatch(
    kc: KubeConfig,
    path: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
    onList: (items: T[], relist: boolean) => void,
    onEvent: (type: string, item: T) => void,
    relist = false,
  ): Promise<void> {
    const listed = await list();
    onList(listed.items, relist);
    this.abort = await new Watch(kc).watch(
      path,
      { resourceVersion: listed.metadata?.resourceVersion, allowWatchBookmarks: true },
      (type: string, item: T) => {
        if (type !== "BOOKMARK") onEvent(type, item);
      },
      (err: unknown) => {
        if (this.stopped) return;
        if (err) this.errors.push(`${path} watch ended: ${String(err)}`);
        this.restarts++;
        // while the apiserver restarts (a real kubeadm upgrade apply) the re-list fails too:
        // keep trying until it answers or the watcher is stopped
        const again = () => {
          if (this.stopped) return;
          this.listWatch(kc, path, list, onList, onEvent, true).catch((e: unknown) => {
            this.errors.push(`${path} re-watch: ${String(e)}`);
            setTimeout(again, 1000);
          });
        };
        again();
      },
    );
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

/** Records cordon / uncordon / kubelet version changes of every node, with its own clock. */
export class NodeTimeline extends ListWatcher<V1Node> {
  readonly events: NodeEvent[] = [];
  private readonly last = new Map<string, { unschedulable: boolean; version: string }>();

  /** Starts watching; transitions before this call are not recorded (a re-list's are). */
  start(kc: KubeConfig): Promise<void> {
    return this.listWatch(
      kc,
      "/api/v1/nodes",
      () => kc.makeApiClient(CoreV1Api).listNode(),
      (nodes, relist) => nodes.forEach((n) => this.observe(n, relist)),
      (type, n) => {
        if (type === "ADDED" || type === "MODIFIED") this.observe(n, true);
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
}

/** Ready pods per workload after every pod event; records each moment below the PDB's minAvailable. */
export class PdbWatcher extends ListWatcher<V1Pod> {
  readonly violations: string[] = [];
  readonly lowest = new Map<string, number>();
  events = 0;
  private readonly pods = new Map<string, { app: string; ready: boolean }>();

  constructor(private readonly minAvailable: Map<string, number>) {
    super();
  }

  private static ready(p: V1Pod): boolean {
    if (p.metadata?.deletionTimestamp) return false;
    return (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
  }

  start(kc: KubeConfig, ns: string): Promise<void> {
    return this.listWatch(
      kc,
      `/api/v1/namespaces/${ns}/pods`,
      () => kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns }),
      (pods) => {
        this.pods.clear();
        for (const p of pods) this.apply("ADDED", p);
        this.check("list");
      },
      (type, p) => {
        this.events++;
        this.apply(type, p);
        this.check(`${type} ${p.metadata?.name}`);
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
  await deleteStaleTestClusters(); // of crashed earlier runs
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
