/**
 * jest globalSetup of the integration project: provides one Kubernetes control plane per test
 * run and exports its kubeconfig to the workers through process.env.KUBECONFIG.
 *
 *  - KU_KUBECONFIG=<path>: use that existing cluster (e.g. the one `npm run cluster:up` prints);
 *    nothing is started or stopped. A plain KUBECONFIG in your shell is deliberately NOT picked
 *    up: the tests create and delete nodes, and it often points at a real cluster.
 *  - otherwise: start a fresh kwokctl cluster ku-test-<pid> from the cached binaries (about
 *    10-20 s) and delete it in globalTeardown (KU_KEEP_CLUSTER=1 keeps it for debugging).
 * Missing binaries fail the run with the command that builds them.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import {
  type ClusterInfo,
  binaries,
  clusterInfo,
  listClusters,
  TEST_CLUSTER_PREFIX,
  deleteStaleTestClusters,
  isClusterReady,
  missingBinaries,
  missingBinariesMessage,
  startCluster,
} from "./cluster";

export interface HarnessState {
  /** Cluster this run started (stopped by globalTeardown); undefined when reusing one. */
  startedCluster?: string;
}

const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

/** KU_ETCD_ENDPOINT (plain http on 127.0.0.1, no client certs) and KU_ETCD_PREFIX for tests. */
function exportEtcd(info: ClusterInfo): void {
  process.env.KU_ETCD_ENDPOINT = info.etcdUrl;
  process.env.KU_ETCD_PREFIX = info.etcdPrefix;
}

export default async function globalSetup(): Promise<void> {
  const state: HarnessState = {};
  (globalThis as { __kuHarness?: HarnessState }).__kuHarness = state;

  const existing = process.env.KU_KUBECONFIG;
  if (existing) {
    if (!existsSync(existing)) throw new Error(`KU_KUBECONFIG=${existing}: no such file`);
    process.env.KUBECONFIG = existing;
    // a kwokctl cluster of ours (npm run cluster:up): also export its etcd endpoint
    const ours = listClusters()
      .map((n) => clusterInfo(n))
      .find((i) => i && resolve(i.kubeconfigPath) === resolve(existing));
    if (ours) exportEtcd(ours);
    if (existsSync(binaries().kubectl) && !(await isClusterReady(existing))) {
      throw new Error(
        `KU_KUBECONFIG=${existing}: the apiserver does not answer /readyz; start it (npm run cluster:up) or unset KU_KUBECONFIG`,
      );
    }
    log(`using the existing cluster of KU_KUBECONFIG=${existing}`);
    return;
  }

  const missing = missingBinaries();
  if (missing.length > 0) throw new Error(missingBinariesMessage(missing));

  await deleteStaleTestClusters(log);
  const name = `${TEST_CLUSTER_PREFIX}${process.pid}`;
  const info = await startCluster({ name, log });
  state.startedCluster = name;
  if (!(await isClusterReady(info))) {
    throw new Error(
      `cluster ${name} started but /readyz does not answer ok; logs: ${info.logsDir}`,
    );
  }
  process.env.KUBECONFIG = info.kubeconfigPath;
  process.env.KU_CLUSTER_NAME = name;
  exportEtcd(info);
  log(`KUBECONFIG=${info.kubeconfigPath} etcd=${info.etcdUrl}`);
}
