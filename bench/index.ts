/**
 * `npm run bench`: runs the benchmarks of issue 16 and writes bench/RESULTS.md.
 *
 *   npm run bench                                  # P1, P1b, P3 at full size
 *   npm run bench -- --only p1 --runs 3 --pods 50  # a subset, smaller
 *   npm run bench -- --note "a Go build ran meanwhile"
 *
 * Flags:
 *   --only p1,p1b,p2,p3      benchmarks to run (default all; p2 is skipped, and says so, while
 *                            the Pulumi engine is not built)
 *   --runs N                 drain runs per tool (default 5)
 *   --pods N                 pods on the drained node, <= 110 (default 110)
 *   --others N               other schedulable nodes (default 3)
 *   --pdb-max-unavailable N  P1b budget (default 10)
 *   --timeout S              drain timeout of both tools in seconds (default 300)
 *   --concurrency N          drainNode's concurrency (default: its own, unbounded)
 *   --p1b-concurrency N      P1b also runs drainNode with this concurrency as a third tool
 *                            (default 10, as measured in issue 16; 0: not)
 *   --workers N              P2 kwok workers (default 100)
 *   --max-unavailable K      P2 maxUnavailable (default 10)
 *   --upgrade-seconds T      P2 simulated upgrade duration (default 5)
 *   --no-sequential          P2 without the sequential field-guide script
 *   --sizes A,B              P3 sizes in pairs (default 1000,10000)
 *   --per-chart N            P3 pairs per chart (default 500)
 *   --workload plus|raw      P3 workload: cdk8s-plus Deployment or k8s.KubeDeployment (default plus)
 *   --kubeconfig PATH        use this cluster (or KU_KUBECONFIG); default: start ku-test-<pid>-bench
 *   --keep                   keep the cluster this run started
 *   --out PATH               results file (default bench/RESULTS.md); --no-write: print only
 *   --note TEXT              what else ran on the machine, recorded in the results
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import {
  REPO_ROOT,
  TEST_CLUSTER_PREFIX,
  binaries,
  deleteStaleTestClusters,
  startCluster,
  stopCluster,
} from "../test/cluster/cluster";
import { DEMO_ENGINE_BINARIES } from "../test/e2e/simulated-cluster";
import { ENGINE_BIN, missingEngineBinaries } from "../test/integration/engine/pulumi-engine";
import { drainBench } from "./drain";
import { rollBench } from "./roll";
import { synthBench } from "./synth";

const BENCHES = ["p1", "p1b", "p2", "p3"] as const;
type Bench = (typeof BENCHES)[number];

const log = (line: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name}: a positive integer, got ${v}`);
  return n;
}

function gitCommit(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT })
      .toString()
      .trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], {
      cwd: REPO_ROOT,
    })
      .toString()
      .trim();
    const n = dirty.split("\n").length;
    return dirty ? `${sha} (the working tree had uncommitted changes in ${n} files)` : sha;
  } catch {
    return "unknown";
  }
}

/** Machine, commit and load, as markdown lines. */
export function environmentLines(note?: string): string[] {
  const c = cpus();
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${c.length} cores (${c[0]?.model ?? "unknown"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory (${(freemem() / 2 ** 30).toFixed(1)} GiB free at the start), load average at the start ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" / ")}`,
    `- Node.js ${process.version}; git commit ${gitCommit()}`,
    `- command: \`npm run bench --${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(" ")}` : ""}\``,
    ...(note ? [`- also running on the machine: ${note}`] : []),
  ];
}

const HEADER = [
  "# kube-upkeep benchmarks (issue 16)",
  "",
  "Written by `npm run bench` (bench/index.ts). Each section is one run of one benchmark, with the date, machine, commit and load of that run; ratios are measured in the same run on the same local control plane (kwokctl binary runtime: etcd, kube-apiserver, kube-controller-manager, kube-scheduler v1.35.4, kwok nodes). A run of a subset (`--only`) replaces only its sections.",
  "",
].join("\n");

const sectionRe = (id: string) =>
  new RegExp(`<!-- bench:${id} -->\\n[\\s\\S]*?<!-- /bench:${id} -->\\n?`);

