/**
 * e2e: `pulumi up` killed with SIGKILL in the middle of a node's drain, then recovered the way
 * Pulumi documents for interrupted updates (docs/pulumi.md "Interrupted runs"):
 *
 *   pulumi cancel (only when the backend still holds the dead run's lock)
 *   pulumi refresh --clear-pending-creates
 *   pulumi up
 *
 * The `pulumi` CLI is run as a user runs it, and only that process gets SIGKILL. Its plugins (the
 * language host, the dynamic-provider host running the drain, the command provider) run in
 * process groups of their own and survive as orphans, still working; like docs/pulumi.md says,
 * the test stops them (their process groups) before the recovery.
 *
 * The victim is w-4, the second node of the second worker chain (maxUnavailable 2: chains
 * w-1/w-3/w-5 and w-2/w-4), so control-plane nodes and w-2 are done before it. A one-replica
 * Deployment pinned to it, with a PDB allowing no disruption, holds its drain (HTTP 429, retried)
 * until the test deletes that PDB after the kill: the kill lands inside the drain every time.
 *
 * The test records on its own: node transitions (watch), every simulated upgrade that took
 * effect (a log file the command appends to over SSH, after the status patch), PDB-covered
 * ready pods (watch).
 *
 * Checks: the kill landed during the victim's drain (cordoned, not upgraded, its NodeDrain a
 * pending create in the state); after recovery every node is at the target and schedulable; each
 * node's upgrade took effect exactly once; the nodes done before the kill see no event; the
 * second drain took over the first one's cordon; no node keeps kube-upkeep's cordon annotation;
 * no moment with fewer ready pods than a PDB allows.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, PolicyV1Api } from "@kubernetes/client-node";
import { CORDONED_BY_ANNOTATION } from "kube-upkeep/core";
import { pidAlive } from "../cluster/cluster";
import { createDeployment, createPdb, waitForReadyPods } from "../cluster/fixtures";
import {
  createDemoStack,
  CURRENT_VERSION,
  nodeStates,
  TARGET_VERSION,
  type DemoStack,
  type SimulatedCluster,
} from "./simulated-cluster";
import { stopProcesses, type Proc } from "./processes";
import {
  clearInterruptedRun,
  killCli,
  nthEvent,
  pendingOperations,
  pulumiCli,
  UP,
  type PulumiCli,
} from "./pulumi-cli";
import { startWatchedCluster, type NodeTimeline, type PdbWatcher } from "./watchers";

jest.setTimeout(900_000);

const WORKERS = 5;
const MAX_UNAVAILABLE = 2;
/** The node whose drain is killed (see the file comment). */
const VICTIM = "w-4";
/** The Deployment + PDB that hold the victim's drain until the test lets it go. */
const HOLD = "hold";

let cluster: SimulatedCluster;
let demo: DemoStack | undefined;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;
let tmp: string;
const stackName = `e2e-kill-${process.pid}`;

beforeAll(async () => {
  // throws with the build / install command for anything missing
  ({ cluster, nodes, pdbs } = await startWatchedCluster(
    `ku-e2e-kill-${process.pid}`,
    WORKERS,
    "e2e-kill",
  ));
  await createDeployment(cluster.kc, cluster.namespace, {
    name: HOLD,
    replicas: 1,
    nodeNames: [VICTIM],
  });
  await createPdb(cluster.kc, cluster.namespace, {
    name: HOLD,
    selector: { app: HOLD },
    minAvailable: 1,
  });
  await waitForReadyPods(cluster.kc, cluster.namespace, { app: HOLD }, 1);
  tmp = mkdtempSync(join(tmpdir(), "ku-e2e-kill-"));
});

/** Plugin processes the killed CLI left behind. */
const orphans: Proc[] = [];

