/**
 * The simulated cluster behind the demo (scripts/demo.ts) and the e2e tests: a local kwokctl
 * control plane (real etcd, kube-apiserver, controller-manager, scheduler at KUBERNETES_VERSION),
 * kwok nodes (3 control-plane + N workers reporting kubelet CURRENT_VERSION), Deployments spread
 * over the workers with PodDisruptionBudgets, a real sshd on 127.0.0.1, and a Pulumi stack of the
 * repository's Pulumi.yaml (examples/pulumi/index.ts) on a local file backend, configured for all
 * of it.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig, type V1Node } from "@kubernetes/client-node";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import {
  type ClusterInfo,
  binaries,
  missingBinaries,
  missingBinariesMessage,
  REPO_ROOT,
  startCluster,
  stopCluster,
} from "../cluster/cluster";
import {
  createDeployment,
  createNamespace,
  createNodes,
  createPdb,
  waitForReadyPods,
} from "../cluster/fixtures";
import { startSshd, type SshServer } from "../cluster/sshd";
import {
  BUILD_COMMAND,
  pulumiEngine,
  type PulumiEngine,
} from "../integration/engine/pulumi-engine";

const run = promisify(execFile);

/** Every node starts here; the apiserver is 1.35.4, so v1.34.4 kubelets pass the skew checks. */
export const CURRENT_VERSION = "v1.34.4";
export const TARGET_VERSION = "v1.35.4";

/**
 * Engine binaries the demo stack needs: the CLI and language host, and the dynamic-provider shim
 * (NodeDrain, NodeReadyWait, NodeUncordon). remote.Command needs pulumi-resource-command: the
 * cached one when it exists, else the stand-in in test/e2e/command-provider (see
 * commandProvider()). The kubernetes provider is not needed (the program uses no
 * @pulumi/kubernetes resource and the engine does not ask for it).
 */
export const DEMO_ENGINE_BINARIES = [
  "pulumi",
  "pulumi-language-nodejs",
  "pulumi-resource-pulumi-nodejs",
] as const;

/** Directory of the stand-in command provider (used only when the real one is not built). */
export const STANDIN_COMMAND_PROVIDER_DIR = join(__dirname, "command-provider");

/**
 * Which pulumi-resource-command runs remote.Command: the real one built into the engine's bin
 * (test/cluster/build-pulumi.sh), or, while the Go module proxy does not serve its module
 * (docs/pulumi-engine.md), the stand-in in test/e2e/command-provider, which runs the command
 * with the OpenSSH client against the same sshd. The result says which, so callers print it.
 */
export function commandProvider(engine: PulumiEngine): { standIn: boolean; path: string } {
  const real = join(engine.bin, "pulumi-resource-command");
  if (existsSync(real)) return { standIn: false, path: real };
  return { standIn: true, path: join(STANDIN_COMMAND_PROVIDER_DIR, "pulumi-resource-command") };
}

export interface Workload {
  readonly name: string;
  readonly replicas: number;
  /** PDB: minAvailable (number) */
  readonly minAvailable: number;
}

export interface SimulatedClusterOptions {
  /** kwokctl cluster name. */
  readonly name: string;
  readonly controlPlanes?: number;
  readonly workers: number;
  /** Deployments (each with a PDB) spread over the workers. @default workloadsFor(workers) */
  readonly workloads?: readonly Workload[];
  readonly log?: (line: string) => void;
}

export interface SimulatedCluster {
  readonly info: ClusterInfo;
  readonly kc: KubeConfig;
  readonly kubeconfigYaml: string;
  readonly namespace: string;
  readonly controlPlanes: string[];
  readonly workers: string[];
  readonly workloads: readonly Workload[];
  readonly sshd: SshServer;
  /** Stops sshd and deletes the cluster (each step even if another fails). */
  stop(): Promise<void>;
}

