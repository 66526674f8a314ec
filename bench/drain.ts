/**
 * P1 / P1b: kube-upkeep's drainNode against `kubectl drain --ignore-daemonsets` on identically
 * prepared kwok nodes of the local control plane.
 *
 * One run = one fresh pool of 1 + `others` kwok nodes in a fresh namespace: the first node holds
 * every pod of one Deployment (`pods` replicas; the others are cordoned while the pods schedule,
 * then made schedulable), optionally under a PDB `maxUnavailable: <pdbMaxUnavailable>` whose
 * status is awaited. Then one tool drains the first node and only that call is timed. The run is
 * checked (no pod of the Deployment left on the node, every pod counted as evicted) and the pool
 * and namespace are deleted before the next run. The tools alternate (ku, kubectl, kubectl, ku,
 * ...) so a drift of the machine's load hits both alike.
 *
 * A failed drain is a row in the table (outcome FAILED with the error), never a crash.
 */
import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { drainNode } from "../lib/core";
import {
  createDeployment,
  createNamespace,
  createPdb,
  createWorkerPool,
  deleteNamespace,
  deleteNodes,
  listPods,
  setUnschedulable,
  statusOf,
  waitFor,
  waitForPdbStatus,
  waitForReadyPods,
} from "../test/cluster/fixtures";
import { ratio, seconds, shortError, summarize, table } from "./stats";

/** "kube-upkeep" (drainNode with the run's options), "kube-upkeep, concurrency N", or "kubectl". */
export type DrainTool = string;
export const KUBE_UPKEEP = "kube-upkeep";
export const KUBECTL = "kubectl";
const concurrencyVariant = (n: number) => `${KUBE_UPKEEP}, concurrency ${n}`;

/** Our nodes carry this NoSchedule taint: only the benchmark's pods (which tolerate it) land there. */
export const BENCH_TAINT = "kube-upkeep.bench/private";
const TOLERATIONS = [{ key: BENCH_TAINT, operator: "Exists", effect: "NoSchedule" }];
/** What a kwok node of the fixtures can hold (status.allocatable.pods). */
export const MAX_PODS_PER_NODE = 110;
const KUBELET_VERSION = "v1.35.4";
/** kubectl's line for a PDB refusal (pkg/drain: "error when evicting ... (will retry after 5s)"). */
const KUBECTL_RETRY = /will retry after \d+(?:\.\d+)?m?s/g;
const KUBECTL_EVICTED = /^pod\/\S+ evicted$/gm;

export interface DrainBenchOptions {
  readonly kc: KubeConfig;
  /** The same cluster's kubeconfig file, for kubectl. */
  readonly kubeconfigPath: string;
  /** kubectl binary (binaries().kubectl). */
  readonly kubectl: string;
  /** Runs per tool. @default 5 */
  readonly runs?: number;
  /** Pods of the Deployment on the drained node (<= 110). @default 110 */
  readonly pods?: number;
  /** Schedulable nodes the evicted pods move to. @default 3 */
  readonly others?: number;
  /** P1b: a PDB maxUnavailable over the Deployment; undefined = P1, no PDB. */
  readonly pdbMaxUnavailable?: number;
  /** Drain timeout for both tools (kubectl --timeout). @default 300 */
  readonly timeoutSeconds?: number;
  /** drainNode's concurrency option; undefined = its default (unbounded, like kubectl). */
  readonly concurrency?: number;
  /**
   * Also run drainNode with this concurrency as a third tool in the same alternation (issue 16
   * measured `concurrency: 10` under the PDB).
   */
  readonly extraConcurrency?: number;
  /** drainNode's retryIntervalMs; undefined = its default (5000, kubectl's 5 s). */
  readonly retryIntervalMs?: number;
  readonly log?: (line: string) => void;
}

export interface DrainRun {
  readonly run: number;
  readonly tool: DrainTool;
  readonly ok: boolean;
  readonly ms: number;
  /** PDB refusals: DrainResult.retries, or kubectl's "will retry after 5s" lines. */
  readonly refusals: number;
  /** kube-upkeep: DrainResult.transientRetries (409 conflicts, 5xx, ... retried); kubectl: 0. */
  readonly transientRetries: number;
  /** Pods reported evicted by the tool. */
  readonly evicted: number;
  /** Pods of the Deployment still (not terminating) on the drained node afterwards. */
  readonly leftOnNode: number;
  readonly error?: string;
}

