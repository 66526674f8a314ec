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
import type { SynthChildResult, SynthMode, WorkloadFlavour } from "./synth-child";
import { mib, seconds, shortError, table } from "./stats";

const run = promisify(execFile);

export interface SynthBenchOptions {
  /** Sizes in pairs, ascending. @default [1000, 10000] */
  readonly sizes?: readonly number[];
  /** Pairs per chart (each chart has its own DrainSafety). @default 500 */
  readonly perChart?: number;
  /** cdk8s-plus Deployment ("plus") or the raw k8s.KubeDeployment ("raw"). @default "plus" */
  readonly workload?: WorkloadFlavour;
  /**
   * Also synthesize each size without kube-upkeep (explicit PDB selectors, no DrainSafety): what
   * cdk8s alone spends on the same objects, measured in the same run. @default true
   */
  readonly baseline?: boolean;
  readonly log?: (line: string) => void;
}

export interface SynthRow {
  readonly pairs: number;
  readonly mode: SynthMode;
  readonly ok: boolean;
  readonly error?: string;
  /** Child process wall time: Node start + module loading + construct + synth. */
  readonly wallMs?: number;
  readonly result?: SynthChildResult;
}

export interface SynthBenchResult {
  /** With DrainSafety, one per size. */
  readonly rows: readonly SynthRow[];
  /** cdk8s alone, one per size (empty with baseline: false). */
  readonly baselineRows: readonly SynthRow[];
  /** Growth exponent of the in-process total time between consecutive sizes (DrainSafety rows). */
  readonly exponents: readonly { from: number; to: number; exponent: number }[];
  readonly markdown: string;
}

/** One size in its own Node process (same node binary, tsx loader). */
export async function synthInChild(
  pairs: number,
  perChart: number,
  workload: WorkloadFlavour,
  mode: SynthMode = "check",
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
        mode,
      ],
      { cwd: join(__dirname, ".."), maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 },
    );
    const wallMs = performance.now() - t0;
    const line = stdout.trim().split("\n").pop() ?? "";
    return { pairs, mode, ok: true, wallMs, result: JSON.parse(line) as SynthChildResult };
  } catch (e) {
    const err = e as { stderr?: string };
    return {
      pairs,
      mode,
      ok: false,
      wallMs: performance.now() - t0,
      error: shortError(err.stderr || e),
    };
  }
}

export function growthExponent(n1: number, t1: number, n2: number, t2: number): number {
  return Math.log(t2 / t1) / Math.log(n2 / n1);
}

function exponentsOf(
  rows: readonly SynthRow[],
  time: (r: SynthChildResult) => number = (r) => r.totalMs,
): { from: number; to: number; exponent: number }[] {
  const out: { from: number; to: number; exponent: number }[] = [];
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1].result;
    const b = rows[i].result;
    if (a && b) {
      out.push({
        from: a.pairs,
        to: b.pairs,
        exponent: growthExponent(a.pairs, time(a), b.pairs, time(b)),
      });
    }
  }
  return out;
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

/** What kube-upkeep adds to cdk8s's own time, per size: DrainSafety row minus baseline row. */
function shareLines(rows: readonly SynthRow[], baseline: readonly SynthRow[]): string[] {
  const lines: string[] = [];
  for (const r of rows) {
    const b = baseline.find((x) => x.pairs === r.pairs)?.result;
    const x = r.result;
    if (!x || !b) continue;
    lines.push(
      `- ${r.pairs} pairs: kube-upkeep (forWorkload + DrainSafety) adds ${seconds(x.totalMs - b.totalMs)} in process, ${seconds(x.cpuMs - b.cpuMs)} CPU, to cdk8s's own ${seconds(b.totalMs)} (${seconds(b.cpuMs)} CPU).`,
    );
  }
  return lines;
}

