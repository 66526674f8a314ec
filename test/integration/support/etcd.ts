/**
 * Real etcd members with client and peer TLS (kubeadm's certificates) on loopback ports chosen
 * free at start time. Each member logs to <dataDir>.log; stop() ends it (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import type { EtcdPki } from "./pki";
import { freePort } from "../../cluster/ports";
import { runAsync } from "./tools";

export interface EtcdMemberSpec {
  readonly name: string;
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** `--initial-cluster`; @default this member alone */
  readonly initialCluster?: string;
  /** @default "ku-test" */
  readonly initialClusterToken?: string;
}

export interface RunningEtcd {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly process: ChildProcess;
  /** True once the process exited. */
  exited(): boolean;
  log(): string;
  stop(): Promise<void>;
}

const peerUrl = (port: number) => `https://127.0.0.1:${port}`;
const clientUrl = (port: number) => `https://127.0.0.1:${port}`;

/** Starts one member (does not wait for it: see waitHealthy). */
export function startEtcdMember(etcd: string, pki: EtcdPki, spec: EtcdMemberSpec): RunningEtcd {
  const c = clientUrl(spec.clientPort);
  const p = peerUrl(spec.peerPort);
  const logFile = `${spec.dataDir}.log`;
  const fd = openSync(logFile, "a");
  const child = spawn(
    etcd,
    [
      `--name=${spec.name}`,
      `--data-dir=${spec.dataDir}`,
      `--listen-client-urls=${c}`,
      `--advertise-client-urls=${c}`,
      `--listen-peer-urls=${p}`,
      `--initial-advertise-peer-urls=${p}`,
      `--initial-cluster=${spec.initialCluster ?? `${spec.name}=${p}`}`,
      `--initial-cluster-token=${spec.initialClusterToken ?? "ku-test"}`,
      "--initial-cluster-state=new",
      "--client-cert-auth=true",
      `--trusted-ca-file=${pki.ca}`,
      `--cert-file=${pki.serverCert}`,
      `--key-file=${pki.serverKey}`,
      "--peer-client-cert-auth=true",
      `--peer-trusted-ca-file=${pki.ca}`,
      `--peer-cert-file=${pki.peerCert}`,
      `--peer-key-file=${pki.peerKey}`,
      "--snapshot-count=10000",
    ],
    { stdio: ["ignore", fd, fd] },
  );
  closeSync(fd);
  let done = false;
  const exitedP = new Promise<void>((res) =>
    child.on("exit", () => {
      done = true;
      res();
    }),
  );
  running.add(child);
  return {
    name: spec.name,
    clientUrl: c,
    peerUrl: p,
    dataDir: spec.dataDir,
    logFile,
    process: child,
    exited: () => done,
    log: () => readFileSync(logFile, "utf8"),
    async stop() {
      if (!done) {
        child.kill("SIGTERM");
        const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exitedP;
        clearTimeout(t);
      }
      running.delete(child);
    },
  };
}

const running = new Set<ChildProcess>();
/** Kills every member this worker started and did not stop (afterAll safety net). */
export function killAllEtcd(): void {
  for (const c of running) c.kill("SIGKILL");
  running.clear();
}

/** etcdctl over TLS with the healthcheck-client certificate: `etcdctl --endpoints=... <args>`. */
function etcdctlArgv(
  etcdctl: string,
  pki: EtcdPki,
  endpoints: readonly string[],
  args: readonly string[],
): string[] {
  return [
    etcdctl,
    `--endpoints=${endpoints.join(",")}`,
    `--cacert=${pki.ca}`,
    `--cert=${pki.clientCert}`,
    `--key=${pki.clientKey}`,
    "--command-timeout=10s",
    ...args,
  ];
}

/**
 * The etcd backup options (script or CronJob) that reach `endpoint` over TLS with the server
 * certificate, kubeadm's choice for the backup, and run the cached etcdctl / etcdutl.
 */
export function backupTlsOptions(
  bins: { etcdctl: string; etcdutl: string },
  pki: EtcdPki,
  endpoint: string,
): {
  endpoint: string;
  cacert: string;
  cert: string;
  key: string;
  etcdctl: string;
  etcdutl: string;
} {
  return {
    endpoint,
    cacert: pki.ca,
    cert: pki.serverCert,
    key: pki.serverKey,
    etcdctl: bins.etcdctl,
    etcdutl: bins.etcdutl,
  };
}

/** Runs etcdctl and returns stdout, throwing with its output on failure. */
export async function etcdctlOk(
  etcdctl: string,
  pki: EtcdPki,
  endpoints: readonly string[],
  args: readonly string[],
): Promise<string> {
  const r = await runAsync(etcdctlArgv(etcdctl, pki, endpoints, args), { timeoutMs: 30_000 });
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** Waits until every member answers `endpoint health`; throws with the members' logs. */
export async function waitHealthy(
  etcdctl: string,
  pki: EtcdPki,
  members: readonly RunningEtcd[],
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const dead = members.find((m) => m.exited());
    if (dead) throw new Error(`etcd ${dead.name} exited:\n${dead.log().slice(-3000)}`);
    const r = await runAsync(
      etcdctlArgv(
        etcdctl,
        pki,
        members.map((m) => m.clientUrl),
        ["endpoint", "health", "--dial-timeout=2s"],
      ),
      { timeoutMs: 20_000 },
    );
    if (r.status === 0) return;
    last = r.stdout + r.stderr;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(
    `etcd not healthy after ${timeoutMs} ms: ${last}\n` +
      members.map((m) => `--- ${m.name}\n${m.log().slice(-2000)}`).join("\n"),
  );
}

/** A single TLS member on free loopback ports, healthy (retries when a port was taken). */
export async function startTlsEtcd(
  bins: { etcd: string; etcdctl: string },
  pki: EtcdPki,
  dataDir: string,
  name = "etcd-test",
): Promise<RunningEtcd> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const m = startEtcdMember(bins.etcd, pki, {
      name,
      dataDir,
      clientPort: await freePort(),
      peerPort: await freePort(),
    });
    try {
      await waitHealthy(bins.etcdctl, pki, [m]);
      return m;
    } catch (e) {
      lastErr = e;
      await m.stop();
      if (!/address already in use/.test(m.log())) break;
    }
  }
  throw lastErr;
}

/** `etcdctl endpoint status -w json` of one endpoint: revision and raft index. */
export async function endpointStatus(
  etcdctl: string,
  pki: EtcdPki,
  endpoint: string,
): Promise<{ revision: number; dbSize: number; version: string }> {
  const out = JSON.parse(
    await etcdctlOk(etcdctl, pki, [endpoint], ["endpoint", "status", "-w", "json"]),
  ) as { Status: { header: { revision: number }; dbSize: number; version: string } }[];
  const s = out[0].Status;
  return { revision: Number(s.header.revision), dbSize: Number(s.dbSize), version: s.version };
}

/** Number of keys under a prefix (`get <prefix> --prefix --count-only -w fields`). */
export async function countKeys(
  etcdctl: string,
  pki: EtcdPki,
  endpoint: string,
  prefix: string,
): Promise<number> {
  const out = await etcdctlOk(
    etcdctl,
    pki,
    [endpoint],
    ["get", prefix, "--prefix", "--count-only", "-w", "fields"],
  );
  const m = /"Count" : (\d+)/.exec(out);
  if (!m) throw new Error(`etcdctl get --count-only printed no count:\n${out}`);
  return Number(m[1]);
}
