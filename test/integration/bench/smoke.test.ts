/**
 * Smoke run of every benchmark of bench/ at tiny sizes, so the code behind `npm run bench` keeps
 * working. No timing assertions: only that each benchmark completes, really did the work (pods
 * evicted from the drained node by both tools, kubectl really ran, the charts really synthesized)
 * and produced its table rows. P1, P1b run on the integration project's cluster (globalSetup); P2
 * starts its own simulated cluster and sshd (like the e2e tests) and needs the Pulumi engine.
 */
import { countKubectlRefusals, drainBench, type DrainBenchResult } from "../../../bench/drain";
import { rollBench } from "../../../bench/roll";
import { synthBench } from "../../../bench/synth";
import { binaries, TEST_CLUSTER_PREFIX } from "../../cluster/cluster";
import { loadKubeConfig } from "../../cluster/fixtures";

jest.setTimeout(300_000);

const PODS = 10;

function common() {
  const kubeconfigPath = process.env.KUBECONFIG;
  if (!kubeconfigPath) throw new Error("KUBECONFIG is not set (integration globalSetup)");
  return {
    kc: loadKubeConfig(),
    kubeconfigPath,
    kubectl: binaries().kubectl,
    runs: 1,
    pods: PODS,
    others: 3,
    timeoutSeconds: 120,
  };
}

function expectDrainTable(res: DrainBenchResult): void {
  expect(res.runs.map((r) => r.tool)).toEqual(["kube-upkeep", "kubectl"]);
  expect(res.markdown).toContain(res.title);
  expect(res.markdown).toMatch(/^\| kube-upkeep \| [01]\/1 \|/m);
  expect(res.markdown).toMatch(/^\| kubectl \| [01]\/1 \|/m);
}

test("P1 drain without a PDB: both tools evict every pod of the drained node", async () => {
  const res = await drainBench(common());
  expectDrainTable(res);
  for (const r of res.runs) {
    expect({ tool: r.tool, ok: r.ok, error: r.error }).toEqual({
      tool: r.tool,
      ok: true,
      error: undefined,
    });
    expect(r.evicted).toBe(PODS);
    expect(r.leftOnNode).toBe(0);
    expect(r.refusals).toBe(0);
    expect(r.ms).toBeGreaterThan(0);
  }
  expect(res.medianRatio).toBeGreaterThan(0);
  expect(res.markdown).toMatch(/^\| kube-upkeep \| 1\/1 \| [\d.]+ s \|/m);
});

test("P1b drain under a PDB: kubectl's refusals are counted; every outcome is a row", async () => {
  const res = await drainBench({ ...common(), pdbMaxUnavailable: 3 });
  expectDrainTable(res);
  const kubectl = res.runs.find((r) => r.tool === "kubectl");
  expect(kubectl).toMatchObject({ ok: true, evicted: PODS, leftOnNode: 0 });
  // how many evictions the budget refuses depends on timing (kwok makes replacements Ready at
  // once, and kubectl's client rate limit spreads its evictions), so only the counting is checked
  expect(kubectl?.refusals).toBeGreaterThanOrEqual(0);
  expect(
    countKubectlRefusals(
      'evicting pod ns/a\nerror when evicting pods/"a" -n "ns" (will retry after 5s): Cannot evict pod as it would violate the pod\'s disruption budget.\npod/b evicted\n',
    ),
  ).toBe(1);
  const ku = res.runs.find((r) => r.tool === "kube-upkeep");
  expect({ ok: ku?.ok, error: ku?.error }).toEqual({ ok: true, error: undefined });
  // refusals may be 0: evictions retried after a 409 on the PDB can find the budget replenished
  expect(ku).toMatchObject({ evicted: PODS, leftOnNode: 0 });
});

test("P3 synth: two sizes in child processes, with and without DrainSafety, with peak RSS and the growth exponent", async () => {
  const res = await synthBench({ sizes: [20, 50], perChart: 25 });
  expect(res.rows.map((r) => [r.pairs, r.ok, r.error])).toEqual([
    [20, true, undefined],
    [50, true, undefined],
  ]);
  for (const r of res.rows) {
    expect(r.result?.files).toBe(Math.ceil(r.pairs / 25));
    expect(r.result?.warnings).toBe(0);
    expect(r.result?.maxRssKb).toBeGreaterThan(0);
  }
  // one check per DrainSafety per synth, although cdk8s validates the app charts + 1 times
  expect(res.rows.map((r) => r.result?.drainSafetyChecks)).toEqual([1, 2]);
  expect(res.rows.map((r) => r.result?.drainSafetyValidations)).toEqual([2, 6]);
  expect(res.baselineRows.map((r) => [r.pairs, r.ok, r.result?.drainSafetyChecks])).toEqual([
    [20, true, 0],
    [50, true, 0],
  ]);
  expect(res.exponents).toHaveLength(1);
  expect(Number.isFinite(res.exponents[0].exponent)).toBe(true);
  expect(res.markdown).toMatch(/^\| 20 \| 1 \| DrainSafety \| ok \|/m);
  expect(res.markdown).toMatch(/^\| 50 \| 2 \| DrainSafety \| ok \|/m);
  expect(res.markdown).toMatch(/^\| 50 \| 2 \| cdk8s alone \(baseline\) \| ok \|/m);
});

test("P2 roll: pulumi up of ClusterUpgrade and the sequential script both upgrade every node", async () => {
  const res = await rollBench({
    workers: 2,
    maxUnavailable: 1,
    upgradeSeconds: 1,
    clusterName: `${TEST_CLUSTER_PREFIX}${process.pid}-bench-roll`,
  });
  expect({ ok: res.pulumi.ok, error: res.pulumi.error }).toEqual({ ok: true, error: undefined });
  expect(res.pulumi).toMatchObject({ atTarget: 5, nodes: 5 });
  expect(res.pulumi.evicted).toBeGreaterThan(0);
  expect(res.sequentialRoll).toMatchObject({ ok: true, atTarget: 5, nodes: 5 });
  expect(res.lowerBoundMs).toBeGreaterThan(0);
  expect(res.markdown).toMatch(/^\| kube-upkeep ClusterUpgrade \(`pulumi up`\) \| ok; 5\/5 nodes/m);
  expect(res.markdown).toMatch(/^\| field guide, sequential .* \| ok; 5\/5 nodes/m);
}, 600_000);
