/**
 * Starts and stops one local control plane with kwokctl's binary runtime: etcd,
 * kube-apiserver, kube-controller-manager, kube-scheduler and the kwok controller, all
 * real binaries built from Go modules by test/cluster/build.sh and cached under
 * ~/.cache/kube-upkeep/bin/<name>-<version>. Everything listens on 127.0.0.1 only.
 *
 * Layout (outside the repo):
 *   $KU_CACHE/bin/                 cached binaries (build.sh)
 *   $KU_CACHE/kwok/clusters/<name> kwokctl workdir of one cluster: kubeconfig.yaml,
 *                                  kwok.yaml (resolved config: ports), pki/, logs/, etcd/
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { freePort } from "./ports";

const run = promisify(execFile);

/** Repo root (test/cluster/../..). */
export const REPO_ROOT = resolve(__dirname, "..", "..");
/** Cache root for binaries and cluster workdirs; override with KU_CACHE. */
export const CACHE_DIR = process.env.KU_CACHE ?? join(homedir(), ".cache", "kube-upkeep");
export const BIN_DIR = join(CACHE_DIR, "bin");
/** KWOK_WORKDIR for every cluster we start: never the repo, never ~/.kwok. */
export const KWOK_WORKDIR = join(CACHE_DIR, "kwok");
/** Name of the cluster `npm run cluster:up` starts (tests reuse it when it is running). */
export const DEV_CLUSTER_NAME = "kube-upkeep";
/** Prefix of the per-test-run clusters the jest globalSetup starts: ku-test-<pid>. */
export const TEST_CLUSTER_PREFIX = "ku-test-";
/** Cold build time measured on a 2-core machine, quoted in error messages. */
export const COLD_BUILD_HINT =
  "a cold build took about 25 minutes on 2 cores (etcd 2 min, kwok 4 min, Kubernetes binaries 19 min); later runs reuse the cache";

export interface Versions {
  readonly kubernetes: string;
  readonly etcd: string;
  readonly kwok: string;
}

