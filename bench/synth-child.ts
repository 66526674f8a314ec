/**
 * One P3 measurement in a process of its own (so its peak RSS is its own): builds a cdk8s App of
 * `pairs` Deployment + PodDisruptionBudget pairs spread over charts of `perChart` pairs, each
 * chart checked by DrainSafety, synthesizes it into a temporary directory (what `cdk8s synth`
 * does: construct, validate, write YAML) and prints one JSON line on stdout:
 * { pairs, charts, constructMs, synthMs, totalMs, maxRssKb, files, bytes }.
 *
 *   node --import tsx bench/synth-child.ts <pairs> <perChart> <plus|raw> [check|none]
 *
 * `none` is the baseline of the same run: the same objects (each PDB given its workload's selector
 * explicitly instead of PodDisruptionBudget.forWorkload) and no DrainSafety, i.e. what cdk8s
 * alone spends on that app.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { App, Chart } from "cdk8s";
import * as kplus from "cdk8s-plus-33";
import { k8s } from "cdk8s-plus-33";
import { DrainSafety, PodDisruptionBudget } from "../lib/cdk8s";

export type WorkloadFlavour = "plus" | "raw";
/** With DrainSafety and forWorkload ("check"), or the cdk8s-only baseline ("none"). */
export type SynthMode = "check" | "none";

export interface SynthChildResult {
  readonly pairs: number;
  readonly charts: number;
  readonly workload: WorkloadFlavour;
  readonly mode: SynthMode;
  /** Building the construct tree. */
  readonly constructMs: number;
  /** App.synth(): validations (DrainSafety) and writing the YAML files. */
  readonly synthMs: number;
  readonly totalMs: number;
  /** CPU time (user + system) of construct + synth: less sensitive to a loaded machine than totalMs. */
  readonly cpuMs: number;
  /** process.resourceUsage().maxRSS at the end, in kilobytes (includes Node and module loading). */
  readonly maxRssKb: number;
  /** RSS after loading the modules, before building anything (the floor). */
  readonly baseRssKb: number;
  readonly files: number;
  readonly bytes: number;
  /** DrainSafety warnings reported (there should be none). */
  readonly warnings: number;
  /** How many times a DrainSafety check ran during synth (findings() computed). */
  readonly drainSafetyChecks: number;
  /**
   * How many times cdk8s ran a DrainSafety's validation (it validates the whole app once, then
   * once per chart); each answered from the check of that synth after the first.
   */
  readonly drainSafetyValidations: number;
  /** Time spent in those checks. */
  readonly drainSafetyMs: number;
}

/**
 * Counts and times DrainSafety checks (findings(), which its validation calls when the check has
 * not run in this synth yet) and counts the validations; measurement only, the check itself is
 * unchanged.
 */
const checkStats = { calls: 0, ms: 0, validations: 0 };
const findings = DrainSafety.prototype.findings;
DrainSafety.prototype.findings = function (this: DrainSafety) {
  const t0 = performance.now();
  try {
    return findings.call(this);
  } finally {
    checkStats.calls++;
    checkStats.ms += performance.now() - t0;
  }
};
type WithSynthFindings = { findingsOfThisSynth?: () => unknown };
const proto = DrainSafety.prototype as unknown as WithSynthFindings;
const perSynth = proto.findingsOfThisSynth;
if (perSynth) {
  proto.findingsOfThisSynth = function (this: DrainSafety) {
    checkStats.validations++;
    return perSynth.call(this);
  };
}

function addPair(chart: Chart, i: number, flavour: WorkloadFlavour, mode: SynthMode): void {
  const name = `app-${i}`;
  const labels = { app: name };
  let workload;
  if (flavour === "plus") {
    workload = new kplus.Deployment(chart, name, {
      metadata: { name },
      replicas: 3,
      podMetadata: { labels },
      select: false,
      containers: [
        {
          name: "main",
          image: "registry.k8s.io/pause:3.10",
          portNumber: 8080,
          securityContext: { ensureNonRoot: false },
        },
      ],
    });
    workload.select(kplus.LabelSelector.of({ labels }));
  } else {
    workload = new k8s.KubeDeployment(chart, name, {
      metadata: { name },
      spec: {
        replicas: 3,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: "main", image: "registry.k8s.io/pause:3.10" }] },
        },
      },
    });
  }
  if (mode === "none") {
    new PodDisruptionBudget(chart, `${name}-pdb`, {
      metadata: { name: `${name}-pdb` },
      maxUnavailable: 1,
      selector: { matchLabels: labels },
    });
    return;
  }
  PodDisruptionBudget.forWorkload(chart, `${name}-pdb`, workload, {
    metadata: { name: `${name}-pdb` },
    maxUnavailable: 1,
  });
}

export function synthPairs(
  pairs: number,
  perChart: number,
  flavour: WorkloadFlavour,
  mode: SynthMode = "check",
): SynthChildResult {
  const baseRssKb = process.resourceUsage().maxRSS;
  const outdir = mkdtempSync(join(tmpdir(), "ku-bench-synth-"));
  try {
    let warnings = 0;
    checkStats.calls = 0;
    checkStats.ms = 0;
    checkStats.validations = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const app = new App({ outdir });
    const charts = Math.ceil(pairs / perChart);
    for (let c = 0; c < charts; c++) {
      const chart = new Chart(app, `bench-${c}`, { namespace: `bench-${c}` });
      const end = Math.min(pairs, (c + 1) * perChart);
      for (let i = c * perChart; i < end; i++) addPair(chart, i, flavour, mode);
      if (mode === "check")
        new DrainSafety(chart, "drain-safety", { onWarnings: (ws) => (warnings += ws.length) });
    }
    const t1 = performance.now();
    app.synth();
    const t2 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    const files = readdirSync(outdir);
    const bytes = files.reduce((s, f) => s + statSync(join(outdir, f)).size, 0);
    return {
      pairs,
      charts,
      workload: flavour,
      mode,
      constructMs: t1 - t0,
      synthMs: t2 - t1,
      totalMs: t2 - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      maxRssKb: process.resourceUsage().maxRSS,
      baseRssKb,
      files: files.length,
      bytes,
      warnings,
      drainSafetyChecks: checkStats.calls,
      drainSafetyMs: checkStats.ms,
      drainSafetyValidations: checkStats.validations,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [pairs, perChart, flavour, mode = "check"] = process.argv.slice(2);
  const n = Number(pairs);
  const per = Number(perChart);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(per) || per < 1) {
    throw new Error(
      `usage: synth-child.ts <pairs> <perChart> <plus|raw> [check|none] (got ${process.argv})`,
    );
  }
  if (flavour !== "plus" && flavour !== "raw") throw new Error(`workload: plus or raw`);
  if (mode !== "check" && mode !== "none") throw new Error(`mode: check or none`);
  process.stdout.write(`${JSON.stringify(synthPairs(n, per, flavour, mode))}\n`);
}
