/**
 * Fault injection in front of, and on, the real control plane:
 *  - FaultProxy: plain HTTP on 127.0.0.1 forwarding to the apiserver with the admin client
 *    certificate; a rule may answer a request itself (a Status with any code) or cut the
 *    connection, so the client sees exactly what a failing apiserver or network sends.
 *  - restartApiserver: stops a kwokctl cluster's kube-apiserver process and starts it again
 *    with the same argv, environment and working directory (kwokctl has no per-component restart).
 */
import { spawn } from "node:child_process";
import { openSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { type IncomingMessage, type ServerResponse, createServer, type Server } from "node:http";
import { Agent, request } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { clusterWorkdir, isClusterReady, pidAlive } from "../../cluster/cluster";

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

/** The kube-apiserver process of a kwokctl cluster (binary runtime): pid, argv, env, cwd. */
function apiserverProcess(cluster: string) {
  const pidFile = join(clusterWorkdir(cluster), "pids", "kube-apiserver.pid");
  const pid = Number(readFileSync(pidFile, "utf8").trim());
  if (!pidAlive(pid)) throw new Error(`kube-apiserver of ${cluster} (pid ${pid}) is not running`);
  const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  const cwd = readlinkSync(`/proc/${pid}/cwd`);
  return { pidFile, pid, argv, env, cwd };
}

async function waitUntil(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number) {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface Restart {
  /** When the old process was gone / the new one answered /readyz, relative to the call. */
  readonly downAtMs: number;
  readonly readyAtMs: number;
}

/**
 * SIGTERM the cluster's kube-apiserver, wait until it exited, keep it down for downMs, start it
 * again exactly as kwokctl did (its pid file is updated, so kwokctl stop/delete still finds it)
 * and wait until it answers /readyz.
 */
export async function restartApiserver(cluster: string, downMs: number): Promise<Restart> {
  const kubeconfigPath = join(clusterWorkdir(cluster), "kubeconfig.yaml");
  const t0 = Date.now();
  const p = apiserverProcess(cluster);
  process.kill(p.pid, "SIGTERM");
  await waitUntil(`kube-apiserver pid ${p.pid} exits`, () => !pidAlive(p.pid), 60_000);
  const downAtMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, downMs));
  const log = openSync(join(clusterWorkdir(cluster), "logs", "kube-apiserver.log"), "a");
  const child = spawn(p.argv[0], p.argv.slice(1), {
    cwd: p.cwd,
    env: p.env,
    detached: true,
    stdio: ["ignore", log, log],
  });
  child.unref();
  writeFileSync(p.pidFile, String(child.pid));
  await waitUntil("kube-apiserver answers /readyz", () => isClusterReady(kubeconfigPath), 90_000);
  return { downAtMs, readyAtMs: Date.now() - t0 };
}
