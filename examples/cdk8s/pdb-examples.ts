/**
 * PodDisruptionBudgets for the two examples of the field guide (../shared/seed): a stateless web
 * Deployment that may lose one pod at a time, and a 3-member ZooKeeper ensemble that must keep
 * its quorum of 2. `DrainSafety` checks the chart at synth: a budget that could never allow an
 * eviction, or two budgets over the same pods, fails `cdk8s synth`.
 */
import { Chart, Size } from "cdk8s";
import * as kplus from "cdk8s-plus-33";
import { DrainSafety, PodDisruptionBudget } from "../../lib/cdk8s";

/** What {@link addPdbExamples} created. */
export interface PdbExamples {
  readonly web: kplus.Deployment;
  readonly webPdb: PodDisruptionBudget;
  readonly zookeeper: kplus.StatefulSet;
  readonly zkPdb: PodDisruptionBudget;
  readonly drainSafety: DrainSafety;
}

/** Adds the web and ZooKeeper workloads, their PodDisruptionBudgets and a DrainSafety check. */
export function addPdbExamples(chart: Chart): PdbExamples {
  // Stateless web tier: 3 replicas, at most 1 evicted at a time (keeps working if it scales).
  const web = new kplus.Deployment(chart, "web", {
    metadata: { name: "web" },
    replicas: 3,
    podMetadata: { labels: { app: "web" } },
    select: false,
    containers: [
      {
        name: "nginx",
        image: "nginxinc/nginx-unprivileged:1.27",
        portNumber: 8080,
        // nginx writes its cache and pid file under /tmp
        securityContext: { readOnlyRootFilesystem: false },
        resources: {
          cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(500) },
          memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
        },
      },
    ],
  });
  web.select(kplus.LabelSelector.of({ labels: { app: "web" } }));
  const webPdb = PodDisruptionBudget.forWorkload(chart, "web-pdb", web, {
    metadata: { name: "web-pdb" },
    maxUnavailable: 1,
  });

  // ZooKeeper ensemble: 3 members, quorum 2, so at most one member may be drained at a time.
  const zookeeper = new kplus.StatefulSet(chart, "zookeeper", {
    metadata: { name: "zookeeper" },
    replicas: 3,
    podMetadata: { labels: { app: "zookeeper" } },
    select: false,
    containers: [
      {
        name: "zookeeper",
        image: "zookeeper:3.9",
        ports: [
          { name: "client", number: 2181 },
          { name: "peer", number: 2888 },
          { name: "leader-election", number: 3888 },
        ],
        // the official image starts as root and drops to the zookeeper user itself
        securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false },
        resources: {
          cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(1000) },
          memory: { request: Size.mebibytes(256), limit: Size.mebibytes(1024) },
        },
      },
    ],
  });
  zookeeper.select(kplus.LabelSelector.of({ labels: { app: "zookeeper" } }));
  const zkPdb = PodDisruptionBudget.forWorkload(chart, "zk-pdb", zookeeper, {
    metadata: { name: "zk-pdb" },
    minAvailable: 2,
  });

  const drainSafety = new DrainSafety(chart, "drain-safety");
  return { web, webPdb, zookeeper, zkPdb, drainSafety };
}
