/**
 * The demo program behind Pulumi.yaml: a rolling upgrade of a simulated cluster with
 * ClusterUpgrade. `npm run demo` (scripts/demo.ts) creates the cluster and the stack config; see
 * docs/demo.md.
 *
 * Everything is the real thing except the per-node upgrade command: the nodes are kwok nodes
 * (no kubelet, no packages), so the command that ClusterUpgrade runs over SSH (remote.Command,
 * a real sshd on loopback) does what a real `kubeadm upgrade` + kubelet restart visibly does to
 * the API: after a while the node reports the new kubelet version (a status patch with kubectl).
 * The drain (evictions, PodDisruptionBudget retries), the wait for Ready at the target, the
 * uncordon, the order across nodes and the etcd snapshot (etcdctl against the cluster's real
 * etcd, over SSH) are the production code paths.
 */
import * as pulumi from "@pulumi/pulumi";
import { quote } from "shell-quote";
import { renderNodeUpgradeScript, shq, type HealthCheck } from "kube-upkeep/core";
import { ClusterUpgrade, type ClusterNode, type NodeCommandContext } from "kube-upkeep/pulumi";

const config = new pulumi.Config();

const controlPlanes = config.requireObject<string[]>("controlPlaneNodes");
const workers = config.getObject<string[]>("workerNodes") ?? [];
const currentVersion = config.require("currentVersion");
const targetVersion = config.require("targetVersion");
const maxUnavailableText = config.get("maxUnavailable") ?? "1";
const maxUnavailable = /^\d+$/.test(maxUnavailableText)
  ? Number(maxUnavailableText)
  : maxUnavailableText;
const kubeconfig = config.requireSecret("kubeconfig");
const kubeconfigPath = config.require("kubeconfigPath");
const kubectl = config.require("kubectl");
const simulatedSeconds = config.getNumber("simulatedUpgradeSeconds") ?? 1;
const failNodes = new Set(config.getObject<string[]>("failNodes") ?? []);
/** Nodes whose kubelet does not come back at the target after the (simulated) upgrade. */
const neverReadyNodes = new Set(config.getObject<string[]>("neverReadyNodes") ?? []);
/** When set, every simulated upgrade that does work appends "<node> <from> <target>" here. */
const upgradeLog = config.get("upgradeLog") ?? "";
/** Where each `pulumi up` writes its roll report (report.html, report.json); empty for none. */
const reportDir = config.get("reportDir") ?? "";
/** JSON list of ClusterUpgrade health checks run after each node's uncordon ("" for none). */
const healthChecksText = config.get("healthChecks") ?? "";
const healthChecks: HealthCheck[] | undefined =
  healthChecksText === "" ? undefined : (JSON.parse(healthChecksText) as HealthCheck[]);
/**
 * When set, each node runs the real rendered upgrade script (renderNodeUpgradeScript) with the
 * fake kubeadm node tools in <nodeTools>/<node>/bin first on PATH (the e2e tests write them:
 * package managers, kubeadm, kubelet and systemctl that record their runs in
 * <nodeTools>/<node>/tools.log and keep versions in <nodeTools>/<node>/state; the kubelet
 * restart reports the new version to the API) instead of the simulated command.
 */
const nodeTools = config.get("nodeTools") ?? "";

const connection = {
  host: config.get("sshHost") ?? "127.0.0.1",
  port: config.getNumber("sshPort") ?? 22,
  user: config.get("sshUser") ?? "root",
  privateKey: config.requireSecret("sshPrivateKey"),
  hostKey: config.require("sshHostKey"),
  dialErrorLimit: 3,
};

/**
 * What a node goes through, simulated: the kubeadm step, then the kubelet restart after which
 * the node reports the target version. On a real node this is the rendered script
 * (renderNodeUpgradeScript: packages, kubeadm upgrade apply/node, kubelet restart).
 */
