/**
 * `npm run demo [-- --workers N] [--max-unavailable K] [--report-dir DIR] [--keep]`: a rolling upgrade of a simulated
 * cluster with kube-upkeep's ClusterUpgrade, through the real Pulumi engine. See docs/demo.md.
 *
 *  1. builds what is missing (control-plane binaries, the Pulumi engine, dist-lib)
 *  2. starts a local control plane (kwokctl, real etcd/apiserver/scheduler/controller-manager),
 *     3 control-plane + N kwok worker nodes at v1.34.4, Deployments spread over the workers with
 *     PodDisruptionBudgets, and sshd on 127.0.0.1
 *  3. `pulumi preview` (prints the plan), then `pulumi up` (v1.34.4 -> v1.35.4) with its progress
 *  4. prints a summary (versions before/after, duration, evictions, PDB retries) and the path of
 *     the roll report (report.html: a timeline of the roll; kept after the teardown)
 *  5. tears everything down, also on failure or Ctrl-C (--keep leaves the cluster running)
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { realNodesDemo } from "./demo-real-nodes";
import { latestRunDir, REPORT_FILES } from "../lib/core/report/store";
import { buildMissing, missingBinaries, REPO_ROOT } from "../test/cluster/cluster";
import { missingSshBinaries, SSHD_HOWTO } from "../test/cluster/sshd";
import { ENGINE_BIN, missingEngineBinaries } from "../test/integration/engine/pulumi-engine";
import {
  buildLibrary,
  createDemoStack,
  CURRENT_VERSION,
  DEMO_ENGINE_BINARIES,
  nodeStates,
  startSimulatedCluster,
  TARGET_VERSION,
  type DemoStack,
  type SimulatedCluster,
} from "../test/e2e/simulated-cluster";

interface Args {
  workers: number;
  maxUnavailable: string;
  keep: boolean;
  reportDir: string;
  realNodes: boolean;
}

function usage(): never {
  process.stderr.write(
    "usage: npm run demo -- [--workers N (default 6)] [--max-unavailable K|P% (default 1)] [--report-dir DIR] [--keep]\n" +
      "       npm run demo -- --real-nodes [--keep]   (real kubeadm nodes: docs/real-nodes.md)\n",
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    workers: 6,
    maxUnavailable: "1",
    keep: false,
    reportDir: join(tmpdir(), "kube-upkeep-demo-reports"),
    realNodes: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split("=", 2);
    const value = () => inline ?? argv[++i] ?? usage();
    if (flag === "--workers") a.workers = Number(value());
    else if (flag === "--max-unavailable") a.maxUnavailable = value();
    else if (flag === "--keep") a.keep = true;
    else if (flag === "--real-nodes") a.realNodes = true;
    else if (flag === "--report-dir") a.reportDir = resolve(value());
    else usage();
  }
  if (!Number.isInteger(a.workers) || a.workers < 1 || a.workers > 500) {
    process.stderr.write(`--workers must be an integer 1..500, got ${a.workers}\n`);
    usage();
  }
  if (!/^(\d+|\d+%)$/.test(a.maxUnavailable)) {
    process.stderr.write(
      `--max-unavailable must be a count or a percentage, got ${a.maxUnavailable}\n`,
    );
    usage();
  }
  return a;
}

const t0 = Date.now();
const stamp = () => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`;
const say = (line: string) => process.stdout.write(`${stamp()} ${line}\n`);

async function ensureBuilt(): Promise<void> {
  if (missingSshBinaries().length > 0) {
    throw new Error(`sshd / ssh-keygen not found: ${SSHD_HOWTO}`);
  }
  if (missingBinaries().length > 0) {
    say("building the missing control-plane binaries (npm run cluster:build; cold: ~25 min)");
    await buildMissing("inherit");
  }
  const engineBin = ENGINE_BIN;
  if (missingEngineBinaries(engineBin, DEMO_ENGINE_BINARIES).length > 0) {
    say("building the missing Pulumi engine binaries (bash test/cluster/build-pulumi.sh)");
    const r = spawnSync("bash", [join(REPO_ROOT, "test/cluster/build-pulumi.sh")], {
      stdio: "inherit",
    });
    const still = missingEngineBinaries(engineBin, DEMO_ENGINE_BINARIES);
    if (still.length > 0) {
      throw new Error(
        `the Pulumi engine is incomplete after test/cluster/build-pulumi.sh (exit ${r.status}): missing ${still.join(", ")} ` +
          `in ${engineBin}; see docs/pulumi-engine.md`,
      );
    }
  }
  say("building dist-lib (the dynamic providers load kube-upkeep/core from it)");
  await buildLibrary();
  if (!existsSync(join(REPO_ROOT, "dist-lib/core/index.js"))) {
    throw new Error(
      "dist-lib/core/index.js was not built: run npm run build and look at its errors",
    );
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.realNodes) {
    say("kube-upkeep demo on real nodes");
    if (!(await realNodesDemo({ keep: args.keep, say }))) process.exitCode = 1;
    return;
  }
  say(
    `kube-upkeep demo: 3 control-plane + ${args.workers} workers, ${CURRENT_VERSION} -> ${TARGET_VERSION}, maxUnavailable ${args.maxUnavailable}`,
  );
  await ensureBuilt();
  const setupStart = Date.now();
  let cluster: SimulatedCluster | undefined;
  let demo: DemoStack | undefined;
  let interrupted = false;
  const reportsBefore = latestRunDir(args.reportDir);
  /** The report of this demo's `pulumi up` (written as the roll goes, also when it fails). */
  const printReport = () => {
    const run = latestRunDir(args.reportDir);
    if (run && run !== reportsBefore)
      say(`roll report: ${join(run, REPORT_FILES.html)} (and ${REPORT_FILES.json} beside it)`);
  };
  const teardown = async () => {
    if (args.keep && cluster) {
      say(
        `--keep: cluster ${cluster.info.name} left running (KUBECONFIG=${cluster.info.kubeconfigPath}); stop it with: npm run cluster:down -- ${cluster.info.name}`,
      );
      return;
    }
    say("tearing down (stack, sshd, cluster)");
    await demo?.dispose().catch((e: unknown) => say(`stack cleanup: ${String(e)}`));
    await cluster?.stop().catch((e: unknown) => say(`cluster cleanup: ${String(e)}`));
  };
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say("interrupted: tearing down (Ctrl-C again to leave things as they are)");
    void teardown().finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    cluster = await startSimulatedCluster({ name: "ku-demo", workers: args.workers, log: say });
    demo = await createDemoStack(cluster, "demo", {
      maxUnavailable: args.maxUnavailable,
      reportDir: args.reportDir,
    });
    say(
      demo.standInCommandProvider
        ? "remote.Command runs through the STAND-IN pulumi-resource-command (test/e2e/command-provider: " +
            "OpenSSH client, same sshd): the real Go provider is not built (docs/pulumi-engine.md)"
        : "remote.Command runs through the built pulumi-resource-command",
    );
    const setupSeconds = (Date.now() - setupStart) / 1000;
    const before = await nodeStates(cluster.kc);

    say("pulumi preview (the plan; nothing changes yet)");
    const previewStart = Date.now();
    const preview = await demo.stack.preview({ onOutput: (s) => process.stdout.write(s) });
    say(`preview: ${JSON.stringify(preview.changeSummary)}`);

    say("pulumi up");
    const upStart = Date.now();
    const up = await demo.stack.up({ onOutput: (s) => process.stdout.write(s) });
    const upSeconds = (Date.now() - upStart) / 1000;
    const after = await nodeStates(cluster.kc);

    const drains = (up.outputs.drains?.value ?? []) as {
      name: string;
      evicted: number;
      retries: number;
      durationMs: number;
    }[];
    const byNode = new Map(drains.map((d) => [d.name, d]));
    const names = [...cluster.controlPlanes, ...cluster.workers];
    const rows = [
      ["NODE", "ROLE", "BEFORE", "AFTER", "SCHEDULABLE", "EVICTED", "PDB RETRIES", "DRAIN"],
    ];
    for (const n of names) {
      const d = byNode.get(n);
      rows.push([
        n,
        cluster.controlPlanes.includes(n) ? "control-plane" : "worker",
        before[n]?.version ?? "?",
        after[n]?.version ?? "?",
        after[n]?.unschedulable ? "no" : "yes",
        String(d?.evicted ?? "-"),
        String(d?.retries ?? "-"),
        d ? `${(d.durationMs / 1000).toFixed(1)}s` : "-",
      ]);
    }
    const evicted = drains.reduce((s, d) => s + d.evicted, 0);
    const retries = drains.reduce((s, d) => s + d.retries, 0);
    const atTarget = names.filter((n) => after[n]?.version === TARGET_VERSION).length;
    process.stdout.write(
      [
        "",
        "Summary",
        table(rows),
        "",
        `nodes at ${TARGET_VERSION}: ${atTarget}/${names.length}; schedulable: ${names.filter((n) => !after[n]?.unschedulable).length}/${names.length}`,
        `evictions: ${evicted}; PDB retries (HTTP 429): ${retries}`,
        `etcd snapshot: ${String(up.outputs.etcdSnapshotPath?.value ?? "").trim() || "none"}`,
        `setup (cluster, nodes, workloads, sshd, stack): ${setupSeconds.toFixed(1)}s; pulumi preview + up: ${((Date.now() - previewStart) / 1000).toFixed(1)}s (up ${upSeconds.toFixed(1)}s); total ${((Date.now() - t0) / 1000).toFixed(1)}s`,
        `result: ${up.summary.result}`,
        "",
      ].join("\n"),
    );
    if (atTarget !== names.length) process.exitCode = 1;
  } finally {
    printReport();
    if (!interrupted) await teardown();
    say("done");
  }
}

main().catch((e: unknown) => {
  const text = e instanceof Error ? e.message : String(e);
  // the Automation API's CommandError repeats the whole pulumi output, which is already above
  const short = /^code: /.test(text)
    ? `pulumi exited with ${text.split("\n")[0]} (its output is above)`
    : text;
  process.stderr.write(`\ndemo failed: ${short}\n`);
  process.exit(1);
});
