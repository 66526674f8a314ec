/**
 * NodeUpgrade or NodeRollback of the nodes in config `nodes` (see Pulumi.yaml), one after the
 * other. Secrets (`sshPrivateKey`, `kubeconfig`) are read with requireSecret.
 */
import * as pulumi from "@pulumi/pulumi";
import { NodeRollback, NodeUpgrade, type NodeRollback as Rollback } from "kube-upkeep/pulumi";

interface NodeConfig {
  readonly name: string;
  readonly role: "control-plane" | "worker";
  readonly host: string;
  readonly hostKey?: string;
  /** control plane: the pre-upgrade etcd snapshot to restore, with the member's peer URL */
  readonly etcdSnapshot?: string;
  readonly peerUrl?: string;
}

const config = new pulumi.Config();
const action = config.require("action");
const version = config.require("version");
const nodes = config.requireObject<NodeConfig[]>("nodes");
const kubeconfig = config.requireSecret("kubeconfig");
const privateKey = config.requireSecret("sshPrivateKey");
const packageRepository = config.require("packageRepository");
const readyTimeoutSeconds = config.getNumber("readyTimeoutSeconds") ?? 300;

let previous: pulumi.Resource | undefined;
const versions: Record<string, pulumi.Output<string>> = {};
for (const n of nodes) {
  const connection = { host: n.host, user: "root", privateKey, hostKey: n.hostKey };
  const opts = previous ? { dependsOn: [previous] } : {};
  if (action === "upgrade") {
    const u = new NodeUpgrade(
      n.name,
      {
        nodeName: n.name,
        targetVersion: version,
        mode: "node",
        kubeconfig,
        connection,
        readyTimeoutSeconds,
        script: {
          packageRepository,
          kubeadmFlags: config.getObject<string[]>("kubeadmFlags") ?? [],
        },
      },
      opts,
    );
    versions[n.name] = u.kubeletVersion;
    previous = u;
  } else {
    const r: Rollback = new NodeRollback(
      n.name,
      {
        nodeName: n.name,
        previousVersion: version,
        role: n.role,
        kubeconfig,
        connection,
        readyTimeoutSeconds,
        script: {
          packageRepository,
          // the harness's repositories carry kubectl for the newest version only
          upgradeKubectl: false,
          ...(n.etcdSnapshot
            ? {
                etcdSnapshot: {
                  snapshot: n.etcdSnapshot,
                  dataDir: "/var/lib/etcd-rollback",
                  name: n.name,
                  initialCluster: [{ name: n.name, peerUrl: n.peerUrl! }],
                },
              }
            : {}),
        },
      },
      opts,
    );
    versions[n.name] = r.kubeletVersion;
    previous = r;
  }
}

export const kubeletVersions = versions;