/** Every KEY=VALUE line of test/cluster/versions.env (the single source of truth for versions). */
export function versionsEnv(): Record<string, string> {
  const text = readFileSync(join(__dirname, "versions.env"), "utf8");
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(\S+)/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The control-plane versions pinned in test/cluster/versions.env. */
export function readVersions(): Versions {
  const env = versionsEnv();
  const get = (key: string): string => {
    const v = env[key];
    if (v === undefined) throw new Error(`test/cluster/versions.env: ${key} is missing`);
    return v;
  };
  return {
    kubernetes: get("KUBERNETES_VERSION"),
    etcd: get("ETCD_VERSION"),
    kwok: get("KWOK_VERSION"),
  };
}

export interface Binaries {
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubeScheduler: string;
  readonly kubectl: string;
  readonly kubeadm: string;
  readonly etcd: string;
  readonly etcdctl: string;
  readonly etcdutl: string;
  readonly kwok: string;
  readonly kwokctl: string;
}

/** Absolute paths of the cached binaries (they may not exist yet: see missingBinaries). */
export function binaries(v: Versions = readVersions()): Binaries {
  const b = (name: string, version: string) => join(BIN_DIR, `${name}-${version}`);
  return {
    kubeApiserver: b("kube-apiserver", v.kubernetes),
    kubeControllerManager: b("kube-controller-manager", v.kubernetes),
    kubeScheduler: b("kube-scheduler", v.kubernetes),
    kubectl: b("kubectl", v.kubernetes),
    kubeadm: b("kubeadm", v.kubernetes),
    etcd: b("etcd", v.etcd),
    etcdctl: b("etcdctl", v.etcd),
    etcdutl: b("etcdutl", v.etcd),
    kwok: b("kwok", v.kwok),
    kwokctl: b("kwokctl", v.kwok),
  };
}

/** Paths of cached binaries that are not built yet. */
export function missingBinaries(bins: Binaries = binaries()): string[] {
  return Object.values(bins).filter((p) => !existsSync(p));
}

/** Error text for missing binaries: what is missing and how to build it. */
export function missingBinariesMessage(missing: string[]): string {
  return (
    `local control plane binaries are missing:\n  ${missing.join("\n  ")}\n` +
    `Build them with: npm run cluster:build  (test/cluster/build.sh; ${COLD_BUILD_HINT}).`
  );
}

export interface ClusterInfo {
  readonly name: string;
  /** kwokctl workdir of this cluster. */
  readonly workdir: string;
  /** kubeconfig with cluster-admin client certs for https://127.0.0.1:<port>. */
  readonly kubeconfigPath: string;
  readonly apiserverUrl: string;
  /** etcd client URL (plain http on loopback, no client certs: kwokctl's binary runtime). */
  readonly etcdUrl: string;
  /** etcd key prefix kube-apiserver uses (kwokctl default /registry). */
  readonly etcdPrefix: string;
  readonly logsDir: string;
}

export function clusterWorkdir(name: string): string {
  return join(KWOK_WORKDIR, "clusters", name);
}

/** Reads a cluster's ports from its resolved kwok.yaml; undefined when it does not exist. */
export function clusterInfo(name: string): ClusterInfo | undefined {
  const workdir = clusterWorkdir(name);
  const conf = join(workdir, "kwok.yaml");
  const kubeconfigPath = join(workdir, "kubeconfig.yaml");
  if (!existsSync(conf) || !existsSync(kubeconfigPath)) return undefined;
  const docs = parseAllDocuments(readFileSync(conf, "utf8")).map(
    (d) => d.toJS() as Record<string, unknown>,
  );
  const ctl = docs.find((d) => d?.kind === "KwokctlConfiguration") as
    | {
        options?: {
          etcdPort?: number;
          kubeApiserverPort?: number;
          etcdPrefix?: string;
          bindAddress?: string;
        };
      }
    | undefined;
  const o = ctl?.options ?? {};
  const host = o.bindAddress && o.bindAddress !== "0.0.0.0" ? o.bindAddress : "127.0.0.1";
  return {
    name,
    workdir,
    kubeconfigPath,
    apiserverUrl: `https://${host}:${o.kubeApiserverPort ?? 0}`,
    etcdUrl: `http://${host}:${o.etcdPort ?? 0}`,
    etcdPrefix: o.etcdPrefix ?? "/registry",
    logsDir: join(workdir, "logs"),
  };
}

/** Environment for kwokctl: binary runtime, every component a plain absolute path. */
export function kwokctlEnv(bins: Binaries = binaries()): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KWOK_WORKDIR,
    KWOK_RUNTIME: "binary",
    KWOK_KUBE_APISERVER_BINARY: bins.kubeApiserver,
    KWOK_KUBE_CONTROLLER_MANAGER_BINARY: bins.kubeControllerManager,
    KWOK_KUBE_SCHEDULER_BINARY: bins.kubeScheduler,
    KWOK_KUBECTL_BINARY: bins.kubectl,
    KWOK_ETCD_BINARY: bins.etcd,
    KWOK_ETCDCTL_BINARY: bins.etcdctl,
    KWOK_CONTROLLER_BINARY: bins.kwok,
  };
}

/** The KwokctlConfiguration passed with --config: loopback only, pinned versions. */
export function kwokctlConfig(v: Versions = readVersions(), ports?: ClusterPorts): string {
  return [
    "apiVersion: config.kwok.x-k8s.io/v1alpha1",
    "kind: KwokctlConfiguration",
    "options:",
    "  runtime: binary",
    "  bindAddress: 127.0.0.1",
    `  kubeVersion: ${v.kubernetes}`,
    `  etcdVersion: ${v.etcd.replace(/^v/, "")}`,
    `  kwokVersion: ${v.kwok}`,
    `  cacheDir: ${join(KWOK_WORKDIR, "cache")}`,
    // real controller-manager and scheduler (the defaults, stated so nobody turns them off)
    "  disableKubeControllerManager: false",
    "  disableKubeScheduler: false",
    ...Object.entries(ports ?? {}).map(([k, p]) => `  ${k}: ${p}`),
    "",
  ].join("\n");
}

