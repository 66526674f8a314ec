/**
 * P2: `pulumi up` of the demo program's ClusterUpgrade (examples/pulumi/index.ts) over
 * 3 control-plane + N kwok workers at maxUnavailable K with a simulated upgrade of T seconds,
 * against the same cluster rolled by the field guide's procedure as a sequential script:
 * node after node `kubectl drain --ignore-daemonsets`, the same upgrade command over ssh (sleep T,
 * then the kubelet version patch a real kubelet restart causes), `kubectl uncordon`.
 *
 * Lower bound of the roll: (control planes + ceil(N / K)) x (T + median drain time): every node on
 * the critical path (control planes one at a time, then ceil(N/K) waves) costs at least its drain
 * and its upgrade. Orchestration overhead per node = (up - lower bound) / (that many nodes).
 *
 * The etcd snapshot is off in both (it is not part of the lower bound). Needs the Pulumi engine
 * (test/cluster/build-pulumi.sh) and sshd.
 */
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { binaries } from "../test/cluster/cluster";
import {
  buildLibrary,
  checkPrerequisites,
  createDemoStack,
  CURRENT_VERSION,
  nodeStates,
  startSimulatedCluster,
  TARGET_VERSION,
  type DemoStack,
  type SimulatedCluster,
} from "../test/e2e/simulated-cluster";
import { seconds, shortError, summarize, table } from "./stats";

const run = promisify(execFile);
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export interface RollBenchOptions {
  /** @default 100 */
  readonly workers?: number;
  /** @default 10 */
  readonly maxUnavailable?: number;
  /** Simulated upgrade command duration T. @default 5 */
  readonly upgradeSeconds?: number;
  /** Also roll the cluster with the sequential field-guide script. @default true */
  readonly sequential?: boolean;
  /** kwokctl cluster name. */
  readonly clusterName: string;
  readonly log?: (line: string) => void;
}

export interface RollPhase {
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
  /** Nodes at the target and schedulable afterwards / all nodes. */
  readonly atTarget: number;
  readonly nodes: number;
}

export interface RollBenchResult {
  readonly pulumi: RollPhase & {
    readonly drainMedianMs?: number;
    readonly evicted: number;
    readonly retries: number;
  };
  readonly lowerBoundMs?: number;
  readonly overheadPerNodeMs?: number;
  readonly sequentialRoll?: RollPhase & { readonly drainMedianMs?: number };
  readonly markdown: string;
}

function upgradeScript(node: string, kubectl: string, kubeconfig: string, t: number): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const status = JSON.stringify({
    status: { nodeInfo: { kubeletVersion: TARGET_VERSION, kubeProxyVersion: TARGET_VERSION } },
  });
  // the same steps as the demo program's simulatedUpgrade (examples/pulumi/index.ts)
  return [
    "set -eu",
    `echo ${q(`[${node}] (simulated) kubeadm upgrade: ${CURRENT_VERSION} -> ${TARGET_VERSION}`)}`,
    `sleep ${t}`,
    `${q(kubectl)} --kubeconfig ${q(kubeconfig)} patch node ${q(node)} --subresource=status --type=merge -p ${q(status)}`,
  ].join("\n");
}

async function finalState(c: SimulatedCluster): Promise<{ atTarget: number; nodes: number }> {
  const states = await nodeStates(c.kc);
  const names = [...c.controlPlanes, ...c.workers];
  return {
    atTarget: names.filter((n) => states[n]?.version === TARGET_VERSION && !states[n].unschedulable)
      .length,
    nodes: names.length,
  };
}

async function resetVersions(c: SimulatedCluster): Promise<void> {
  const core = c.kc.makeApiClient(CoreV1Api);
  for (const name of [...c.controlPlanes, ...c.workers]) {
    await core.patchNodeStatus(
      {
        name,
        body: {
          status: {
            nodeInfo: { kubeletVersion: CURRENT_VERSION, kubeProxyVersion: CURRENT_VERSION },
          },
        },
      },
      MERGE_PATCH,
    );
  }
}

