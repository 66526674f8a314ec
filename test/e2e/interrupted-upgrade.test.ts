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
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, PolicyV1Api } from "@kubernetes/client-node";
import { CORDONED_BY_ANNOTATION } from "kube-upkeep/core";
import { pidAlive, REPO_ROOT } from "../cluster/cluster";
import { createDeployment, createPdb, waitForReadyPods } from "../cluster/fixtures";
import {
  createDemoStack,
  CURRENT_VERSION,
  nodeStates,
  TARGET_VERSION,
  type DemoStack,
  type SimulatedCluster,
} from "./simulated-cluster";
import {
  startWatchedCluster,
  type NodeEvent,
  type NodeTimeline,
  type PdbWatcher,
} from "./watchers";

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

afterAll(async () => {
  stopProcesses(orphans); // in case the test failed before it stopped them
  nodes?.stop();
  pdbs?.stop();
  await demo?.dispose();
  await cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Proc {
  readonly pid: number;
  readonly pgid: number;
  readonly args: string;
}

/** Plugin processes the killed CLI left behind. */
const orphans: Proc[] = [];

/** Every process below `pid` (children, grandchildren, ...), from /proc. */
function descendants(pid: number): Proc[] {
  const procs = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ")"
        const [, ppid, pgid] = stat
          .slice(stat.lastIndexOf(")") + 2)
          .split(" ")
          .map(Number);
        return [{ pid: Number(d), ppid, pgid, args: cmdline(Number(d)) }];
      } catch {
        return []; // exited meanwhile
      }
    });
  const out: Proc[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of procs.filter((q) => q.ppid === parent)) {
      out.push({ pid: p.pid, pgid: p.pgid, args: p.args });
      queue.push(p.pid);
    }
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/**
 * SIGKILL to each process's group when it has one of its own (Pulumi's plugins do), else to the
 * process; only while /proc still shows the same command line (a pid is not reused meanwhile).
 */
function stopProcesses(procs: readonly Proc[]): void {
  const ownGroup = Number(
    readFileSync(`/proc/${process.pid}/stat`, "utf8").split(") ")[1].split(" ")[2],
  );
  for (const p of procs) {
    if (cmdline(p.pid) !== p.args) continue;
    try {
      process.kill(p.pgid !== ownGroup && p.pgid > 1 ? -p.pgid : p.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}

interface Run {
  readonly child: ChildProcess;
  output: string;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the cached `pulumi` CLI on the demo stack. */
function pulumi(args: string[]): Run {
  const child = spawn(join(demo!.engine.bin, "pulumi"), [...args, "--stack", stackName], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...demo!.envVars },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run: Run = {
    child,
    output: "",
    exit: new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal }))),
  };
  child.stdout!.on("data", (b: Buffer) => (run.output += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (run.output += b.toString()));
  return run;
}

/** Runs `pulumi args` to the end; throws with its output when it fails. */
async function pulumiOk(args: string[]): Promise<string> {
  const run = pulumi(args);
  const { code, signal } = await run.exit;
  if (code !== 0)
    throw new Error(`pulumi ${args.join(" ")} exited ${code ?? signal}:\n${run.output}`);
  return run.output;
}

/** Resolves with the n-th recorded event matching `pred`; rejects when `run` exits first. */
async function nthEvent(
  pred: (e: NodeEvent) => boolean,
  n: number,
  run: Run,
  timeoutMs = 300_000,
): Promise<NodeEvent> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void run.exit.then(() => (exited = true));
  for (;;) {
    const hits = nodes.events.filter(pred);
    if (hits.length >= n) return hits[n - 1];
    if (exited) throw new Error(`pulumi up ended before event #${n}:\n${run.output}`);
    if (Date.now() > deadline) throw new Error(`no event #${n} in ${timeoutMs} ms:\n${run.output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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

  // 1. the first run, killed while the victim's drain waits for the hold PDB
  const first = pulumi(["up", "--yes", "--skip-preview", "--non-interactive"]);
  const started = Date.now();
  const cordon = await nthEvent((e) => e.kind === "cordon" && e.node === victim, 1, first);
  await new Promise((r) => setTimeout(r, 2000)); // a few 429 retries (every 500 ms)
  const plugins = descendants(first.child.pid!);
  orphans.push(...plugins);
  process.kill(first.child.pid!, "SIGKILL");
  const killed = await first.exit;
  expect(killed.signal).toBe("SIGKILL");
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
  const exported = JSON.parse(await pulumiOk(["stack", "export"])) as {
    deployment: { pending_operations?: { type: string; resource: { urn: string } }[] };
  };
  const pending = (exported.deployment.pending_operations ?? []).map(
    (p) => `${p.type} ${p.resource.urn.split("::").pop()}`,
  );
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
  const refresh = pulumi([
    "refresh",
    "--clear-pending-creates",
    "--yes",
    "--skip-preview",
    "--non-interactive",
  ]);
  let r = await refresh.exit;
  let refreshOutput = refresh.output;
  if (r.code !== 0 && /locked/i.test(refresh.output)) {
    process.stderr.write(`[e2e-kill] stack locked by the killed run: pulumi cancel\n`);
    await pulumiOk(["cancel", "--yes", "--non-interactive"]);
    const again = pulumi([
      "refresh",
      "--clear-pending-creates",
      "--yes",
      "--skip-preview",
      "--non-interactive",
    ]);
    r = await again.exit;
    refreshOutput = again.output;
  }
  if (r.code !== 0) throw new Error(`pulumi refresh failed:\n${refreshOutput}`);
  const afterRefresh = JSON.parse(await pulumiOk(["stack", "export"])) as {
    deployment: { pending_operations?: unknown[] };
  };
  expect(afterRefresh.deployment.pending_operations ?? []).toEqual([]);

  // 3. the second run completes the roll
  const eventsBefore = nodes.events.length;
  const second = await pulumiOk(["up", "--yes", "--skip-preview", "--non-interactive"]);
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
