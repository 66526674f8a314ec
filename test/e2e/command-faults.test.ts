/**
 * e2e: faults while a node's upgrade command runs, through the real engine (kwok nodes, real
 * control plane, real sshd, the stand-in or real pulumi-resource-command). Every node runs the
 * real rendered upgrade script (renderNodeUpgradeScript) over SSH on fake kubeadm node tools
 * (node-tools.ts) that record each step in a log per node; the victim's `kubeadm upgrade node`
 * takes a few seconds, and the fault lands in it.
 *
 *  1. sshd killed (the listener and the session processes) during the victim's upgrade command:
 *     `pulumi up` fails naming the node's command resource, with the provider's "remote command
 *     exited without exit status" and the script's last step; later nodes are untouched; the
 *     script on the node dies at its next write to the lost session. sshd comes back and
 *     `pulumi up` again continues that node: no new drain, the kubeadm package step skipped (the
 *     script sees kubeadm at the target), the interrupted `kubeadm upgrade node` run to its end,
 *     the kubelet upgraded and restarted once.
 *  2. `pulumi up` killed with SIGKILL during the victim's upgrade command, then the recovery of
 *     docs/pulumi.md "Interrupted runs" (stop the orphaned plugins, `pulumi cancel` when locked,
 *     `pulumi refresh --clear-pending-creates`, `pulumi up`): the same outcome.
 *
 * Both check that every node ends at the target and schedulable, no completed step ran twice on
 * any node, nodes done before the fault see no event afterwards, no node keeps kube-upkeep's
 * cordon annotation, and no PodDisruptionBudget floor was crossed. Each prints how long the
 * recovery took.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { CORDONED_BY_ANNOTATION } from "kube-upkeep/core";
import { waitFor } from "../cluster/fixtures";
import { ONCE, writeFakeNodes, type FakeNodes } from "./node-tools";
import { stopProcesses, type Proc } from "./processes";
import {
  clearInterruptedRun,
  killCli,
  pendingOperations,
  pulumiCli,
  resourceOutputs,
  until,
  UP,
  type PulumiCli,
} from "./pulumi-cli";
import {
  CURRENT_VERSION,
  TARGET_VERSION,
  createDemoStack,
  nodeStates,
  type DemoStack,
  type SimulatedCluster,
} from "./simulated-cluster";
import { killSshd, restartSshd, type SshdProcess } from "./sshd-faults";
import { type NodeTimeline, type PdbWatcher, startWatchedCluster } from "./watchers";

jest.setTimeout(600_000);

const WORKERS = 2;
/** The node whose upgrade command the faults hit (maxUnavailable 1: cp-1..3, then w-1, w-2). */
const VICTIM = "w-1";
/** The node after it, untouched by the failed run. */
const LATER = "w-2";
/** How long the victim's `kubeadm upgrade node` takes (the window for the fault). */
const SLOW_SECONDS = 4;

let cluster: SimulatedCluster;
let nodes: NodeTimeline;
let pdbs: PdbWatcher;
let demo: DemoStack | undefined;
let tmp: string;
/** sshd as restarted by the first test (the original one is killed). */
let sshd: SshdProcess | undefined;
const orphans: Proc[] = [];

beforeAll(async () => {
  ({ cluster, nodes, pdbs } = await startWatchedCluster(
    `ku-e2e-cmd-${process.pid}`,
    WORKERS,
    "e2e-cmd",
  ));
  tmp = mkdtempSync(join(tmpdir(), "ku-e2e-cmd-"));
});