export interface DrainToolSummary {
  readonly tool: DrainTool;
  readonly ok: number;
  readonly total: number;
  readonly min?: number;
  readonly median?: number;
  readonly max?: number;
  readonly refusalsMedian?: number;
  readonly refusalsMin?: number;
  readonly refusalsMax?: number;
  /** Transient retries (kube-upkeep) summed over successful runs. */
  readonly transientRetries: number;
}

export interface DrainBenchResult {
  readonly title: string;
  readonly runs: readonly DrainRun[];
  readonly summaries: readonly DrainToolSummary[];
  /** median(kube-upkeep) / median(kubectl) over successful runs; undefined if either has none. */
  readonly medianRatio?: number;
  readonly markdown: string;
}

interface Prepared {
  readonly ns: string;
  readonly node: string;
  readonly nodes: readonly string[];
}

async function prepare(o: DrainBenchOptions, label: string): Promise<Prepared> {
  const pods = o.pods ?? MAX_PODS_PER_NODE;
  const others = o.others ?? 3;
  const ns = await createNamespace(o.kc, `bench-${label}`);
  const { pool, names } = await createWorkerPool(o.kc, `bench-${label}`, 1 + others, {
    kubeletVersion: KUBELET_VERSION,
    cordoned: Array.from({ length: others }, (_, i) => i + 1),
    taints: (p) => [{ key: BENCH_TAINT, value: p, effect: "NoSchedule" as const }],
  });
  const [node] = names;
  try {
    await createDeployment(o.kc, ns, {
      name: "app",
      replicas: pods,
      nodeSelector: { "kube-upkeep.test/pool": pool },
      tolerations: TOLERATIONS,
    });
    const ready = await waitForReadyPods(o.kc, ns, { app: "app" }, pods, { timeoutMs: 240_000 });
    const elsewhere = ready.filter((p) => p.spec?.nodeName !== node);
    if (elsewhere.length) throw new Error(`${elsewhere.length} pods not on ${node}`);
    if (o.pdbMaxUnavailable !== undefined) {
      await createPdb(o.kc, ns, {
        name: "app-pdb",
        selector: { app: "app" },
        maxUnavailable: o.pdbMaxUnavailable,
      });
      await waitForPdbStatus(o.kc, ns, "app-pdb", {
        disruptionsAllowed: Math.min(o.pdbMaxUnavailable, pods),
        currentHealthy: pods,
      });
    }
    for (const other of names.slice(1)) await setUnschedulable(o.kc, other, false);
    return { ns, node, nodes: names };
  } catch (e) {
    await cleanup(o.kc, { ns, node, nodes: names });
    throw e;
  }
}

async function cleanup(kc: KubeConfig, p: Prepared): Promise<void> {
  await deleteNamespace(kc, p.ns);
  const core = kc.makeApiClient(CoreV1Api);
  // wait for the namespace (and its pods) to be gone so the next run starts on a quiet cluster
  await waitFor(
    async () => {
      try {
        await core.readNamespace({ name: p.ns });
        return false;
      } catch (e) {
        if (statusOf(e) === 404) return true;
        throw e;
      }
    },
    { timeoutMs: 180_000, intervalMs: 500, what: `namespace ${p.ns} deleted` },
  ).catch(() => undefined);
  await deleteNodes(kc, p.nodes);
}

function runKubectl(
  o: DrainBenchOptions,
  node: string,
): Promise<{ code: number | null; out: string }> {
  const timeout = o.timeoutSeconds ?? 300;
  return new Promise((resolve) => {
    execFile(
      o.kubectl,
      [
        "--kubeconfig",
        o.kubeconfigPath,
        "drain",
        node,
        "--ignore-daemonsets",
        `--timeout=${timeout}s`,
      ],
      { maxBuffer: 64 * 1024 * 1024, timeout: (timeout + 60) * 1000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number | null }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, out: `${stdout}\n${stderr}` });
      },
    );
  });
}

async function podsLeftOn(o: DrainBenchOptions, ns: string, node: string): Promise<number> {
  const pods = await listPods(o.kc, ns, { app: "app" });
  return pods.filter((p) => p.spec?.nodeName === node && !p.metadata?.deletionTimestamp).length;
}

