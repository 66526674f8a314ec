/**
 * The roll's progress in the cluster, on the local control plane: the dynamic providers' creates
 * (NodeDrain, NodeReadyWait, NodeUncordon) called directly with their `progress` input, as
 * NodeUpgrade passes it. Each step's core/v1 Event is on the Node (reportingComponent and source
 * kube-upkeep), in order, and `kubectl describe node` shows them; the kube-upkeep.io/upgrade
 * annotation records the last step; a drain of a node this run already upgraded is skipped; a
 * failing drain leaves a Warning "Failed" naming the reason and does not advance the annotation.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { CoreV1Api, type CoreV1Event } from "@kubernetes/client-node";
import { nodeDrainProvider } from "../../../lib/pulumi/node-drain";
import { nodeReadyWaitProvider } from "../../../lib/pulumi/node-ready-wait";
import { nodeUncordonProvider } from "../../../lib/pulumi/node-uncordon";
import { UPGRADE_ANNOTATION, parseUpgradeProgress } from "../../../lib/core/progress/annotation";
import { binaries } from "../../cluster/cluster";
import { createPdb, waitForPdbStatus } from "../../cluster/fixtures";
import { type DrainEnv, KUBELET_VERSION, drainEnv } from "../drain/helpers";

jest.setTimeout(180_000);
const run = promisify(execFile);

let env: DrainEnv;
let kubeconfig: string;
beforeAll(async () => {
  env = await drainEnv("progress");
  kubeconfig = readFileSync(process.env.KUBECONFIG ?? "", "utf8");
});
afterAll(async () => {
  await env?.cleanup();
});

/** kube-upkeep's Events on the node, in the order they were written. */
async function eventsOf(node: string): Promise<CoreV1Event[]> {
  const list = await env.kc.makeApiClient(CoreV1Api).listNamespacedEvent({
    namespace: "default",
    fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node}`,
  });
  return list.items
    .filter((e) => e.reportingComponent === "kube-upkeep")
    .sort((x, y) => Number(x.metadata.resourceVersion) - Number(y.metadata.resourceVersion));
}

test("every step's Event on the node, in order, in kubectl describe node; the annotation; a re-run's drain skipped", async () => {
  const { a, pods } = await env.podsToEvict("pg", "web");
  const runId = "progress@v1.35.4";
  const progress = {
    runId,
    targetVersion: KUBELET_VERSION,
    mode: "node" as const,
    fromVersion: "v1.34.4",
  };
  const drained = await nodeDrainProvider.create!({
    nodeName: a,
    kubeconfig,
    runId,
    options: { ignoreDaemonSets: true, timeoutSeconds: 60, retryIntervalMs: 500 },
    progress,
  });
  expect(drained.outs.evictedPods).toHaveLength(pods.length);
  expect(
    parseUpgradeProgress((await env.readNode(a)).metadata?.annotations?.[UPGRADE_ANNOTATION]),
  ).toMatchObject({ runId, step: "drained", mode: "node", from: "v1.34.4" });
  await nodeReadyWaitProvider.create!({
    nodeName: a,
    kubeconfig,
    targetVersion: KUBELET_VERSION,
    timeoutSeconds: 30,
    pollSeconds: 0.5,
    progress,
  });
  const u = await nodeUncordonProvider.create!({ nodeName: a, kubeconfig, runId, progress });
  expect(u.outs.outcome).toBe("uncordoned");

  const events = await eventsOf(a);
  expect(events.map((e) => [e.reason, e.type])).toEqual([
    ["Cordoned", "Normal"],
    ["Drained", "Normal"],
    ["UpgradeStarted", "Normal"],
    ["Upgraded", "Normal"],
    ["Uncordoned", "Normal"],
  ]);
  for (const e of events) {
    expect(e.source?.component).toBe("kube-upkeep");
    expect(e.involvedObject.uid).toBe((await env.readNode(a)).metadata?.uid);
    expect(e.reportingInstance).toBeTruthy();
  }
  // in the order they happened, to the microsecond, and so are their names (the API's order)
  const times = events.map((e) => new Date(String(e.eventTime)).getTime());
  expect([...times].sort((x, y) => x - y)).toEqual(times);
  const names = events.map((e) => e.metadata.name!);
  expect([...names].sort()).toEqual(names);
  expect(events[1]!.message).toMatch(
    new RegExp(
      `^drained in \\d+\\.\\d s: ${pods.length} pod\\(s\\) evicted, \\d+ PodDisruptionBudget retries$`,
    ),
  );
  expect(events[2]!.message).toBe(
    `upgrading from v1.34.4 to ${KUBELET_VERSION}: kubeadm upgrade node and the kubelet over SSH (run ${runId})`,
  );
  expect(events[3]!.message).toMatch(new RegExp(`^Ready with kubelet ${KUBELET_VERSION} `));

  // what a user sees
  const { stdout } = await run(binaries().kubectl, [
    "--kubeconfig",
    process.env.KUBECONFIG ?? "",
    "describe",
    "node",
    a,
  ]);
  const table = stdout.slice(stdout.indexOf("Events:"));
  process.stderr.write(`[progress] kubectl describe node ${a}:\n${table}\n`);
  const shown = [...table.matchAll(/^\s+Normal\s+(\w+)\s+\S+\s+kube-upkeep\s+\S/gm)].map(
    (m) => m[1],
  );
  expect(shown).toEqual(["Cordoned", "Drained", "UpgradeStarted", "Upgraded", "Uncordoned"]);

  const recorded = parseUpgradeProgress(
    (await env.readNode(a)).metadata?.annotations?.[UPGRADE_ANNOTATION],
  );
  expect(recorded).toEqual({
    runId,
    target: KUBELET_VERSION,
    from: "v1.34.4",
    mode: "node",
    step: "uncordoned",
    at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  });

  // the same run's drain again (its Pulumi state lost): the node is not cordoned again
  const again = await nodeDrainProvider.create!({
    nodeName: a,
    kubeconfig,
    runId,
    options: { ignoreDaemonSets: true, timeoutSeconds: 60 },
    progress,
  });
  expect(again.outs).toMatchObject({ resumed: "done", evictedPods: [], cordonedByUs: false });
  expect((await env.readNode(a)).spec?.unschedulable).toBeUndefined();
  const after = await eventsOf(a);
  expect(after.slice(events.length).map((e) => e.reason)).toEqual(["Resumed"]);
});

test("a drain that fails: a Warning Failed with the reason; the annotation is not advanced", async () => {
  const { a } = await env.podsToEvict("pf", "api");
  // both replicas on a, and the budget wants both: the eviction can never be allowed
  await createPdb(env.kc, env.ns, { name: "api-pdb", selector: { app: "api" }, minAvailable: 2 });
  await waitForPdbStatus(env.kc, env.ns, "api-pdb", { disruptionsAllowed: 0, currentHealthy: 2 });
  const runId = "progress-fail@v1.35.4";
  const t0 = Date.now();
  await expect(
    nodeDrainProvider.create!({
      nodeName: a,
      kubeconfig,
      runId,
      options: { timeoutSeconds: 60, retryIntervalMs: 500 },
      progress: { runId, targetVersion: KUBELET_VERSION, mode: "node" },
    }),
  ).rejects.toThrow(/api-pdb/);
  expect(Date.now() - t0).toBeLessThan(30_000);
  // the drain sees up front that the budget can never allow it: it fails before the cordon
  const events = await eventsOf(a);
  expect(events.map((e) => [e.reason, e.type])).toEqual([["Failed", "Warning"]]);
  process.stderr.write(`[progress] Failed event: ${events[0]!.message}\n`);
  expect(events[0]!.message).toMatch(/^drain failed: /);
  expect(events[0]!.message).toContain("api-pdb");
  expect((await env.readNode(a)).metadata?.annotations?.[UPGRADE_ANNOTATION]).toBeUndefined();
});