function simulatedUpgrade(n: NodeCommandContext): string {
  const kubeadm =
    n.mode === "apply" ? `kubeadm upgrade apply ${n.targetVersion} -y` : "kubeadm upgrade node";
  if (failNodes.has(n.nodeName)) {
    return [
      `echo ${quote([`[${n.nodeName}] (simulated) ${kubeadm}`])}`,
      `echo ${quote([`[${n.nodeName}] simulated failure: ${kubeadm} exited 1`])} >&2`,
      "exit 1",
    ].join("; ");
  }
  if (neverReadyNodes.has(n.nodeName)) {
    return [
      `echo ${quote([`[${n.nodeName}] (simulated) ${kubeadm}; systemctl restart kubelet`])}`,
      `echo ${quote([`[${n.nodeName}] (simulated) the kubelet does not come back at ${n.targetVersion}`])}`,
    ].join("; ");
  }
  const status = JSON.stringify({
    status: { nodeInfo: { kubeletVersion: n.targetVersion, kubeProxyVersion: n.targetVersion } },
  });
  const kubectlNode = [kubectl, "--kubeconfig", kubeconfigPath];
  return [
    "set -eu",
    // like the rendered script: a node already at the target is left alone (a re-run after an
    // interrupted `pulumi up` must not upgrade a node twice)
    `current=$(${quote([...kubectlNode, "get", "node", n.nodeName, "-o", "jsonpath={.status.nodeInfo.kubeletVersion}"])})`,
    `if [ "$current" = ${quote([n.targetVersion])} ]; then echo ${quote([`[${n.nodeName}] kubelet already at ${n.targetVersion}: nothing to do`])}; exit 0; fi`,
    `echo ${quote([`[${n.nodeName}] (simulated) ${kubeadm}: ${n.fromVersion} -> ${n.targetVersion}`])}`,
    `sleep ${Number(simulatedSeconds)}`,
    `echo ${quote([`[${n.nodeName}] (simulated) kubelet ${n.targetVersion} installed, systemctl restart kubelet`])}`,
    quote([
      ...kubectlNode,
      "patch",
      "node",
      n.nodeName,
      "--subresource=status",
      "--type=merge",
      "-p",
      status,
    ]),
    // the upgrade took effect: count it (set -eu: only after the patch succeeded)
    ...(upgradeLog === ""
      ? []
      : [
          `echo ${quote([`${n.nodeName} ${n.fromVersion} ${n.targetVersion}`])} >> ${quote([upgradeLog])}`,
        ]),
  ].join("\n");
}

/** The rendered upgrade script on a node made of fake tools (see `nodeTools`). */
function scriptOnFakeNode(n: NodeCommandContext): string {
  const dir = `${nodeTools}/${n.nodeName}`;
  // the sources of the machine behind the SSH host are never looked at: packageRepository false
  const script = renderNodeUpgradeScript({
    targetVersion: n.targetVersion,
    mode: n.mode,
    packageRepository: false,
  });
  return [
    `PATH=${shq(`${dir}/bin`)}:"$PATH" LOG=${shq(`${dir}/tools.log`)} STATE=${shq(`${dir}/state`)}`,
    "export PATH LOG STATE",
    `exec sh -c ${shq(script)}`,
  ].join("\n");
}

const nodes: ClusterNode[] = [
  ...controlPlanes.map((name): ClusterNode => ({ name, role: "control-plane", connection })),
  ...workers.map((name): ClusterNode => ({ name, role: "worker", connection })),
];

const etcdEndpoint = config.get("etcdEndpoint") ?? "";

const upgrade = new ClusterUpgrade("upgrade", {
  nodes,
  currentVersion,
  targetVersion,
  maxUnavailable,
  kubeconfig,
  commandOverride: nodeTools === "" ? simulatedUpgrade : scriptOnFakeNode,
  drain: {
    timeoutSeconds: config.getNumber("drainTimeoutSeconds") ?? 300,
    retryIntervalMs: config.getNumber("drainRetryIntervalMs") ?? 5000,
    waitForBlockedPdbs: config.getBoolean("drainWaitForBlockedPdbs") ?? false,
  },
  readyTimeoutSeconds: config.getNumber("readyTimeoutSeconds") ?? 120,
  healthChecks,
  // kwok nodes run no static pods, kube-proxy or CoreDNS: the upgrade verification runs on the
  // real nodes (examples/pulumi-real-nodes)
  verify: false,
  // each `pulumi up` writes <reportDir>/<UTC start time>/report.html (a timeline of the roll)
  report: reportDir === "" ? undefined : { path: reportDir },
  etcdSnapshot:
    etcdEndpoint === ""
      ? false
      : {
          endpoint: etcdEndpoint,
          cacert: config.get("etcdCacert"),
          cert: config.get("etcdCert"),
          key: config.get("etcdKey"),
          etcdctl: config.get("etcdctl"),
          etcdutl: config.get("etcdutl"),
          backupDir: config.get("etcdBackupDir"),
          retention: { count: 5 },
          timeoutSeconds: config.getNumber("etcdTimeoutSeconds"),
        },
});

export const plan = upgrade.planText;
export const kubeletVersions = upgrade.kubeletVersions;
export const etcdSnapshotPath = upgrade.snapshot ? upgrade.snapshot.stdout : "";
/** This run's report page ("" without reportDir, and in a preview). */
export const report = upgrade.reportFile ?? "";
/**
 * Per node: evicted pods and PDB retries of its drain. The node resources exist once the plan is
 * made from the cluster (upgrade.ready).
 */
export const drains = pulumi.output(
  upgrade.ready.then(() =>
    pulumi.all(
      Object.entries(upgrade.nodeUpgrades).map(([name, u]) =>
        pulumi
          .all([u.drain.evictedPods, u.drain.retries, u.drain.durationMs])
          .apply(([evicted, retries, durationMs]) => ({
            name,
            evicted: evicted.length,
            retries,
            durationMs,
          })),
      ),
    ),
  ),
);
/** Per node with health checks: what each check saw. */
export const healthGates = pulumi.output(
  upgrade.ready.then(() =>
    pulumi.all(
      Object.fromEntries(Object.entries(upgrade.healthGates).map(([n, g]) => [n, g.results])),
    ),
  ),
);