async function sequentialRoll(
  c: SimulatedCluster,
  t: number,
  log?: (line: string) => void,
): Promise<RollPhase & { drainMedianMs?: number }> {
  const { kubectl } = binaries();
  const kubeconfig = c.info.kubeconfigPath;
  const knownHosts = join(c.sshd.dir, "bench_known_hosts");
  writeFileSync(knownHosts, `${c.sshd.knownHostsLine}\n`);
  const ssh = [
    "-i",
    c.sshd.privateKeyPath,
    "-p",
    String(c.sshd.port),
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    `${c.sshd.user}@${c.sshd.host}`,
    "bash",
    "-s",
  ];
  const drains: number[] = [];
  const t0 = performance.now();
  try {
    const names = [...c.controlPlanes, ...c.workers];
    for (const [i, node] of names.entries()) {
      const d0 = performance.now();
      await run(
        kubectl,
        ["--kubeconfig", kubeconfig, "drain", node, "--ignore-daemonsets", "--timeout=300s"],
        { maxBuffer: 16 << 20 },
      );
      drains.push(performance.now() - d0);
      await new Promise<void>((resolve, reject) => {
        const child = execFile("ssh", ssh, { maxBuffer: 16 << 20 }, (err) =>
          err ? reject(err) : resolve(),
        );
        child.stdin?.end(upgradeScript(node, kubectl, kubeconfig, t));
      });
      await run(kubectl, ["--kubeconfig", kubeconfig, "uncordon", node]);
      if ((i + 1) % 10 === 0) log?.(`P2 sequential: ${i + 1}/${names.length} nodes`);
    }
    const ms = performance.now() - t0;
    return { ok: true, ms, drainMedianMs: summarize(drains)?.median, ...(await finalState(c)) };
  } catch (e) {
    const ms = performance.now() - t0;
    const err = e as { stderr?: string };
    return {
      ok: false,
      ms,
      error: shortError(err.stderr || e),
      drainMedianMs: summarize(drains)?.median,
      ...(await finalState(c)),
    };
  }
}