export async function synthBench(opts: SynthBenchOptions = {}): Promise<SynthBenchResult> {
  const sizes = [...(opts.sizes ?? [1000, 10000])].sort((a, b) => a - b);
  const perChart = opts.perChart ?? 500;
  const workload = opts.workload ?? "plus";
  const modes: SynthMode[] = opts.baseline === false ? ["check"] : ["check", "none"];
  const rows: SynthRow[] = [];
  const baselineRows: SynthRow[] = [];
  for (const n of sizes) {
    for (const mode of modes) {
      const what = mode === "check" ? "with DrainSafety" : "cdk8s alone";
      opts.log?.(`P3: synth of ${n} pairs ${what} (${workload}, ${perChart} per chart)`);
      const row = await synthInChild(n, perChart, workload, mode);
      opts.log?.(
        row.ok
          ? `P3: ${n} pairs ${what}: ${seconds(row.result?.totalMs)} in process (${seconds(row.result?.cpuMs)} CPU), ${mib(row.result?.maxRssKb ?? 0)} peak RSS`
          : `P3: ${n} pairs ${what} FAILED: ${row.error}`,
      );
      (mode === "check" ? rows : baselineRows).push(row);
    }
  }
  const exponents = exponentsOf(rows);
  const baselineExponents = exponentsOf(baselineRows);
  const line = (r: SynthRow, exps: readonly { to: number; exponent: number }[]) => {
    const x = r.result;
    const exp = exps.find((e) => e.to === r.pairs);
    return [
      String(r.pairs),
      x ? String(x.charts) : "-",
      r.mode === "check" ? "DrainSafety" : "cdk8s alone (baseline)",
      r.ok ? "ok" : `FAILED: ${r.error}`,
      seconds(x?.constructMs),
      seconds(x?.synthMs),
      r.mode === "none"
        ? "-"
        : x
          ? `${x.drainSafetyChecks} checks${x.drainSafetyValidations ? ` for ${x.drainSafetyValidations} validations` : ""}, ${seconds(x.drainSafetyMs)}`
          : "-",
      seconds(x?.totalMs),
      seconds(x?.cpuMs),
      seconds(r.wallMs),
      x ? mib(x.maxRssKb) : "-",
      x ? `${(x.bytes / 1024 / 1024).toFixed(1)} MiB` : "-",
      exp ? exp.exponent.toFixed(2) : "-",
    ];
  };
  const body = sizes.flatMap((n) => [
    ...rows.filter((r) => r.pairs === n).map((r) => line(r, exponents)),
    ...baselineRows.filter((r) => r.pairs === n).map((r) => line(r, baselineExponents)),
  ]);
  const share = shareLines(rows, baselineRows);
  const cpuExp = (rs: readonly SynthRow[]) =>
    exponentsOf(rs, (r) => r.cpuMs)
      .map((e) => `${e.exponent.toFixed(2)} (${e.from} to ${e.to})`)
      .join(", ") || "-";
  share.push(
    `- growth exponent of the CPU time (less sensitive to the machine's load than the wall time): DrainSafety ${cpuExp(rows)}; cdk8s alone ${cpuExp(baselineRows)}.`,
  );
  const markdown = [
    `### P3 synth: Deployment + PDB pairs with DrainSafety (${workload === "plus" ? "cdk8s-plus Deployment" : "k8s.KubeDeployment"}, ${perChart} pairs and one DrainSafety per chart)`,
    "",
    table(
      [
        "pairs",
        "charts",
        "app",
        "outcome",
        "construct",
        "synth (validate + write)",
        "of which DrainSafety",
        "total in process",
        "CPU (user + sys)",
        "child wall (incl. Node start, module load)",
        "peak RSS",
        "YAML",
        "growth exponent (total)",
      ],
      body,
    ),
    "",
    `DrainSafety: PDBs built with PodDisruptionBudget.forWorkload and one DrainSafety per chart. cdk8s alone (baseline): the same objects, each PDB given its selector explicitly, no DrainSafety.`,
    "",
    `DrainSafety checks: cdk8s's App.synth() validates the whole app, then synthesizes each chart with App._synthChart, which validates the whole app again, so each DrainSafety's validation runs charts + 1 times; it checks on the first and answers the later ones from that check (one check per DrainSafety per synth; manifests rendered once per synth, for the check and the writer; PDBs matched through an index of the workloads by namespace and pod label).`,
    "",
    "Growth exponent: log(t2/t1) / log(n2/n1) of the in-process total between this size and the previous one (1.00 = linear).",
    ...(share.length ? ["", ...share] : []),
    "",
    synthGoal(rows, exponents),
  ].join("\n");
  return { rows, baselineRows, exponents, markdown };
}