/** RESULTS.md: the sections of this run replace their earlier versions, the others are kept. */
export function mergeResults(
  previous: string,
  sections: ReadonlyMap<Bench, string>,
  env: readonly string[],
): string {
  const parts = BENCHES.flatMap((id) => {
    const now = sections.get(id);
    if (now !== undefined) {
      return [
        `<!-- bench:${id} -->\n${now}\n\nThis run:\n\n${env.join("\n")}\n<!-- /bench:${id} -->\n`,
      ];
    }
    const old = sectionRe(id).exec(previous)?.[0];
    return old ? [old.endsWith("\n") ? old : `${old}\n`] : [];
  });
  return [HEADER, ...parts].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      runs: { type: "string" },
      pods: { type: "string" },
      others: { type: "string" },
      "pdb-max-unavailable": { type: "string" },
      timeout: { type: "string" },
      concurrency: { type: "string" },
      "p1b-concurrency": { type: "string" },
      sizes: { type: "string" },
      "per-chart": { type: "string" },
      workload: { type: "string" },
      workers: { type: "string" },
      "max-unavailable": { type: "string" },
      "upgrade-seconds": { type: "string" },
      "no-sequential": { type: "boolean" },
      kubeconfig: { type: "string" },
      keep: { type: "boolean" },
      out: { type: "string" },
      "no-write": { type: "boolean" },
      note: { type: "string" },
    },
    strict: true,
  });
  const only = (values.only ?? BENCHES.join(",")).split(",").map((s) => s.trim().toLowerCase());
  for (const b of only) {
    if (!(BENCHES as readonly string[]).includes(b))
      throw new Error(`--only: one of ${BENCHES.join(", ")}, got ${b}`);
  }
  const want = (b: Bench) => only.includes(b);
  const runs = positiveInt("runs", values.runs, 5);
  const pods = positiveInt("pods", values.pods, 110);
  const others = positiveInt("others", values.others, 3);
  const pdbMaxUnavailable = positiveInt("pdb-max-unavailable", values["pdb-max-unavailable"], 10);
  const timeoutSeconds = positiveInt("timeout", values.timeout, 300);
  const concurrency =
    values.concurrency === undefined
      ? undefined
      : positiveInt("concurrency", values.concurrency, 0);
  const sizes = (values.sizes ?? "1000,10000").split(",").map((s) => positiveInt("sizes", s, 0));
  const perChart = positiveInt("per-chart", values["per-chart"], 500);
  const workload = values.workload ?? "plus";
  if (workload !== "plus" && workload !== "raw") throw new Error(`--workload: plus or raw`);
  const out = values.out ?? join(REPO_ROOT, "bench", "RESULTS.md");
  const env = environmentLines(values.note);

  const sections = new Map<Bench, string>();
  const print = (id: Bench, md: string) => {
    process.stdout.write(`\n${md}\n\n`);
    sections.set(id, md);
  };

  if (want("p1") || want("p1b")) {
    let kubeconfigPath = values.kubeconfig ?? process.env.KU_KUBECONFIG;
    let started: string | undefined;
    const stop = async () => {
      if (started && !values.keep) {
        log(`deleting cluster ${started}`);
        await stopCluster(started).catch((e: unknown) =>
          log(`cluster delete failed: ${String(e)}`),
        );
      }
      started = undefined;
    };
    const onSignal = () => void stop().finally(() => process.exit(130));
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      if (!kubeconfigPath) {
        await deleteStaleTestClusters(log);
        const name = `${TEST_CLUSTER_PREFIX}${process.pid}-bench`;
        const info = await startCluster({ name, log });
        started = name;
        kubeconfigPath = info.kubeconfigPath;
      }
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      const common = {
        kc,
        kubeconfigPath,
        kubectl: binaries().kubectl,
        runs,
        pods,
        others,
        timeoutSeconds,
        concurrency,
        log,
      };
      if (want("p1")) print("p1", (await drainBench(common)).markdown);
      if (want("p1b")) {
        const extra =
          values["p1b-concurrency"] === "0"
            ? undefined
            : positiveInt("p1b-concurrency", values["p1b-concurrency"], 10);
        print(
          "p1b",
          (await drainBench({ ...common, pdbMaxUnavailable, extraConcurrency: extra })).markdown,
        );
      }
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await stop();
    }
  }
  if (want("p2")) {
    const missing = missingEngineBinaries(ENGINE_BIN, DEMO_ENGINE_BINARIES);
    if (missing.length > 0) {
      const note = `### P2 roll\n\nNot run: the Pulumi engine is not built (missing ${missing.join(", ")} in ${ENGINE_BIN}; bash test/cluster/build-pulumi.sh).`;
      // a section of an earlier run is kept; the note goes to the output only
      if (existsSync(out) && readFileSync(out, "utf8").includes("<!-- bench:p2 -->")) {
        process.stdout.write(`\n${note}\n\n`);
      } else {
        print("p2", note);
      }
    } else {
      const res = await rollBench({
        workers: positiveInt("workers", values.workers, 100),
        maxUnavailable: positiveInt("max-unavailable", values["max-unavailable"], 10),
        upgradeSeconds: positiveInt("upgrade-seconds", values["upgrade-seconds"], 5),
        sequential: !values["no-sequential"],
        clusterName: `${TEST_CLUSTER_PREFIX}${process.pid}-roll`,
        log,
      });
      print("p2", res.markdown);
    }
  }
  if (want("p3")) print("p3", (await synthBench({ sizes, perChart, workload, log })).markdown);

  if (!values["no-write"]) {
    const merged = mergeResults(existsSync(out) ? readFileSync(out, "utf8") : "", sections, env);
    // formatted like every other file of the repo (`prettier --check .` is part of npm test)
    const prettier = await import("prettier");
    const config = (await prettier.resolveConfig(out)) ?? {};
    writeFileSync(out, await prettier.format(merged, { ...config, filepath: out }));
    log(`wrote ${relative(process.cwd(), out)}`);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(
      `bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
    );
    process.exit(1);
  });
}
