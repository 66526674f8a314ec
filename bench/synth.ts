/**
 * P3: synth of charts with N Deployment + PodDisruptionBudget pairs checked by DrainSafety, at
 * two (or more) sizes. Each size runs in a child process (bench/synth-child.ts) so the peak RSS
 * is that size's alone; the growth exponent is log(t2/t1) / log(n2/n1) between consecutive
 * sizes (1.0 = linear).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import type { SynthChildResult, WorkloadFlavour } from "./synth-child";
import { mib, seconds, shortError, table } from "./stats";

const run = promisify(execFile);

export interface SynthBenchOptions {
  /** Sizes in pairs, ascending. @default [1000, 10000] */
  readonly sizes?: readonly number[];
  /** Pairs per chart (each chart has its own DrainSafety). @default 500 */
  readonly perChart?: number;
  /** cdk8s-plus Deployment ("plus") or the raw k8s.KubeDeployment ("raw"). @default "plus" */
  readonly workload?: WorkloadFlavour;
  readonly log?: (line: string) => void;
}

export interface SynthRow {
  readonly pairs: number;
  readonly ok: boolean;
  readonly error?: string;
  /** Child process wall time: Node start + module loading + construct + synth. */
  readonly wallMs?: number;
  readonly result?: SynthChildResult;
}

export interface SynthBenchResult {
  readonly rows: readonly SynthRow[];
  /** Growth exponent of the in-process total time between consecutive sizes. */
  readonly exponents: readonly { from: number; to: number; exponent: number }[];
  readonly markdown: string;
}

/** One size in its own Node process (same node binary, tsx loader). */
export async function synthInChild(
  pairs: number,
  perChart: number,
  workload: WorkloadFlavour,
): Promise<SynthRow> {
  const t0 = performance.now();
  try {
    const { stdout } = await run(
      process.execPath,
      [
        "--import",
        "tsx",
        join(__dirname, "synth-child.ts"),
        String(pairs),
        String(perChart),
        workload,
      ],
      { cwd: join(__dirname, ".."), maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 },
    );
    const wallMs = performance.now() - t0;
    const line = stdout.trim().split("\n").pop() ?? "";
    return { pairs, ok: true, wallMs, result: JSON.parse(line) as SynthChildResult };
  } catch (e) {
    const err = e as { stderr?: string };
    return { pairs, ok: false, wallMs: performance.now() - t0, error: shortError(err.stderr || e) };
  }
}

export function growthExponent(n1: number, t1: number, n2: number, t2: number): number {
  return Math.log(t2 / t1) / Math.log(n2 / n1);
}

/** Issue 16's goal: 10,000 pairs in <= 10 s with a growth exponent <= 1.1. */
function synthGoal(
  rows: readonly SynthRow[],
  exponents: readonly { to: number; exponent: number }[],
): string {
  const big = rows.find((r) => r.pairs === 10000)?.result;
  const exp = exponents.find((e) => e.to === 10000)?.exponent;
  if (!big)
    return "Goal (issue 16): 10,000 pairs in <= 10 s, growth exponent <= 1.1: not measured in this run.";
  const t = big.totalMs <= 10_000 ? "met" : "missed";
  const e = exp === undefined ? "not measured" : exp <= 1.1 ? "met" : "missed";
  return `Goal (issue 16): 10,000 pairs in <= 10 s: ${t} (${seconds(big.totalMs)} in process); growth exponent <= 1.1: ${e}${exp === undefined ? "" : ` (${exp.toFixed(2)})`}.`;
}

export async function synthBench(opts: SynthBenchOptions = {}): Promise<SynthBenchResult> {
  const sizes = [...(opts.sizes ?? [1000, 10000])].sort((a, b) => a - b);
  const perChart = opts.perChart ?? 500;
  const workload = opts.workload ?? "plus";
  const rows: SynthRow[] = [];
  for (const n of sizes) {
    opts.log?.(`P3: synth of ${n} pairs (${workload}, ${perChart} per chart)`);
    const row = await synthInChild(n, perChart, workload);
    opts.log?.(
      row.ok
        ? `P3: ${n} pairs: ${seconds(row.result?.totalMs)} in process, ${mib(row.result?.maxRssKb ?? 0)} peak RSS`
        : `P3: ${n} pairs FAILED: ${row.error}`,
    );
    rows.push(row);
  }
  const exponents: { from: number; to: number; exponent: number }[] = [];
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1].result;
    const b = rows[i].result;
    if (a && b) {
      exponents.push({
        from: a.pairs,
        to: b.pairs,
        exponent: growthExponent(a.pairs, a.totalMs, b.pairs, b.totalMs),
      });
    }
  }
  const body = rows.map((r) => {
    const x = r.result;
    const exp = exponents.find((e) => e.to === r.pairs);
    return [
      String(r.pairs),
      x ? String(x.charts) : "-",
      r.ok ? "ok" : `FAILED: ${r.error}`,
      seconds(x?.constructMs),
      seconds(x?.synthMs),
      x ? `${x.drainSafetyChecks} checks, ${seconds(x.drainSafetyMs)}` : "-",
      seconds(x?.totalMs),
      seconds(r.wallMs),
      x ? mib(x.maxRssKb) : "-",
      x ? `${(x.bytes / 1024 / 1024).toFixed(1)} MiB` : "-",
      exp ? exp.exponent.toFixed(2) : "-",
    ];
  });
  const markdown = [
    `### P3 synth: Deployment + PDB pairs with DrainSafety (${workload === "plus" ? "cdk8s-plus Deployment" : "k8s.KubeDeployment"}, ${perChart} pairs and one DrainSafety per chart)`,
    "",
    table(
      [
        "pairs",
        "charts",
        "outcome",
        "construct",
        "synth (validate + write)",
        "of which DrainSafety",
        "total in process",
        "child wall (incl. Node start, module load)",
        "peak RSS",
        "YAML",
        "growth exponent (total)",
      ],
      body,
    ),
    "",
    `DrainSafety checks: cdk8s's App.synth() synthesizes each chart with App._synthChart, which validates the whole app each time, so each chart's DrainSafety runs once per chart of the app (charts² checks in all, ${perChart} x ${perChart} selector matches each).`,
    "",
    "Growth exponent: log(t2/t1) / log(n2/n1) of the in-process total between this size and the previous one (1.00 = linear).",
    "",
    synthGoal(rows, exponents),
  ].join("\n");
  return { rows, exponents, markdown };
}