async function drainOnce(o: DrainBenchOptions, run: number, tool: DrainTool): Promise<DrainRun> {
  const pods = o.pods ?? MAX_PODS_PER_NODE;
  let prepared: Prepared;
  try {
    prepared = await prepare(o, `${tool === KUBECTL ? "kc" : "ku"}${run}`);
  } catch (e) {
    return {
      run,
      tool,
      ok: false,
      ms: NaN,
      refusals: 0,
      transientRetries: 0,
      evicted: 0,
      leftOnNode: NaN,
      error: `setup failed: ${shortError(e)}`,
    };
  }
  const { ns, node } = prepared;
  try {
    let ok: boolean;
    let refusals = 0;
    let transientRetries = 0;
    let evicted = 0;
    let error: string | undefined;
    const t0 = performance.now();
    if (tool !== KUBECTL) {
      const concurrency =
        tool === KUBE_UPKEEP
          ? o.concurrency
          : tool === concurrencyVariant(o.extraConcurrency ?? 0)
            ? o.extraConcurrency
            : undefined;
      try {
        const res = await drainNode(o.kc, node, {
          runId: `bench-${run}`,
          ignoreDaemonSets: true,
          timeoutSeconds: o.timeoutSeconds ?? 300,
          ...(concurrency !== undefined ? { concurrency } : {}),
          ...(o.retryIntervalMs !== undefined ? { retryIntervalMs: o.retryIntervalMs } : {}),
        });
        ok = true;
        refusals = res.retries;
        transientRetries = res.transientRetries;
        evicted = res.evictedPods.length;
      } catch (e) {
        ok = false;
        error = shortError(e);
      }
    } else {
      const { code, out } = await runKubectl(o, node);
      ok = code === 0;
      refusals = countKubectlRefusals(out);
      evicted = out.match(KUBECTL_EVICTED)?.length ?? 0;
      if (!ok) {
        const lines = out.split("\n").filter((l) => l.trim());
        error = `exit ${code}: ${shortError(lines.filter((l) => /error/i.test(l)).pop() ?? lines.pop() ?? "")}`;
      }
    }
    const ms = performance.now() - t0;
    const leftOnNode = await podsLeftOn(o, ns, node);
    if (ok && leftOnNode > 0) {
      ok = false;
      error = `${leftOnNode} pods still on ${node} after the drain returned`;
    }
    if (ok && evicted !== pods) {
      ok = false;
      error = `reported ${evicted} pods evicted, expected ${pods}`;
    }
    return { run, tool, ok, ms, refusals, transientRetries, evicted, leftOnNode, error };
  } finally {
    await cleanup(o.kc, prepared).catch((e: unknown) =>
      o.log?.(`cleanup of ${ns} failed: ${shortError(e)}`),
    );
  }
}

/** PDB refusals in kubectl drain's output: its "(will retry after 5s)" lines. */
export function countKubectlRefusals(output: string): number {
  return output.match(KUBECTL_RETRY)?.length ?? 0;
}

/** Issue 16's goal for the median ratio: P1 <= 0.5x, P1b <= 0.3x kubectl drain. */
function goalLine(goal: number, medianRatio: number | undefined): string {
  const verdict =
    medianRatio === undefined
      ? "not measurable in this run (a tool has no successful run)"
      : medianRatio <= goal
        ? `met (${medianRatio.toFixed(2)}x)`
        : `missed (${medianRatio.toFixed(2)}x)`;
  return `Goal (issue 16): median ratio <= ${goal}x kubectl drain: ${verdict}.`;
}

function summarizeTool(tool: DrainTool, runs: readonly DrainRun[]): DrainToolSummary {
  const mine = runs.filter((r) => r.tool === tool);
  const good = mine.filter((r) => r.ok);
  const t = summarize(good.map((r) => r.ms));
  const refusals = summarize(good.map((r) => r.refusals));
  return {
    tool,
    ok: good.length,
    total: mine.length,
    min: t?.min,
    median: t?.median,
    max: t?.max,
    refusalsMedian: refusals?.median,
    refusalsMin: refusals?.min,
    refusalsMax: refusals?.max,
    transientRetries: good.reduce((n, r) => n + r.transientRetries, 0),
  };
}