afterAll(async () => {
  stopProcesses(orphans); // in case the test failed before it stopped them
  nodes?.stop();
  pdbs?.stop();
  await demo?.dispose();
  await cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** "<node> <from> <target>" lines the simulated upgrade command appended (one per real upgrade). */
function upgrades(log: string): string[] {
  return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
}

test("kill -9 of pulumi up during a drain; refresh --clear-pending-creates + up completes the roll, no node upgraded twice", async () => {
  const upgradeLog = join(tmp, "upgrades.log");
  demo = await createDemoStack(cluster, stackName, {
    maxUnavailable: MAX_UNAVAILABLE,
    simulatedUpgradeSeconds: 1,
    drainRetryIntervalMs: 500,
    // the hold PDB (minAvailable 1 of 1) can never allow: wait in it instead of failing at once
    drainWaitForBlockedPdbs: true,
    upgradeLog,
  });
  const all = [...cluster.controlPlanes, ...cluster.workers];
  const victim = VICTIM;
  const cli: PulumiCli = pulumiCli(demo, stackName);

  // 1. the first run, killed while the victim's drain waits for the hold PDB
  const first = cli.run(UP);
  const started = Date.now();
  const cordon = await nthEvent(nodes, (e) => e.kind === "cordon" && e.node === victim, 1, first);
  await new Promise((r) => setTimeout(r, 2000)); // a few 429 retries (every 500 ms)
  const plugins = await killCli(first);
  orphans.push(...plugins);
  process.stderr.write(
    `[e2e-kill] killed pulumi up (pid ${first.child.pid}) ${Date.now() - cordon.t} ms after ${victim} was cordoned, ${((Date.now() - started) / 1000).toFixed(1)} s into the run\n`,
  );
  const alive = plugins.filter((p) => pidAlive(p.pid));
  process.stderr.write(
    `[e2e-kill] plugin processes still running after the kill: ${alive.length}/${plugins.length}\n${alive.map((p) => `  ${p.pid} (group ${p.pgid}) ${p.args}`).join("\n")}\n`,
  );
  // they keep working for the dead run: stop them before recovering (docs/pulumi.md)
  stopProcesses(plugins);

  // the kill landed inside the victim's drain: cordoned, not upgraded, the drain pending in the state
  const atKill = await nodeStates(cluster.kc);
  expect(atKill[victim]).toEqual({ version: CURRENT_VERSION, unschedulable: true });
  expect(upgrades(upgradeLog).filter((l) => l.startsWith(`${victim} `))).toEqual([]);
  const pending = await pendingOperations(cli);
  process.stderr.write(`[e2e-kill] pending operations after the kill: ${pending.join(", ")}\n`);
  expect(pending).toContain(`creating upgrade-${victim}-drain`);
  // nodes fully done (uncordoned) before the kill: all control-plane nodes, at least one worker
  const doneBefore = [
    ...new Set(nodes.events.filter((e) => e.kind === "uncordon").map((e) => e.node)),
  ];
  expect(doneBefore).toEqual(expect.arrayContaining(cluster.controlPlanes));
  expect(doneBefore).toEqual(expect.arrayContaining(["w-2"]));
  // the first run's drain of the victim is still waiting: let it go for the second run
  await cluster.kc
    .makeApiClient(PolicyV1Api)
    .deleteNamespacedPodDisruptionBudget({ name: HOLD, namespace: cluster.namespace });

  // 2. recover as Pulumi documents: the lock of the dead run (if the backend kept one), then
  //    refresh dropping the pending creates (kube-upkeep's resources are safe to create again:
  //    the drain takes over its own run's cordon, the upgrade skips a node at the target)
  if ((await clearInterruptedRun(cli)).cancelled)
    process.stderr.write(`[e2e-kill] stack locked by the killed run: pulumi cancel\n`);
  expect(await pendingOperations(cli)).toEqual([]);

  // 3. the second run completes the roll
  const eventsBefore = nodes.events.length;
  const second = await cli.ok(UP);
  // what the second run said about the interrupted nodes (the drain taking over its cordon, the
  // upgrade command skipping a node already at the target)
  const notes = second.split("\n").filter((l) => /already (cordoned|at)/.test(l));
  process.stderr.write(`[e2e-kill] second pulumi up:\n${notes.join("\n")}\n`);
  expect(second).toContain(`NodeDrain ${victim}: node/${victim} already cordoned`);

  const state = await nodeStates(cluster.kc);
  for (const n of all)
    expect({ n, ...state[n] }).toEqual({ n, version: TARGET_VERSION, unschedulable: false });

  // no node upgraded twice: one upgrade per node in the command's own log, one version change
  // per node on the API
  const lines = upgrades(upgradeLog);
  for (const n of all) {
    expect({ n, upgrades: lines.filter((l) => l.startsWith(`${n} `)) }).toEqual({
      n,
      upgrades: [`${n} ${CURRENT_VERSION} ${TARGET_VERSION}`],
    });
    expect({ n, versions: nodes.of(n, "version").map((e) => e.version) }).toEqual({
      n,
      versions: [TARGET_VERSION],
    });
  }
  // nodes finished before the kill were left alone by the second run
  const secondRun = nodes.events.slice(eventsBefore);
  for (const n of doneBefore)
    expect({ n, events: secondRun.filter((e) => e.node === n) }).toEqual({ n, events: [] });
  // the victim: cordoned once (the second run took the first run's cordon over), uncordoned once
  expect(nodes.of(victim, "cordon")).toHaveLength(1);
  expect(nodes.of(victim, "uncordon")).toHaveLength(1);

  // none left cordoned by kube-upkeep
  const listed = await cluster.kc.makeApiClient(CoreV1Api).listNode();
  for (const node of listed.items) {
    expect({
      n: node.metadata?.name,
      cordonedBy: node.metadata?.annotations?.[CORDONED_BY_ANNOTATION],
    }).toEqual({ n: node.metadata?.name, cordonedBy: undefined });
  }
  expect(pdbs.violations).toEqual([]);
});
