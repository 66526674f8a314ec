/**
 * Faults during `pulumi up` of a ClusterUpgrade through the real engine (kwok nodes, real
 * control plane, real sshd): a node whose kubelet never comes back at the target, and etcd
 * stopped before the pre-upgrade snapshot.
 */
import { isClusterReady } from "../cluster/cluster";
import { waitFor } from "../cluster/fixtures";
import { stopComponent, superviseCluster, type Supervisor } from "../integration/support/faults";
import {
  CURRENT_VERSION,
  TARGET_VERSION,
  createDemoStack,
  nodeStates,
  type DemoStack,
  type SimulatedCluster,
} from "./simulated-cluster";
import { type NodeTimeline, type PdbWatcher, startWatchedCluster } from "./watchers";

jest.setTimeout(600_000);

let cluster: SimulatedCluster;
let demo: DemoStack | undefined;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;
let supervisor: Supervisor | undefined;

beforeAll(async () => {
  ({ cluster, nodes, pdbs } = await startWatchedCluster(
    `ku-e2e-faults-${process.pid}`,
    3,
    "e2e-faults",
  ));
  // kube-controller-manager / kube-scheduler exit when etcd (and so their lease) is gone: the
  // supervisor restarts them, as a kubelet restarts static pods
  supervisor = superviseCluster(cluster.info.name, ["kube-apiserver", "etcd"]);
});

afterAll(async () => {
  supervisor?.stop();
  nodes?.stop();
  pdbs?.stop();
  await demo?.dispose();
  await cluster?.stop();
});

async function upError(d: DemoStack): Promise<string> {
  try {
    await d.stack.up({ onOutput: () => undefined });
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error("pulumi up succeeded, but a failure was injected");
}

test("etcd stopped before the pre-upgrade snapshot: the roll stops with the etcdctl error, no node cordoned", async () => {
  demo = await createDemoStack(cluster, `e2e-faults-etcd-${process.pid}`, {
    maxUnavailable: 1,
    etcdTimeoutSeconds: 5,
  });
  const eventsBefore = nodes.events.length;
  const start = await stopComponent(cluster.info.name, "etcd");
  const t0 = Date.now();
  let message: string;
  try {
    message = await upError(demo);
  } finally {
    start();
  }
  const took = Date.now() - t0;
  process.stderr.write(
    `[e2e-faults] etcd down: pulumi up failed after ${(took / 1000).toFixed(1)}s\n`,
  );
  expect(message).toContain("upgrade-etcd-snapshot");
  expect(message).toMatch(/etcdctl|etcd snapshot/i);
  expect(message).toMatch(/context deadline exceeded|connection refused|DeadlineExceeded/);

  await waitFor(async () => ((await isClusterReady(cluster.info)) ? true : undefined), {
    timeoutMs: 120_000,
    what: "apiserver ready after etcd restart",
  });
  const state = await nodeStates(cluster.kc);
  for (const n of [...cluster.controlPlanes, ...cluster.workers]) {
    expect({ n, ...state[n] }).toEqual({ n, version: CURRENT_VERSION, unschedulable: false });
  }
  expect(nodes.events.slice(eventsBefore).filter((e) => e.kind === "cordon")).toEqual([]);
  await demo.dispose();
  demo = undefined;
});

test("a node whose kubelet never comes back at the target: the ready wait fails with what it last saw, the roll stops, later nodes untouched", async () => {
  demo = await createDemoStack(cluster, `e2e-faults-ready-${process.pid}`, {
    maxUnavailable: 1,
    neverReadyNodes: ["w-2"],
    readyTimeoutSeconds: 8,
    drainRetryIntervalMs: 500,
    etcdSnapshot: false,
  });
  const eventsBefore = nodes.events.length;
  const message = await upError(demo);
  expect(message).toContain("upgrade-w-2-ready");
  expect(message).toContain(
    `node w-2: not Ready at kubelet ${TARGET_VERSION} after 8s (last seen: Ready=True`,
  );
  expect(message).toContain(`kubelet ${CURRENT_VERSION}). The node stays cordoned`);
  const state = await nodeStates(cluster.kc);
  for (const n of [...cluster.controlPlanes, "w-1"]) {
    expect({ n, ...state[n] }).toEqual({ n, version: TARGET_VERSION, unschedulable: false });
  }
  // drained and upgrade command run, never Ready at the target: left cordoned for a look
  expect(state["w-2"]).toEqual({ version: CURRENT_VERSION, unschedulable: true });
  // later in its chain: untouched
  expect(state["w-3"]).toEqual({ version: CURRENT_VERSION, unschedulable: false });
  expect(nodes.events.slice(eventsBefore).filter((e) => e.node === "w-3")).toEqual([]);
  expect(pdbs.violations).toEqual([]);
});