afterAll(async () => {
  stopProcesses(orphans);
  nodes?.stop();
  pdbs?.stop();
  await demo?.dispose();
  await sshd?.stop();
  await cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const all = () => [...cluster.controlPlanes, ...cluster.workers];
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Fresh fake nodes at CURRENT_VERSION, the API's kubelet versions too; a stack using them. */
async function freshRoll(stackName: string): Promise<FakeNodes> {
  const core = cluster.kc.makeApiClient(CoreV1Api);
  for (const name of all()) {
    await core.patchNodeStatus(
      {
        name,
        body: {
          status: {
            nodeInfo: { kubeletVersion: CURRENT_VERSION, kubeProxyVersion: CURRENT_VERSION },
          },
        },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  }
  await waitFor(
    async () =>
      Object.values(await nodeStates(cluster.kc)).every((s) => s.version === CURRENT_VERSION),
    { what: `every node back at ${CURRENT_VERSION}` },
  );
  const fake = writeFakeNodes(join(tmp, stackName), all(), {
    version: CURRENT_VERSION,
    kubeconfigPath: cluster.info.kubeconfigPath,
    slow: { [VICTIM]: SLOW_SECONDS },
  });
  await demo?.dispose();
  demo = await createDemoStack(cluster, stackName, {
    maxUnavailable: 1,
    etcdSnapshot: false,
    drainRetryIntervalMs: 500,
    readyTimeoutSeconds: 60,
    nodeTools: fake.dir,
  });
  return fake;
}

/** Resolves once the victim's `kubeadm upgrade node` has started (its tools log says so). */
function victimInKubeadmUpgrade(fake: FakeNodes): () => true | undefined {
  return () => (fake.steps(VICTIM).kubeadmUpgradeStarted > 0 ? true : undefined);
}

/**
 * The script cut off from its session dies at its next write (the victim's kubeadm prints after
 * its pause): wait for that, then check it got no further than the step the fault hit.
 */
async function expectVictimStoppedInKubeadmUpgrade(fake: FakeNodes): Promise<void> {
  await waitFor(() => !fake.busy(VICTIM), {
    timeoutMs: (SLOW_SECONDS + 10) * 1000,
    what: `the cut-off upgrade script on ${VICTIM} to end`,
  });
  expect(fake.steps(VICTIM)).toEqual({
    kubeadmPackage: 1,
    kubeadmUpgradeStarted: 1,
    kubeadmUpgradeDone: 0,
    kubeletPackage: 0,
    kubeletRestart: 0,
  });
  const state = await nodeStates(cluster.kc);
  expect(state[VICTIM]).toEqual({ version: CURRENT_VERSION, unschedulable: true });
  expect(state[LATER]).toEqual({ version: CURRENT_VERSION, unschedulable: false });
}

/** After the recovery: the roll is complete, and no completed step ran twice anywhere. */
async function expectRollCompletedOnce(
  cli: PulumiCli,
  fake: FakeNodes,
  eventsAtFault: number,
  doneBefore: string[],
): Promise<void> {
  const state = await nodeStates(cluster.kc);
  for (const n of all())
    expect({ n, ...state[n] }).toEqual({ n, version: TARGET_VERSION, unschedulable: false });
  // what the re-run's script said on the victim (the command's stderr in the state)
  const said = String((await resourceOutputs(cli, `upgrade-${VICTIM}-upgrade`))?.stderr ?? "");
  process.stderr.write(`[e2e-cmd] ${VICTIM}'s upgrade script in the re-run:\n${said}\n`);
  expect(said).toContain(`kube-upkeep: kubeadm already at ${TARGET_VERSION}`);
  expect(said).toContain(`kube-upkeep: node upgraded to ${TARGET_VERSION}`);
  for (const n of all()) {
    // the victim's interrupted `kubeadm upgrade node` ran again (to its end); nothing else did
    const expected =
      n === VICTIM ? { ...ONCE, kubeadmUpgradeStarted: 2, kubeadmUpgradeDone: 1 } : ONCE;
    expect({ n, steps: fake.steps(n) }).toEqual({ n, steps: expected });
  }
  const after = nodes.events.slice(eventsAtFault);
  for (const n of doneBefore)
    expect({ n, events: after.filter((e) => e.node === n) }).toEqual({ n, events: [] });
  // the victim was drained once: the re-run did not drain it again, it went on from the command
  expect(after.filter((e) => e.node === VICTIM).map((e) => e.kind)).toEqual([
    "version",
    "uncordon",
  ]);
  const listed = await cluster.kc.makeApiClient(CoreV1Api).listNode();
  for (const node of listed.items)
    expect({
      n: node.metadata?.name,
      cordonedBy: node.metadata?.annotations?.[CORDONED_BY_ANNOTATION],
    }).toEqual({ n: node.metadata?.name, cordonedBy: undefined });
  expect(pdbs.violations).toEqual([]);
}

/** Nodes uncordoned (done) since event index `from`. */
function uncordonedSince(from: number): string[] {
  return [
    ...new Set(
      nodes.events
        .slice(from)
        .filter((e) => e.kind === "uncordon")
        .map((e) => e.node),
    ),
  ];
}

test("sshd killed during a node's upgrade command: a clear error naming the node and the step; with sshd back, pulumi up continues that node and runs no completed step twice", async () => {
  const fake = await freshRoll(`e2e-cmd-ssh-${process.pid}`);
  const cli = pulumiCli(demo!, `e2e-cmd-ssh-${process.pid}`);
  const eventsAtStart = nodes.events.length;

  const first = cli.run(UP);
  const t0 = Date.now();
  await until(victimInKubeadmUpgrade(fake), first, 300_000, `${VICTIM}'s kubeadm upgrade`);
  const killed = await killSshd({ pid: cluster.sshd.pid });
  const tCut = Date.now();
  const eventsAtFault = nodes.events.length;
  const { code } = await first.exit;
  const tFailed = Date.now();
  process.stderr.write(
    `[e2e-cmd] sshd killed ${secs(tCut - t0)} into the run (listener + ${killed.sessions} session(s)); pulumi up exited ${code} ${secs(tFailed - tCut)} later\n`,
  );
  expect(code).not.toBe(0);
  const failure = first.output.split("\n").filter((l) => /error|kube-upkeep: /.test(l));
  process.stderr.write(`[e2e-cmd] what pulumi up said:\n${failure.join("\n")}\n`);
  // the node and the step: the command resource of w-2, the lost session, the script's last step
  expect(first.output).toMatch(
    new RegExp(
      `command:remote:Command \\(upgrade-${VICTIM}-upgrade\\):\\s+error: wait: remote command exited without exit status or exit signal`,
    ),
  );
  expect(first.output).toContain("kube-upkeep: kubeadm upgrade node");
  await expectVictimStoppedInKubeadmUpgrade(fake);
  const doneBefore = uncordonedSince(eventsAtStart);
  expect(doneBefore.sort()).toEqual([...cluster.controlPlanes].sort());

  // sshd back (same port and host key), and the same command again
  sshd = await restartSshd(cluster.sshd);
  const tBack = Date.now();
  await cli.ok(UP);
  const tDone = Date.now();
  process.stderr.write(
    `[e2e-cmd] recovery: sshd back ${secs(tBack - tCut)} after the cut, the re-run took ${secs(tDone - tBack)} (${secs(tDone - tCut)} from the cut to a finished roll)\n`,
  );
  await expectRollCompletedOnce(cli, fake, eventsAtFault, doneBefore);
});

test("kill -9 of pulumi up during a node's upgrade command; the documented recovery finishes the roll, no node upgraded twice, none left cordoned", async () => {
  const stackName = `e2e-cmd-kill-${process.pid}`;
  const fake = await freshRoll(stackName);
  const cli = pulumiCli(demo!, stackName);
  const eventsAtStart = nodes.events.length;

  const first = cli.run(UP);
  const t0 = Date.now();
  await until(victimInKubeadmUpgrade(fake), first, 300_000, `${VICTIM}'s kubeadm upgrade`);
  const plugins = await killCli(first);
  const tKill = Date.now();
  const eventsAtFault = nodes.events.length;
  orphans.push(...plugins);
  // 1. of the recovery: the plugins outlive the CLI; stopping them ends the command's SSH session
  stopProcesses(plugins);
  process.stderr.write(
    `[e2e-cmd] killed pulumi up ${secs(tKill - t0)} into the run, during ${VICTIM}'s kubeadm upgrade; stopped ${plugins.length} plugin process(es)\n`,
  );
  await expectVictimStoppedInKubeadmUpgrade(fake);
  const pending = await pendingOperations(cli);
  process.stderr.write(`[e2e-cmd] pending operations after the kill: ${pending.join(", ")}\n`);
  expect(pending).toContain(`creating upgrade-${VICTIM}-upgrade`);
  const doneBefore = uncordonedSince(eventsAtStart);
  expect(doneBefore.sort()).toEqual([...cluster.controlPlanes].sort());

  // 3. of the recovery: the dead run's lock and pending creates, then the rest of the roll
  const { cancelled } = await clearInterruptedRun(cli);
  expect(await pendingOperations(cli)).toEqual([]);
  const tCleared = Date.now();
  await cli.ok(UP);
  const tDone = Date.now();
  process.stderr.write(
    `[e2e-cmd] recovery: ${cancelled ? "pulumi cancel + " : ""}refresh --clear-pending-creates ${secs(tCleared - tKill)} after the kill (incl. the wait for the cut-off script), pulumi up ${secs(tDone - tCleared)}; ${secs(tDone - tKill)} from the kill to a finished roll\n`,
  );
  await expectRollCompletedOnce(cli, fake, eventsAtFault, doneBefore);
});