/** A few Deployments sized to the worker count, each with a PDB that allows one disruption. */
export function workloadsFor(workers: number): Workload[] {
  // more web replicas than workers: some node holds two, and draining it waits for the PDB
  // (HTTP 429, retried) until the first evicted replica is Ready elsewhere
  const web = Math.max(3, workers + 1);
  return [
    { name: "web", replicas: web, minAvailable: web - 1 },
    {
      name: "api",
      replicas: Math.max(2, Math.ceil(workers / 2)),
      minAvailable: Math.max(1, Math.ceil(workers / 2) - 1),
    },
    { name: "cache", replicas: 2, minAvailable: 1 },
  ];
}

/** Throws with how to get them when the control plane, the engine or sshd binaries are missing. */
export function checkPrerequisites(engineBinaries: readonly string[] = DEMO_ENGINE_BINARIES): void {
  const missing = missingBinaries();
  if (missing.length > 0) throw new Error(missingBinariesMessage(missing));
  pulumiEngine(engineBinaries); // throws naming the missing binaries and `${BUILD_COMMAND}`
}

export { BUILD_COMMAND };

/** Starts the control plane, the nodes, the workloads + PDBs and sshd. */
export async function startSimulatedCluster(o: SimulatedClusterOptions): Promise<SimulatedCluster> {
  const log = o.log ?? (() => undefined);
  const info = await startCluster({ name: o.name, log });
  let sshd: SshServer | undefined;
  const stop = async () => {
    const errors: unknown[] = [];
    if (sshd) await sshd.stop().catch((e: unknown) => errors.push(e));
    await stopCluster(o.name).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  };
  try {
    const kubeconfigYaml = readFileSync(info.kubeconfigPath, "utf8");
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml);
    const controlPlanes = Array.from({ length: o.controlPlanes ?? 3 }, (_, i) => `cp-${i + 1}`);
    const workers = Array.from({ length: o.workers }, (_, i) => `w-${i + 1}`);
    log(
      `creating ${controlPlanes.length} control-plane + ${workers.length} worker kwok nodes at ${CURRENT_VERSION}`,
    );
    await createNodes(kc, [
      ...controlPlanes.map((name) => ({
        name,
        role: "control-plane" as const,
        kubeletVersion: CURRENT_VERSION,
        pool: "demo-cp",
      })),
      ...workers.map((name) => ({
        name,
        role: "worker" as const,
        kubeletVersion: CURRENT_VERSION,
        pool: "demo-workers",
      })),
    ]);
    const namespace = await createNamespace(kc, "demo");
    const workloads = o.workloads ?? workloadsFor(o.workers);
    for (const w of workloads) {
      await createDeployment(kc, namespace, {
        name: w.name,
        replicas: w.replicas,
        nodeNames: workers,
      });
      await createPdb(kc, namespace, {
        name: `${w.name}-pdb`,
        selector: { app: w.name },
        minAvailable: w.minAvailable,
      });
    }
    for (const w of workloads) {
      await waitForReadyPods(kc, namespace, { app: w.name }, w.replicas);
    }
    log(
      `workloads in namespace ${namespace}: ${workloads
        .map((w) => `${w.name} ${w.replicas} replicas (PDB minAvailable ${w.minAvailable})`)
        .join(", ")}`,
    );
    sshd = await startSshd();
    log(`sshd on ${sshd.host}:${sshd.port} (host key ${sshd.hostKeyLine.slice(0, 40)}...)`);
    return { info, kc, kubeconfigYaml, namespace, controlPlanes, workers, workloads, sshd, stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

/** Builds dist-lib (the dynamic providers load kube-upkeep/core from it through self-reference). */
export async function buildLibrary(): Promise<void> {
  await run(
    join(REPO_ROOT, "node_modules/.bin/tsc"),
    ["-p", join(REPO_ROOT, "tsconfig.build.json")],
    {
      cwd: REPO_ROOT,
      maxBuffer: 32 << 20,
    },
  ).catch((e: { stdout?: string; stderr?: string }) => {
    // tsc still emits on type errors elsewhere in the tree; only report
    process.stderr.write(
      `tsc -p tsconfig.build.json reported errors (output still emitted):\n${e.stdout ?? ""}${e.stderr ?? ""}\n`,
    );
  });
}

export interface StackOptions {
  readonly maxUnavailable?: number | string;
  /** The declared version of the nodes (checked against the cluster). @default CURRENT_VERSION */
  readonly currentVersion?: string;
  readonly targetVersion?: string;
  readonly simulatedUpgradeSeconds?: number;
  readonly failNodes?: readonly string[];
  /** Nodes whose simulated kubelet never reports the target (the ready wait times out). */
  readonly neverReadyNodes?: readonly string[];
  /** The ready wait's timeout. @default 120 */
  readonly readyTimeoutSeconds?: number;
  /** etcdctl's --command-timeout for the snapshot. @default 300 */
  readonly etcdTimeoutSeconds?: number;
  readonly drainRetryIntervalMs?: number;
  /** Wait for a PodDisruptionBudget that can never allow (kubectl's way) instead of failing at once. */
  readonly drainWaitForBlockedPdbs?: boolean;
  readonly etcdSnapshot?: boolean;
  /** Where snapshots go (a temp dir by default). */
  readonly backupDir?: string;
  /** File the simulated upgrade command appends "<node> <from> <target>" to when its upgrade took effect. */
  readonly upgradeLog?: string;
  /**
   * Directory of fake kubeadm node tools per node (`<dir>/<node>/bin`): each node runs the real
   * rendered upgrade script with them (the program's `nodeTools`; see command-faults.test.ts).
   */
  readonly nodeTools?: string;
  /** ClusterUpgrade's report directory (the program's `reportDir`). @default none */
  readonly reportDir?: string;
  /** ClusterUpgrade's health checks (the program's `healthChecks`). @default none */
  readonly healthChecks?: readonly object[];
}

export interface DemoStack {
  readonly stack: Stack;
  /** True when remote.Command runs through the stand-in provider (the real one is not built). */
  readonly standInCommandProvider: boolean;
  readonly engine: PulumiEngine;
  /** The environment the stack's CLI runs with (to run `pulumi` directly, as a user would). */
  readonly envVars: Record<string, string>;
  /** Local backend + backup dir: removed by dispose(). */
  readonly dirs: string[];
  /** Sets the target, and currentVersion to the previous target (where a finished roll left the nodes). */
  setTarget(version: string): Promise<void>;
  dispose(): Promise<void>;
}

/** A stack of the repository's Pulumi.yaml on a fresh local backend, configured for `c`. */
export async function createDemoStack(
  c: SimulatedCluster,
  stackName: string,
  o: StackOptions = {},
): Promise<DemoStack> {
  const backend = mkdtempSync(join(tmpdir(), "ku-demo-state-"));
  const backupDir = o.backupDir ?? mkdtempSync(join(tmpdir(), "ku-demo-backups-"));
  const engine = pulumiEngine(DEMO_ENGINE_BINARIES, backend);
  const pulumiCommand = await PulumiCommand.get({ root: engine.root });
  const provider = commandProvider(engine);
  const envVars = {
    ...engine.envVars,
    ...(provider.standIn ? { PATH: `${STANDIN_COMMAND_PROVIDER_DIR}:${engine.envVars.PATH}` } : {}),
    // the repository's tsconfig is for tsc/jest; the program is type-checked by `npm run lint`
    PULUMI_NODEJS_TRANSPILE_ONLY: "true",
  };
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, workDir: REPO_ROOT },
    { pulumiCommand, envVars, secretsProvider: "passphrase" },
  );
  const pki = join(c.info.workdir, "pki");
  const bins = binaries();
  await stack.setAllConfig({
    currentVersion: { value: o.currentVersion ?? CURRENT_VERSION },
    targetVersion: { value: o.targetVersion ?? TARGET_VERSION },
    maxUnavailable: { value: String(o.maxUnavailable ?? 1) },
    kubeconfig: { value: c.kubeconfigYaml, secret: true },
    kubeconfigPath: { value: c.info.kubeconfigPath },
    kubectl: { value: bins.kubectl },
    sshHost: { value: c.sshd.host },
    sshPort: { value: String(c.sshd.port) },
    sshUser: { value: c.sshd.user },
    sshHostKey: { value: c.sshd.hostKeyLine },
    sshPrivateKey: { value: c.sshd.privateKey, secret: true },
    simulatedUpgradeSeconds: { value: String(o.simulatedUpgradeSeconds ?? 1) },
    drainTimeoutSeconds: { value: "180" },
    drainRetryIntervalMs: { value: String(o.drainRetryIntervalMs ?? 1000) },
    drainWaitForBlockedPdbs: { value: String(o.drainWaitForBlockedPdbs ?? false) },
    etcdEndpoint: { value: o.etcdSnapshot === false ? "" : c.info.etcdUrl },
    // kwokctl's etcd is plain http on loopback; etcdctl ignores the TLS files for an http://
    // endpoint, kwok's PKI files fill the (required) options
    etcdCacert: { value: join(pki, "ca.crt") },
    etcdCert: { value: join(pki, "admin.crt") },
    etcdKey: { value: join(pki, "admin.key") },
    etcdctl: { value: bins.etcdctl },
    etcdutl: { value: bins.etcdutl },
    etcdBackupDir: { value: backupDir },
    upgradeLog: { value: o.upgradeLog ?? "" },
    nodeTools: { value: o.nodeTools ?? "" },
    reportDir: { value: o.reportDir ?? "" },
    healthChecks: { value: o.healthChecks ? JSON.stringify(o.healthChecks) : "" },
    readyTimeoutSeconds: { value: String(o.readyTimeoutSeconds ?? 120) },
    etcdTimeoutSeconds: { value: String(o.etcdTimeoutSeconds ?? 300) },
  });
  // list values: `pulumi config set --path 'workerNodes[0]' w-1` (project config type array<string>)
  const lists: Record<string, { value: string }> = {};
  c.controlPlanes.forEach((n, i) => (lists[`controlPlaneNodes[${i}]`] = { value: n }));
  c.workers.forEach((n, i) => (lists[`workerNodes[${i}]`] = { value: n }));
  (o.failNodes ?? []).forEach((n, i) => (lists[`failNodes[${i}]`] = { value: n }));
  (o.neverReadyNodes ?? []).forEach((n, i) => (lists[`neverReadyNodes[${i}]`] = { value: n }));
  await stack.setAllConfig(lists, true);
  const dirs = [backend, ...(o.backupDir ? [] : [backupDir])];
  return {
    stack,
    standInCommandProvider: provider.standIn,
    engine,
    envVars,
    dirs,
    // the stack's nodes are at the old target now: the declared currentVersion follows (the
    // live plan checks it against the cluster)
    setTarget: async (version) => {
      const previous = (await stack.getConfig("targetVersion")).value;
      await stack.setConfig("currentVersion", { value: previous });
      await stack.setConfig("targetVersion", { value: version });
    },
    dispose: async () => {
      await stack.workspace.removeStack(stackName, { force: true }).catch(() => undefined);
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** kubelet version and schedulability of every node. */
export async function nodeStates(
  kc: KubeConfig,
): Promise<Record<string, { version: string; unschedulable: boolean }>> {
  const nodes = (await kc.makeApiClient(CoreV1Api).listNode()).items as V1Node[];
  return Object.fromEntries(
    nodes.map((n) => [
      n.metadata?.name ?? "",
      {
        version: n.status?.nodeInfo?.kubeletVersion ?? "",
        unschedulable: n.spec?.unschedulable === true,
      },
    ]),
  );
}
