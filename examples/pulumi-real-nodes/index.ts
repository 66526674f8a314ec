/**
 * A rolling upgrade of real kubeadm nodes (Pulumi.yaml beside this file): every node runs the
 * rendered upgrade script over SSH; nothing is simulated. Secrets: `sshPrivateKey` and
 * `kubeconfig` are read with requireSecret and stay secrets in the state.
 */
import * as pulumi from "@pulumi/pulumi";
import { ClusterUpgrade, type ClusterNode } from "kube-upkeep/pulumi";

interface NodeConfig {
  readonly name: string;
  readonly role: "control-plane" | "worker";
  readonly host: string;
  readonly hostKey?: string;
  readonly packageRepository?: string;
}

const config = new pulumi.Config();
const nodeConfigs = config.requireObject<NodeConfig[]>("nodes");
const privateKey = config.requireSecret("sshPrivateKey");
const maxUnavailableText = config.get("maxUnavailable") ?? "1";
const packageRepository = config.get("packageRepository") || undefined;
/** e.g. ["--ignore-preflight-errors=SystemVerification"] on cgroup v1 hosts (docs/real-nodes.md) */
const kubeadmFlags = config.getObject<string[]>("kubeadmFlags") ?? [];

const nodes: ClusterNode[] = nodeConfigs.map((n) => ({
  name: n.name,
  role: n.role,
  connection: { host: n.host, user: "root", privateKey, hostKey: n.hostKey, dialErrorLimit: 3 },
  ...(n.packageRepository ? { script: { packageRepository: n.packageRepository } } : {}),
}));

const upgrade = new ClusterUpgrade("upgrade", {
  nodes,
  targetVersion: config.require("targetVersion"),
  currentVersion: config.get("currentVersion") || undefined,
  maxUnavailable: /^\d+$/.test(maxUnavailableText)
    ? Number(maxUnavailableText)
    : maxUnavailableText,
  kubeconfig: config.requireSecret("kubeconfig"),
  script: { ...(packageRepository ? { packageRepository } : {}), kubeadmFlags },
  drain: { timeoutSeconds: config.getNumber("drainTimeoutSeconds") ?? 600 },
  readyTimeoutSeconds: config.getNumber("readyTimeoutSeconds") ?? 300,
  // kubeadm's etcd: https://127.0.0.1:2379 with the certificates under /etc/kubernetes/pki/etcd
  etcdSnapshot: { retention: { count: 3 } },
});

export const plan = upgrade.planText;
export const kubeletVersions = upgrade.kubeletVersions;
/** What the upgrade verification saw: per control-plane node, and "cluster" after the last node. */
export const verification = upgrade.verification;
export const etcdSnapshotPath = upgrade.snapshot ? upgrade.snapshot.stdout : "";