/** Ports written into the KwokctlConfiguration (kwokctl's option names). */
export interface ClusterPorts {
  readonly etcdPort: number;
  readonly etcdPeerPort: number;
  readonly kubeApiserverPort: number;
  readonly kubeControllerManagerPort: number;
  readonly kubeSchedulerPort: number;
  readonly kwokControllerPort: number;
}

/**
 * Ports chosen here (./ports.ts), not by kwokctl: its own allocation scans down from 32767 and
 * only binds later, so clusters created at the same time on one machine got the same ports and
 * one component died with "address already in use".
 */
export async function freePorts(): Promise<ClusterPorts> {
  const p: number[] = [];
  for (let i = 0; i < 6; i++) p.push(await freePort());
  return {
    etcdPort: p[0],
    etcdPeerPort: p[1],
    kubeApiserverPort: p[2],
    kubeControllerManagerPort: p[3],
    kubeSchedulerPort: p[4],
    kwokControllerPort: p[5],
  };
}

/** Components of a cluster whose process (workdir/pids/<component>.pid) is not running. */
export function deadComponents(name: string): string[] {
  const dir = join(clusterWorkdir(name), "pids");
  if (!existsSync(dir)) return ["(no pids directory)"];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".pid"))
    .filter((f) => !pidAlive(Number(readFileSync(join(dir, f), "utf8").trim())))
    .map((f) => f.replace(/\.pid$/, ""));
}

