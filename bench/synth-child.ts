/**
 * One P3 measurement in a process of its own (so its peak RSS is its own): builds a cdk8s App of
 * `pairs` Deployment + PodDisruptionBudget pairs spread over charts of `perChart` pairs, each
 * chart checked by DrainSafety, synthesizes it into a temporary directory (what `cdk8s synth`
 * does: construct, validate, write YAML) and prints one JSON line on stdout:
 * { pairs, charts, constructMs, synthMs, totalMs, maxRssKb, files, bytes }.
 *
 *   node --import tsx bench/synth-child.ts <pairs> <perChart> <plus|raw>
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

export interface SynthChildResult {
  readonly pairs: number;
  readonly charts: number;
  readonly workload: WorkloadFlavour;
  /** Building the construct tree. */
  readonly constructMs: number;
  /** App.synth(): validations (DrainSafety) and writing the YAML files. */
  readonly synthMs: number;
  readonly totalMs: number;
  /** process.resourceUsage().maxRSS at the end, in kilobytes (includes Node and module loading). */
  readonly maxRssKb: number;
  /** RSS after loading the modules, before building anything (the floor). */
  readonly baseRssKb: number;
  readonly files: number;
  readonly bytes: number;
  /** DrainSafety warnings reported (there should be none). */
  readonly warnings: number;
  /** How many times a DrainSafety check ran during synth (cdk8s validates the whole app per chart). */
  readonly drainSafetyChecks: number;
  /** Time spent in those checks. */
  readonly drainSafetyMs: number;
}

/**
 * Counts and times DrainSafety checks (its validation calls findings()); measurement only, the
 * check itself is unchanged.
 */
const checkStats = { calls: 0, ms: 0 };
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

function addPair(chart: Chart, i: number, flavour: WorkloadFlavour): void {
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
  PodDisruptionBudget.forWorkload(chart, `${name}-pdb`, workload, {
    metadata: { name: `${name}-pdb` },
    maxUnavailable: 1,
  });
}

export function synthPairs(
  pairs: number,
  perChart: number,
  flavour: WorkloadFlavour,
): SynthChildResult {
  const baseRssKb = process.resourceUsage().maxRSS;
  const outdir = mkdtempSync(join(tmpdir(), "ku-bench-synth-"));
  try {
    let warnings = 0;
    checkStats.calls = 0;
    checkStats.ms = 0;
    const t0 = performance.now();
    const app = new App({ outdir });
    const charts = Math.ceil(pairs / perChart);
    for (let c = 0; c < charts; c++) {
      const chart = new Chart(app, `bench-${c}`, { namespace: `bench-${c}` });
      const end = Math.min(pairs, (c + 1) * perChart);
      for (let i = c * perChart; i < end; i++) addPair(chart, i, flavour);
      new DrainSafety(chart, "drain-safety", { onWarnings: (ws) => (warnings += ws.length) });
    }
    const t1 = performance.now();
    app.synth();
    const t2 = performance.now();
    const files = readdirSync(outdir);
    const bytes = files.reduce((s, f) => s + statSync(join(outdir, f)).size, 0);
    return {
      pairs,
      charts,
      workload: flavour,
      constructMs: t1 - t0,
      synthMs: t2 - t1,
      totalMs: t2 - t0,
      maxRssKb: process.resourceUsage().maxRSS,
      baseRssKb,
      files: files.length,
      bytes,
      warnings,
      drainSafetyChecks: checkStats.calls,
      drainSafetyMs: checkStats.ms,
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [pairs, perChart, flavour] = process.argv.slice(2);
  const n = Number(pairs);
  const per = Number(perChart);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(per) || per < 1) {
    throw new Error(`usage: synth-child.ts <pairs> <perChart> <plus|raw> (got ${process.argv})`);
  }
  if (flavour !== "plus" && flavour !== "raw") throw new Error(`workload: plus or raw`);
  process.stdout.write(`${JSON.stringify(synthPairs(n, per, flavour))}\n`);
}