export async function rollBench(o: RollBenchOptions): Promise<RollBenchResult> {
  const workers = o.workers ?? 100;
  const maxUnavailable = o.maxUnavailable ?? 10;
  const t = o.upgradeSeconds ?? 5;
  const log = o.log;
  checkPrerequisites();
  log?.("P2: building dist-lib (the dynamic providers load kube-upkeep/core from it)");
  await buildLibrary();
  const cluster = await startSimulatedCluster({ name: o.clusterName, workers, log });
  let demo: DemoStack | undefined;
  try {
    demo = await createDemoStack(cluster, "bench", {
      maxUnavailable,
      simulatedUpgradeSeconds: t,
      etcdSnapshot: false,
    });
    log?.(`P2: pulumi up (3 + ${workers} nodes, maxUnavailable ${maxUnavailable}, T ${t} s)`);
    let pulumi: RollBenchResult["pulumi"];
    const t0 = performance.now();
    try {
      const up = await demo.stack.up({ onOutput: () => undefined });
      const ms = performance.now() - t0;
      const drains = (up.outputs.drains?.value ?? []) as {
        evicted: number;
        retries: number;
        durationMs: number;
      }[];
      const state = await finalState(cluster);
      pulumi = {
        ok: up.summary.result === "succeeded" && state.atTarget === state.nodes,
        ms,
        ...state,
        drainMedianMs: summarize(drains.map((d) => d.durationMs))?.median,
        evicted: drains.reduce((s, d) => s + d.evicted, 0),
        retries: drains.reduce((s, d) => s + d.retries, 0),
        ...(up.summary.result === "succeeded" ? {} : { error: `result ${up.summary.result}` }),
      };
    } catch (e) {
      pulumi = {
        ok: false,
        ms: performance.now() - t0,
        error: shortError(e),
        evicted: 0,
        retries: 0,
        ...(await finalState(cluster)),
      };
    }
    log?.(`P2: pulumi up ${pulumi.ok ? "ok" : "FAILED"} in ${seconds(pulumi.ms)}`);
    const path = 3 + Math.ceil(workers / maxUnavailable);
    const lowerBoundMs =
      pulumi.drainMedianMs !== undefined ? path * (t * 1000 + pulumi.drainMedianMs) : undefined;
    const overheadPerNodeMs =
      lowerBoundMs !== undefined && pulumi.ok ? (pulumi.ms - lowerBoundMs) / path : undefined;

    let seq: RollBenchResult["sequentialRoll"];
    if (o.sequential ?? true) {
      await resetVersions(cluster);
      log?.(`P2: sequential field-guide script over ${3 + workers} nodes`);
      seq = await sequentialRoll(cluster, t, log);
      log?.(`P2: sequential ${seq.ok ? "ok" : "FAILED"} in ${seconds(seq.ms)}`);
    }
    const outcome = (p: RollPhase) =>
      `${p.ok ? "ok" : `FAILED: ${p.error ?? ""}`}; ${p.atTarget}/${p.nodes} nodes at ${TARGET_VERSION} and schedulable`;
    const rows = [
      [
        "kube-upkeep ClusterUpgrade (`pulumi up`)",
        outcome(pulumi),
        seconds(pulumi.ms),
        seconds(pulumi.drainMedianMs),
        `${pulumi.evicted} evictions, ${pulumi.retries} PDB retries`,
        "1.00x",
      ],
      ...(seq
        ? [
            [
              "field guide, sequential (`kubectl drain`, ssh upgrade, `kubectl uncordon`)",
              outcome(seq),
              seconds(seq.ms),
              seconds(seq.drainMedianMs),
              "-",
              pulumi.ok && seq.ok ? `${(seq.ms / pulumi.ms).toFixed(2)}x` : "-",
            ],
          ]
        : []),
    ];
    const markdown = [
      `### P2 roll: 3 control-plane + ${workers} kwok workers, maxUnavailable ${maxUnavailable}, simulated upgrade T = ${t} s`,
      "",
      table(["procedure", "outcome", "total", "median drain", "drains", "time / pulumi up"], rows),
      "",
      table(
        [
          "lower bound (3 + ceil(N/K)) x (T + median drain)",
          "pulumi up - lower bound",
          "orchestration overhead per node on the critical path",
        ],
        [
          [
            seconds(lowerBoundMs),
            lowerBoundMs !== undefined ? seconds(pulumi.ms - lowerBoundMs) : "-",
            seconds(overheadPerNodeMs),
          ],
        ],
      ),
      "",
      `Goals (issue 16): orchestration overhead <= 2 s per node: ${
        overheadPerNodeMs === undefined
          ? "not measurable"
          : overheadPerNodeMs <= 2000
            ? "met"
            : "missed"
      }; roll >= 5x faster than the sequential procedure: ${
        seq && seq.ok && pulumi.ok ? (seq.ms / pulumi.ms >= 5 ? "met" : "missed") : "not measurable"
      }${seq && seq.ok && pulumi.ok ? ` (${(seq.ms / pulumi.ms).toFixed(2)}x)` : ""}.`,
      "",
      "The demo program's workloads (test/e2e/simulated-cluster.ts workloadsFor: web N+1 replicas with PDB minAvailable N, api, cache), no etcd snapshot; remote.Command through the provider the demo uses.",
    ].join("\n");
    return { pulumi, lowerBoundMs, overheadPerNodeMs, sequentialRoll: seq, markdown };
  } finally {
    await demo?.dispose().catch(() => undefined);
    await cluster.stop().catch((e: unknown) => log?.(`P2: cluster stop failed: ${String(e)}`));
  }
}
