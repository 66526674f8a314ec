/**
 * e2e of the live roll through the real Pulumi engine (the demo program, a simulated 3
 * control-plane + 3 worker cluster): `pulumi preview` reads the cluster (a stale declared
 * version fails naming each node; a good one plans from the cluster), a failing health gate
 * stops the roll before the next node, a node upgraded out of band meanwhile is up to date and
 * never drained, the re-run passes the gate and rolls the rest, a further `pulumi up` changes
 * nothing; every upgraded node carries the steps' Events (kube-upkeep) and the
 * kube-upkeep.io/upgrade annotation.
 *
 * The health check is an HTTP check against a server of this test: it answers 200 to the first
 * three requests (the control-plane nodes' gates) and 503 after them until the test "fixes" it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { UPGRADE_ANNOTATION, parseUpgradeProgress } from "../../lib/core/progress/annotation";
import { binaries } from "../cluster/cluster";
import { startWatchedCluster, type NodeTimeline, type PdbWatcher } from "./watchers";
import {
  createDemoStack,
  CURRENT_VERSION,
  nodeStates,
  TARGET_VERSION,
  type DemoStack,
  type SimulatedCluster,
} from "./simulated-cluster";

jest.setTimeout(1_200_000);
const run = promisify(execFile);

let cluster: SimulatedCluster;
let demo: DemoStack | undefined;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;
let server: Server;
let url = "";
let requests = 0;
let fixed = false;

beforeAll(async () => {
  ({ cluster, nodes, pdbs } = await startWatchedCluster(`ku-live-${process.pid}`, 3, "live"));
  server = createServer((_req, res) => {
    requests++;
    if (fixed || requests <= 3) res.writeHead(200).end("ok");
    else res.writeHead(503).end("checkout down");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
});
afterAll(async () => {
  server?.close();
  nodes?.stop();
  pdbs?.stop();
  await demo?.dispose();
  await cluster?.stop();
});

async function kubeUpkeepEvents(node: string): Promise<string[]> {
  const list = await cluster.kc.makeApiClient(CoreV1Api).listNamespacedEvent({
    namespace: "default",
    fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node}`,
  });
  return list.items
    .filter((e) => e.reportingComponent === "kube-upkeep")
    .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))
    .map((e) => e.reason ?? "");
}

async function progressOf(node: string) {
  const n = await cluster.kc.makeApiClient(CoreV1Api).readNode({ name: node });
  return parseUpgradeProgress(n.metadata?.annotations?.[UPGRADE_ANNOTATION]);
}

test("preview reads the cluster: a stale declared version fails naming each node; the right one plans from the cluster", async () => {
  demo = await createDemoStack(cluster, `live-${process.pid}`, {
    maxUnavailable: 1,
    currentVersion: "v1.34.2",
    drainRetryIntervalMs: 500,
    healthChecks: [{ kind: "http", name: "checkout", url, timeoutSeconds: 6, intervalSeconds: 1 }],
  });
  const stale = await demo.stack.preview({ onOutput: () => undefined }).then(
    () => "",
    (e: Error) => e.message,
  );
  for (const n of [...cluster.controlPlanes, ...cluster.workers])
    expect(stale).toContain(
      `invalid currentVersion "v1.34.2": declared v1.34.2, but node ${n} runs kubelet ${CURRENT_VERSION} (read from the cluster)`,
    );
  expect(nodes.events).toEqual([]);

  await demo.stack.setConfig("currentVersion", { value: CURRENT_VERSION });
  let out = "";
  await demo.stack.preview({ onOutput: (l) => (out += l) });
  expect(out).toContain("Versions from the cluster (read now: ");
  expect(out).toMatch(/cp-1 +control-plane +v1\.34\.4 +v1\.35\.4 +kubeadm upgrade apply v1\.35\.4/);
  expect(out).toContain("kube-system/kubeadm-config not found (not a kubeadm cluster?)");
  expect(nodes.events).toEqual([]);
});

test("a failing health gate stops the roll before the next node; Events and the annotation show where it stopped", async () => {
  expect(demo).toBeDefined();
  const message = await demo!.stack.up({ onOutput: () => undefined }).then(
    () => "",
    (e: Error) => e.message,
  );
  process.stderr.write(`[live] failing gate:\n${message.slice(message.indexOf("Diagnostics:"))}\n`);
  expect(message).toContain("health gate after node w-1 failed: 1 of 1 check(s) did not pass");
  expect(message).toContain("checkout: did not pass within 6 s");
  expect(message).toContain("HTTP 503: checkout down (expected 200)");
  // the roll stopped at w-1: upgraded and uncordoned; w-2 and w-3 never touched
  const state = await nodeStates(cluster.kc);
  for (const n of [...cluster.controlPlanes, "w-1"])
    expect({ n, ...state[n] }).toEqual({ n, version: TARGET_VERSION, unschedulable: false });
  for (const n of ["w-2", "w-3"]) {
    expect({ n, ...state[n] }).toEqual({ n, version: CURRENT_VERSION, unschedulable: false });
    expect(nodes.of(n, "cordon")).toEqual([]);
  }
  expect(await kubeUpkeepEvents("cp-1")).toEqual([
    "Cordoned",
    "Drained",
    "UpgradeStarted",
    "Upgraded",
    "Uncordoned",
    "HealthGatePassed",
  ]);
  expect((await kubeUpkeepEvents("w-1")).slice(-2)).toEqual(["Uncordoned", "Failed"]);
  expect(await kubeUpkeepEvents("w-2")).toEqual([]);
  expect(await progressOf("cp-1")).toMatchObject({
    runId: `upgrade@${TARGET_VERSION}`,
    target: TARGET_VERSION,
    from: CURRENT_VERSION,
    mode: "apply",
    step: "healthy",
  });
  expect(await progressOf("w-1")).toMatchObject({ mode: "node", step: "uncordoned" });
  expect(await progressOf("w-2")).toBeUndefined();
  const { stdout } = await run(binaries().kubectl, [
    "--kubeconfig",
    cluster.info.kubeconfigPath,
    "describe",
    "node",
    "w-1",
  ]);
  process.stderr.write(
    `[live] kubectl describe node w-1:\n${stdout.slice(stdout.indexOf("Events:"))}\n`,
  );
  expect(stdout).toMatch(
    /Warning +Failed +\S+ +kube-upkeep +health gate failed: health gate after node w-1 failed/,
  );
});

test("re-run: a node upgraded out of band is up to date and not drained; the gate passes and the rest rolls; then nothing changes", async () => {
  expect(demo).toBeDefined();
  // w-3 is upgraded by someone else meanwhile
  await cluster.kc
    .makeApiClient(CoreV1Api)
    .patchNodeStatus(
      { name: "w-3", body: { status: { nodeInfo: { kubeletVersion: TARGET_VERSION } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  fixed = true;
  // the watcher has seen that change: what follows is the roll's
  for (let i = 0; i < 100 && nodes.of("w-3", "version").length === 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  expect(nodes.of("w-3", "version").map((e) => e.version)).toEqual([TARGET_VERSION]);
  const before = nodes.events.length;
  let out = "";
  const up = await demo!.stack.up({ onOutput: (l) => (out += l) });
  expect(up.summary.result).toBe("succeeded");
  expect(out).toMatch(/w-3 +worker +v1\.35\.4 +v1\.35\.4 +up to date: not drained/);
  expect(out).toMatch(
    /w-1 +worker +v1\.35\.4 +v1\.35\.4 +kubeadm upgrade node \(done by this run\)/,
  );
  const after = nodes.events.slice(before);
  expect(after.filter((e) => e.node === "w-2").map((e) => e.kind)).toEqual([
    "cordon",
    "version",
    "uncordon",
  ]);
  expect(after.filter((e) => e.node !== "w-2")).toEqual([]);
  const gates = up.outputs.healthGates.value as Record<string, string[]>;
  expect(Object.keys(gates).sort()).toEqual(["cp-1", "cp-2", "cp-3", "w-1", "w-2"]);
  expect(gates["w-1"]).toEqual(["checkout: HTTP 200: ok"]);
  for (const n of [...cluster.controlPlanes, "w-1", "w-2"])
    expect({ n, step: (await progressOf(n))?.step }).toEqual({ n, step: "healthy" });
  expect(await progressOf("w-3")).toBeUndefined();
  expect(await kubeUpkeepEvents("w-3")).toEqual([]);
  expect(await kubeUpkeepEvents("w-2")).toEqual([
    "Cordoned",
    "Drained",
    "UpgradeStarted",
    "Upgraded",
    "Uncordoned",
    "HealthGatePassed",
  ]);

  // the same cluster reads back as the same plan: nothing changes
  const again = await demo!.stack.up({ onOutput: () => undefined });
  const changes = { ...again.summary.resourceChanges };
  delete changes.same;
  expect(changes).toEqual({});
  expect(nodes.events.length).toBe(before + 3);
  expect(pdbs.violations).toEqual([]);
});
