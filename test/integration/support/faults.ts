/**
 * Fault injection in front of, and on, the real control plane:
 *  - FaultProxy: plain HTTP on 127.0.0.1 forwarding to the apiserver with the admin client
 *    certificate; a rule may answer a request itself (a Status with any code) or cut the
 *    connection, so the client sees exactly what a failing apiserver or network sends.
 *  - restartApiserver: stops a kwokctl cluster's kube-apiserver process and starts it again
 *    with the same argv, environment and working directory (kwokctl has no per-component restart).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer, type Server } from "node:http";
import { Agent, request } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { clusterWorkdir, isClusterReady, pidAlive } from "../../cluster/cluster";
import { waitFor } from "../../cluster/fixtures";

export type FaultAnswer =
  { readonly status: number; readonly reason: string; readonly message: string } | "reset";

/** Decides per request: undefined = forward to the apiserver. */
export type FaultRule = (req: IncomingMessage) => FaultAnswer | undefined;

export interface FaultProxy {
  /** A KubeConfig for the proxy (http, no credentials: the proxy adds them). */
  readonly kc: KubeConfig;
  /** Answers injected so far, by "METHOD path-kind code". */
  readonly injected: string[];
  setRule(rule: FaultRule | undefined): void;
  close(): Promise<void>;
}

function b64(s: string | undefined): Buffer | undefined {
  return s ? Buffer.from(s, "base64") : undefined;
}

export async function startFaultProxy(target: KubeConfig): Promise<FaultProxy> {
  const cluster = target.getCurrentCluster();
  const user = target.getCurrentUser();
  if (!cluster) throw new Error("fault proxy: the kubeconfig has no current cluster");
  const upstream = new URL(cluster.server);
  const agent = new Agent({
    ca: cluster.caData ? b64(cluster.caData) : cluster.caFile && readFileSync(cluster.caFile),
    cert: user?.certData ? b64(user.certData) : user?.certFile && readFileSync(user.certFile),
    key: user?.keyData ? b64(user.keyData) : user?.keyFile && readFileSync(user.keyFile),
    rejectUnauthorized: !cluster.skipTLSVerify,
    keepAlive: true,
  });
  let rule: FaultRule | undefined;
  const injected: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const answer = rule?.(req);
    if (answer === "reset") {
      injected.push(`${req.method} ${req.url} reset`);
      req.socket.destroy();
      return;
    }
    if (answer) {
      injected.push(`${req.method} ${req.url} ${answer.status}`);
      req.resume();
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: answer.message,
          reason: answer.reason,
          code: answer.status,
        }),
      );
      return;
    }
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
        agent,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on("error", () => req.socket.destroy());
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "proxy", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "proxy" }],
    contexts: [{ name: "proxy", cluster: "proxy", user: "proxy" }],
    currentContext: "proxy",
  });
  return {
    kc,
    injected,
    setRule: (r) => {
      rule = r;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
        agent.destroy();
      }),
  };
}

interface ComponentProcess {
  readonly component: string;
  readonly pidFile: string;
  readonly pid: number;
  readonly argv: string[];
  readonly env: Record<string, string>;
  readonly cwd: string;
}

/** A component process of a kwokctl cluster (binary runtime): pid, argv, env, cwd. */
function componentProcess(cluster: string, component: string): ComponentProcess {
  const pidFile = join(clusterWorkdir(cluster), "pids", `${component}.pid`);
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (!pidAlive(pid)) throw new Error(`${component} of ${cluster} (pid ${pid}) is not running`);
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  return { component, pidFile, pid, argv, env, cwd };
}

/**
 * Starts the component again as kwokctl did, through a shell that exits at once, so it is
 * reparented like kwokctl's (not a child of this jest worker, which would keep it as a zombie
 * after kwokctl stops it); its pid file is updated, so kwokctl stop/delete still finds it.
 */
function respawn(cluster: string, p: ComponentProcess): number {
  const pid = execFileSync(
    "sh",
    [
      "-c",
      'cd "$1" && log=$2 && shift 2 && { setsid "$@" >>"$log" 2>&1 </dev/null & } && echo $!',
      "sh",
      p.cwd,
      join(clusterWorkdir(cluster), "logs", `${p.component}.log`),
      ...p.argv,
    ],
    { env: p.env, encoding: "utf8" },
  ).trim();
  writeFileSync(p.pidFile, pid);
  return Number(pid);
}

export interface Supervisor {
  /** "<component> restarted" for each restart. */
  readonly restarts: string[];
  stop(): void;
}

/**
 * What the kubelet does for static pods: restart a component of the cluster that exited
 * (kube-controller-manager and kube-scheduler exit when they cannot renew their leader lease,
 * i.e. whenever the apiserver is away for more than ~10 s). The apiserver is left to
 * restartApiserver, and whatever else `skip` names to the test.
 */
export function superviseCluster(
  cluster: string,
  /** Components left alone (stopped and started by the test itself). */
  skip: readonly string[] = ["kube-apiserver"],
): Supervisor {
  const dir = join(clusterWorkdir(cluster), "pids");
  const procs = readdirSync(dir)
    .filter((f) => f.endsWith(".pid") && !skip.includes(f.replace(/\.pid$/, "")))
    .map((f) => componentProcess(cluster, f.replace(/\.pid$/, "")));
  const current = new Map(procs.map((p) => [p.component, p.pid]));
  const restarts: string[] = [];
  const timer = setInterval(() => {
    for (const p of procs) {
      if (pidAlive(current.get(p.component) ?? 0)) continue;
      current.set(p.component, respawn(cluster, p));
      restarts.push(`${p.component} restarted`);
    }
  }, 500);
  return { restarts, stop: () => clearInterval(timer) };
}

function gone(pid: number, timeoutMs: number): Promise<true> {
  return waitFor(() => !pidAlive(pid), { timeoutMs, intervalMs: 100, what: `pid ${pid} exits` });
}

export interface Restart {
  /** When the old process was gone / the new one answered /readyz, relative to the call. */
  readonly downAtMs: number;
  readonly readyAtMs: number;
}

/**
 * SIGTERM the cluster's kube-apiserver (SIGKILL after 10 s), wait until it exited, keep it down
 * for downMs, start it again exactly as kwokctl did and wait until it answers /readyz.
 */
export async function restartApiserver(cluster: string, downMs: number): Promise<Restart> {
  const kubeconfigPath = join(clusterWorkdir(cluster), "kubeconfig.yaml");
  const t0 = Date.now();
  const p = componentProcess(cluster, "kube-apiserver");
  // as the kubelet stops a static pod: SIGTERM, then SIGKILL after a grace period
  process.kill(p.pid, "SIGTERM");
  await gone(p.pid, 10_000).catch(() => process.kill(p.pid, "SIGKILL"));
  await gone(p.pid, 30_000);
  const downAtMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, downMs));
  respawn(cluster, p);
  await waitFor(() => isClusterReady(kubeconfigPath), {
    timeoutMs: 90_000,
    intervalMs: 100,
    what: "kube-apiserver answers /readyz",
  });
  return { downAtMs, readyAtMs: Date.now() - t0 };
}

/**
 * SIGKILL a component of the cluster (e.g. "etcd") and return the function that starts it again
 * exactly as kwokctl did.
 */
export async function stopComponent(cluster: string, component: string): Promise<() => number> {
  const p = componentProcess(cluster, component);
  process.kill(p.pid, "SIGKILL");
  await gone(p.pid, 30_000);
  return () => respawn(cluster, p);
}