export async function drainBench(o: DrainBenchOptions): Promise<DrainBenchResult> {
  const runs = o.runs ?? 5;
  const pods = o.pods ?? MAX_PODS_PER_NODE;
  const others = o.others ?? 3;
  if (!Number.isInteger(pods) || pods < 1 || pods > MAX_PODS_PER_NODE) {
    throw new Error(`pods: 1..${MAX_PODS_PER_NODE} (what one kwok node holds), got ${pods}`);
  }
  if (pods > others * MAX_PODS_PER_NODE) throw new Error(`pods: more than ${others} nodes hold`);
  const pdb = o.pdbMaxUnavailable;
  const name = pdb === undefined ? "P1" : "P1b";
  const tools: DrainTool[] = [
    KUBE_UPKEEP,
    ...(o.extraConcurrency !== undefined ? [concurrencyVariant(o.extraConcurrency)] : []),
    KUBECTL,
  ];
  const results: DrainRun[] = [];
  for (let i = 0; i < runs; i++) {
    // rotate the tools each run: ku, kubectl / kubectl, ku (with a third tool: a, b, c / b, c, a ...)
    const order = tools.map((_, j) => tools[(i + j) % tools.length]);
    for (const tool of order) {
      o.log?.(`${name} run ${i + 1}/${runs}: ${tool}`);
      const r = await drainOnce(o, i + 1, tool);
      o.log?.(
        `${name} run ${i + 1}/${runs}: ${tool} ${r.ok ? "ok" : "FAILED"} ${seconds(r.ms)}` +
          ` refusals ${r.refusals} evicted ${r.evicted}${r.error ? `: ${r.error}` : ""}`,
      );
      results.push(r);
    }
  }
  const summaries = tools.map((t) => summarizeTool(t, results));
  const ku = summaries[0];
  const kc = summaries[summaries.length - 1];
  const medianRatio =
    ku.median !== undefined && kc.median !== undefined && kc.median > 0
      ? ku.median / kc.median
      : undefined;
  const ops = [
    o.concurrency !== undefined ? `concurrency ${o.concurrency}` : "",
    o.retryIntervalMs !== undefined ? `retryIntervalMs ${o.retryIntervalMs}` : "",
  ].filter(Boolean);
  const title =
    `### ${name} drain${pdb === undefined ? ", no PDB" : ` under a PDB maxUnavailable: ${pdb}`}: ` +
    `${pods} pods of one Deployment on one kwok node, ${others} other schedulable nodes, ${runs} runs per tool, alternating`;
  const failures = results.filter((r) => !r.ok);
  const refusalCell = (s: DrainToolSummary) =>
    s.refusalsMedian === undefined
      ? "-"
      : `${s.refusalsMedian} (${s.refusalsMin}-${s.refusalsMax})`;
  const markdown = [
    title,
    "",
    `kube-upkeep: \`drainNode(kc, node, { ignoreDaemonSets: true${ops.length ? `, ${ops.join(", ")}` : ""} })\` (defaults otherwise); ` +
      (o.extraConcurrency !== undefined
        ? `"${concurrencyVariant(o.extraConcurrency)}": the same with \`concurrency: ${o.extraConcurrency}\`; `
        : "") +
      `kubectl: \`kubectl drain <node> --ignore-daemonsets --timeout=${o.timeoutSeconds ?? 300}s\` (v1.35.4).`,
    "",
    table(
      [
        "tool",
        "runs ok",
        "min",
        "median",
        "max",
        "median ratio (tool / kubectl)",
        "PDB refusals per drain, median (min-max)",
        "transient retries (409 etc.), all ok runs",
      ],
      summaries.map((s) => [
        s.tool,
        `${s.ok}/${s.total}`,
        seconds(s.min),
        seconds(s.median),
        seconds(s.max),
        ratio(s.median, kc.median),
        refusalCell(s),
        s.tool === KUBECTL ? "- (not retried)" : String(s.transientRetries),
      ]),
    ),
    "",
    goalLine(name === "P1" ? 0.5 : 0.3, medianRatio),
    "",
    failures.length
      ? `Failed runs:\n\n${table(
          ["run", "tool", "time", "refusals", "error"],
          failures.map((r) => [
            String(r.run),
            r.tool,
            seconds(r.ms),
            String(r.refusals),
            r.error ?? "",
          ]),
        )}`
      : "No failed runs.",
    "",
    `Every run: ${results
      .map((r) => `${r.run}/${r.tool} ${r.ok ? seconds(r.ms) : "FAILED"} (${r.refusals} refusals)`)
      .join(", ")}.`,
  ].join("\n");
  return { title, runs: results, summaries, medianRatio, markdown };
}