async function kwokctl(args: string[], bins: Binaries, timeoutMs: number): Promise<string> {
  try {
    const { stdout, stderr } = await run(bins.kwokctl, args, {
      env: kwokctlEnv(bins),
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout + stderr;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `kwokctl ${args.join(" ")} failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`,
    );
  }
}

export interface StartOptions {
  readonly name: string;
  /** How long kwokctl waits for the cluster to become ready. @default 180000 */
  readonly timeoutMs?: number;
  /** Log progress lines (cli.ts). */
  readonly log?: (line: string) => void;
}

/**
 * Creates and starts a kwokctl cluster from the cached binaries and waits until it is ready.
 * Throws with build instructions when binaries are missing. If a cluster of that name exists
 * already (workdir present), it is deleted first.
 */
export async function startCluster(opts: StartOptions): Promise<ClusterInfo> {
  const bins = binaries();
  const missing = missingBinaries(bins);
  if (missing.length > 0) throw new Error(missingBinariesMessage(missing));
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.timeoutMs ?? 180_000;
  if (existsSync(clusterWorkdir(opts.name))) {
    log(`deleting stale cluster ${opts.name}`);
    await stopCluster(opts.name);
  }
  mkdirSync(KWOK_WORKDIR, { recursive: true });
  const configPath = join(KWOK_WORKDIR, `${opts.name}.kwokctl.yaml`);
  const attempts = 3;
  for (let attempt = 1; ; attempt++) {
    writeFileSync(configPath, kwokctlConfig(readVersions(), await freePorts()));
    const t0 = Date.now();
    log(
      `starting cluster ${opts.name} (kwokctl binary runtime, workdir ${clusterWorkdir(opts.name)})`,
    );
    await kwokctl(
      [
        "create",
        "cluster",
        "--name",
        opts.name,
        "--config",
        configPath,
        // do not touch the user's ~/.kube/config: our kubeconfig lives in the workdir
        "--kubeconfig",
        "",
        "--wait",
        `${Math.ceil(timeoutMs / 1000)}s`,
      ],
      bins,
      timeoutMs + 60_000,
    );
    // --wait only checks the apiserver: make sure no component died (e.g. a port taken meanwhile)
    await new Promise((r) => setTimeout(r, 1500));
    const dead = deadComponents(opts.name);
    const info = clusterInfo(opts.name);
    if (dead.length === 0 && info) {
      log(`cluster ${opts.name} ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      return info;
    }
    const why = `components not running: ${dead.join(", ")} (logs: ${join(clusterWorkdir(opts.name), "logs")})`;
    if (attempt >= attempts) throw new Error(`cluster ${opts.name} failed to start: ${why}`);
    log(`cluster ${opts.name}: ${why}; recreating with new ports`);
    await stopCluster(opts.name);
  }
}

/** Deletes a cluster (stops its processes, removes its workdir). No-op when absent. */
export async function stopCluster(name: string): Promise<void> {
  rmSync(join(KWOK_WORKDIR, `${name}.kwokctl.yaml`), { force: true });
  if (!existsSync(clusterWorkdir(name))) return;
  // kwokctl delete cannot take an empty --kubeconfig ("empty path"); give it a file of its own
  // (never the user's ~/.kube/config) from which it removes the context it never added.
  await kwokctl(
    [
      "delete",
      "cluster",
      "--name",
      name,
      "--kubeconfig",
      join(KWOK_WORKDIR, "kwokctl-contexts.yaml"),
    ],
    binaries(),
    120_000,
  );
}

/** Names of clusters with a workdir under KWOK_WORKDIR. */
export function listClusters(): string[] {
  const dir = join(KWOK_WORKDIR, "clusters");
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Whether a process with this pid exists (also one of another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // a zombie (exited, not reaped: kwokctl's components are reparented to a reaper that may
  // not wait) still answers kill(pid, 0), but it is gone
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return true;
  }
}

/**
 * Names of the clusters a test run starts for itself, with the pid of that run: the integration
 * cluster ku-test-<pid>, a test file's own ku-test-<pid>-<what>, the e2e ku-e2e[-<what>]-<pid>.
 */
const STALE_CLUSTER_NAME = /^ku-(?:test-(\d+)(?:-[a-z0-9-]+)?|e2e(?:-[a-z]+)*-(\d+))$/;

/** The pid of the test run that named this cluster (STALE_CLUSTER_NAME), else undefined. */
export function testRunPid(name: string): number | undefined {
  const m = STALE_CLUSTER_NAME.exec(name);
  const pid = Number(m?.[1] ?? m?.[2]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Deletes the clusters of test runs (STALE_CLUSTER_NAME) whose jest process is gone. */
export async function deleteStaleTestClusters(log?: (line: string) => void): Promise<void> {
  for (const name of listClusters()) {
    const pid = testRunPid(name);
    if (pid !== undefined && !pidAlive(pid)) {
      log?.(`deleting stale test cluster ${name}`);
      await stopCluster(name);
    }
  }
}

/** True when the apiserver of this cluster (or kubeconfig path) answers /readyz with its credentials. */
export async function isClusterReady(
  cluster: ClusterInfo | string,
  bins: Binaries = binaries(),
): Promise<boolean> {
  if (!existsSync(bins.kubectl)) return false;
  const kubeconfig = typeof cluster === "string" ? cluster : cluster.kubeconfigPath;
  try {
    const { stdout } = await run(
      bins.kubectl,
      ["--kubeconfig", kubeconfig, "get", "--raw", "/readyz", "--request-timeout=5s"],
      { timeout: 10_000 },
    );
    return stdout.trim() === "ok";
  } catch {
    return false;
  }
}

/** Runs test/cluster/build.sh (only missing binaries are built), streaming its output. */
export async function buildMissing(stdio: "inherit" | "ignore" = "inherit"): Promise<void> {
  const { spawn } = await import("node:child_process");
  await new Promise<void>((res, rej) => {
    const p = spawn("bash", [join(__dirname, "build.sh")], { stdio, env: process.env });
    p.on("error", rej);
    p.on("exit", (code) =>
      code === 0 ? res() : rej(new Error(`test/cluster/build.sh exited with ${code}`)),
    );
  });
}
