/**
 * One node's upgrade, step by step as NodeUpgrade orders it, against the local control plane:
 * NodeDrain provider -> the rendered upgrade script -> NodeReadyWait provider -> NodeUncordon
 * provider. The script runs for real (sh) with stub package managers / kubeadm / kubelet; the stub
 * `systemctl restart kubelet` makes the node report the new kubelet version the way a real restart
 * does (a status patch through the real kubectl), and records whether the node was cordoned and
 * empty at that moment.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { renderNodeUpgradeScript } from "../../../lib/core/scripts/node-upgrade";
import { nodeDrainProvider, type NodeDrainOutputs } from "../../../lib/pulumi/node-drain";
import { nodeReadyWaitProvider } from "../../../lib/pulumi/node-ready-wait";
import { nodeUncordonProvider } from "../../../lib/pulumi/node-uncordon";
import { binaries } from "../../cluster/cluster";
import { writeNodeTools } from "../../unit/core/scripts/stubs";
import {
  createDeployment,
  createNamespace,
  createNodes,
  createPdb,
  deleteNamespace,
  deleteNodes,
  loadKubeConfig,
  setUnschedulable,
  uniqueName,
  waitForPdbStatus,
  waitForReadyPods,
} from "../../cluster/fixtures";

jest.setTimeout(180_000);

const KUBECTL = binaries().kubectl;
const TAINT = "kube-upkeep.test/upgrade-private";

const kc = loadKubeConfig();
let ns: string;
let nodes: string[] = [];
let dir: string;

beforeAll(async () => {
  if (!fs.existsSync(KUBECTL)) throw new Error(`${KUBECTL} missing: run npm run cluster:build`);
  ns = await createNamespace(kc, "upgrade-seq");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-upgrade-seq-"));
});
afterAll(async () => {
  await deleteNamespace(kc, ns);
  await deleteNodes(kc, nodes);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Stub node tools; systemctl restart kubelet patches the node's reported version via kubectl. */
function stubBin(
  node: string,
  kubeconfigPath: string,
): { bin: string; state: string; log: string } {
  const bin = path.join(dir, `${node}-bin`);
  const state = path.join(dir, `${node}-state`);
  const log = path.join(dir, `${node}-log`);
  fs.writeFileSync(log, "");
  writeNodeTools(bin, state, {
    kubelet: "v1.34.2",
    kubeadm: "v1.34.2",
    systemctl: `if [ "$1" = restart ]; then
  k() { "${KUBECTL}" --kubeconfig "${kubeconfigPath}" "$@"; }
  printf 'unschedulable=%s\\n' "$(k get node ${node} -o jsonpath='{.spec.unschedulable}')" >> "$LOG"
  printf 'pods-on-node=%s\\n' "$(k get pods -n ${ns} --field-selector spec.nodeName=${node} -o name | wc -l)" >> "$LOG"
  k patch node ${node} --subresource=status --type=merge -p "{\\"status\\":{\\"nodeInfo\\":{\\"kubeletVersion\\":\\"$(cat "$STATE/kubelet")\\"}}}" >/dev/null
fi`,
  });
  return { bin, state, log };
}

test("drain -> upgrade script -> Ready at target -> uncordon: the node is cordoned and empty while it is upgraded", async () => {
  const pool = uniqueName("upg");
  nodes = [`${pool}-a`, `${pool}-b`];
  const [a, b] = nodes as [string, string];
  // b starts cordoned so both replicas land on a; then b opens and a PDB protects the workload
  await createNodes(
    kc,
    nodes.map((name) => ({
      name,
      role: "worker" as const,
      kubeletVersion: "v1.34.2",
      pool,
      unschedulable: name === b,
      taints: [{ key: TAINT, value: pool, effect: "NoSchedule" as const }],
    })),
  );
  const tolerations = [{ key: TAINT, operator: "Exists", effect: "NoSchedule" }];
  await createDeployment(kc, ns, { name: "web", replicas: 2, nodeNames: [a, b], tolerations });
  const before = await waitForReadyPods(kc, ns, { app: "web" }, 2);
  expect(before.map((p) => p.spec?.nodeName)).toEqual([a, a]);
  await setUnschedulable(kc, b, false);
  await createPdb(kc, ns, { name: "web", selector: { app: "web" }, minAvailable: 1 });
  await waitForPdbStatus(kc, ns, "web", (st) => st.disruptionsAllowed === 1);

  const kubeconfigPath = path.join(dir, "kubeconfig");
  const kubeconfig = fs.readFileSync(process.env.KUBECONFIG ?? "", "utf8");
  fs.writeFileSync(kubeconfigPath, kubeconfig);
  const runId = "seq@v1.35.4";

  // 1. drain
  const drained = await nodeDrainProvider.create({
    nodeName: a,
    kubeconfig,
    runId,
    options: { ignoreDaemonSets: true, timeoutSeconds: 90, retryIntervalMs: 1000 },
  });
  const outs = drained.outs as NodeDrainOutputs;
  expect(outs.evictedPods).toHaveLength(2);

  // 2. the upgrade script
  const { bin, state, log } = stubBin(a, kubeconfigPath);
  const script = renderNodeUpgradeScript({ targetVersion: "v1.35.4", mode: "node" });
  const r = spawnSync("/bin/sh", ["-s"], {
    input: script,
    env: { PATH: `${bin}:/usr/bin:/bin`, LOG: log, STATE: state },
    encoding: "utf8",
  });
  expect({ status: r.status, stderr: r.stderr }).toMatchObject({ status: 0 });
  const calls = fs.readFileSync(log, "utf8").trim().split("\n");
  expect(calls).toEqual([
    "kubelet --version",
    "kubeadm version -o short",
    "apt-get update",
    "apt-mark unhold kubeadm",
    "apt-get install -y kubeadm=1.35.4-*",
    "apt-mark hold kubeadm",
    "kubeadm version -o short",
    "kubeadm upgrade node",
    "apt-mark unhold kubelet kubectl",
    "apt-get install -y kubelet=1.35.4-* kubectl=1.35.4-*",
    "apt-mark hold kubelet kubectl",
    "systemctl daemon-reload",
    "systemctl restart kubelet",
    "unschedulable=true",
    "pods-on-node=0",
    "kubelet --version",
  ]);

  // 3. Ready at the target
  const ready = await nodeReadyWaitProvider.create({
    nodeName: a,
    kubeconfig,
    targetVersion: "v1.35.4",
    timeoutSeconds: 60,
    pollSeconds: 0.5,
  });
  expect(ready.outs.kubeletVersion).toBe("v1.35.4");

  // 4. uncordon (only our cordon)
  const unc = await nodeUncordonProvider.create({ nodeName: a, kubeconfig, runId });
  expect(unc.outs).toMatchObject({ uncordoned: true, outcome: "uncordoned" });

  const node = await kc.makeApiClient(CoreV1Api).readNode({ name: a });
  expect(node.spec?.unschedulable).toBeFalsy();
  expect(node.status?.nodeInfo?.kubeletVersion).toBe("v1.35.4");
  // the workload survived: both replicas ready (on b, the only schedulable node during the drain)
  const pods = await waitForReadyPods(kc, ns, { app: "web" }, 2);
  expect(pods.map((p) => p.spec?.nodeName)).toEqual([b, b]);
});
