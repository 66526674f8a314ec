/** The Kubernetes API clients the drain engine uses, and helpers to read API errors. */
import { createHash } from "node:crypto";
import * as k8s from "@kubernetes/client-node";

export interface DrainClients {
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly policy: k8s.PolicyV1Api;
}

/** The @kubernetes/client-node module (ESM; loaded through require(esm) on Node >= 22.12). */
export function loadClientNode(): typeof k8s {
  return k8s;
}

/** The clients of a KubeConfig, whose API calls reuse connections (reuseConnections). */
export function makeClients(kc: k8s.KubeConfig): DrainClients {
  reuseConnections(kc);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    policy: kc.makeApiClient(k8s.PolicyV1Api),
  };
}

/** A KubeConfig from kubeconfig YAML text (e.g. a Pulumi secret). */
export function kubeConfigFromYaml(yaml: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromString(yaml);
  return reuseConnections(kc);
}

const byKubeconfig = new Map<string, DrainClients>();
const MAX_CACHED_KUBECONFIGS = 16;

/**
 * The clients for kubeconfig YAML text, the same ones (and so the same kept-alive connections)
 * for the same text within this process: a dynamic-provider process serves every NodeDrain,
 * NodeReadyWait and NodeUncordon call of a roll, which used to build a KubeConfig and clients
 * each. Keyed by a hash of the text; the 16 most recently used are kept.
 */
export function clientsFromYaml(yaml: string): DrainClients {
  const key = createHash("sha256").update(yaml).digest("hex");
  let c = byKubeconfig.get(key);
  if (c) byKubeconfig.delete(key);
  else c = makeClients(kubeConfigFromYaml(yaml));
  byKubeconfig.set(key, c);
  if (byKubeconfig.size > MAX_CACHED_KUBECONFIGS) {
    byKubeconfig.delete(byKubeconfig.keys().next().value as string);
  }
  return c;
}

type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;
const REUSING = Symbol.for("kube-upkeep.reuseConnections");

/** A digest of the TLS and proxy settings a dispatcher is built from. */
function dispatcherKey(cluster: unknown, o: Record<string, unknown>): string {
  const h = createHash("sha256");
  const c = (cluster ?? {}) as { server?: unknown; proxyUrl?: unknown; skipTLSVerify?: unknown };
  const add = (v: unknown): void => {
    if (v === undefined || v === null) h.update("\u0000-");
    else if (Buffer.isBuffer(v) || typeof v === "string") h.update("\u0000=").update(v);
    else if (Array.isArray(v)) v.forEach(add);
    else h.update(`\u0000${JSON.stringify(v)}`);
  };
  for (const v of [c.server, c.proxyUrl, c.skipTLSVerify]) add(v);
  for (const k of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"])
    add(o[k]);
  return h.digest("hex");
}

/**
 * Makes the KubeConfig's API calls reuse connections. client-node 2.x builds a new undici Agent
 * for every API call (KubeConfig.applySecurityAuthentication -> createDispatcher), so each call
 * opened its own TCP + TLS connection (CA and client certificate parsed again, a full handshake
 * on both ends): in the dynamic-provider process of a 30-worker roll, TLS setup was its largest
 * CPU cost. Here the KubeConfig keeps one dispatcher per distinct TLS and proxy setting (server,
 * CA, client certificate and key, ...; a rotated certificate gets a new one), so calls go over
 * kept-alive connections; undici unrefs idle sockets, so a process still exits. Watches use
 * client-node's own cached https.Agent and are unchanged. A KubeConfig without that method
 * (another client-node version) is left as it is. Returns kc.
 */
export function reuseConnections(kc: k8s.KubeConfig): k8s.KubeConfig {
  const target = kc as unknown as {
    createDispatcher?: CreateDispatcher;
    [REUSING]?: true;
  };
  const create = target.createDispatcher;
  if (target[REUSING] || typeof create !== "function") return kc;
  const dispatchers = new Map<string, unknown>();
  target.createDispatcher = function (this: unknown, cluster, agentOptions) {
    const key = dispatcherKey(cluster, agentOptions ?? {});
    if (!dispatchers.has(key)) dispatchers.set(key, create.call(this, cluster, agentOptions));
    return dispatchers.get(key);
  };
  target[REUSING] = true;
  return kc;
}

/** The HTTP status of a failed API call (ApiException.code, or statusCode of a watch error). */
export function apiStatusCode(e: unknown): number | undefined {
  if (e && typeof e === "object") {
    const o = e as { code?: unknown; statusCode?: unknown };
    if (typeof o.code === "number") return o.code;
    if (typeof o.statusCode === "number") return o.statusCode;
  }
  return undefined;
}

/**
 * Whether the API refused the identity: 401 (not authenticated) or 403 (not authorized; RBAC).
 * Never worth a retry; the server's message names the user, the verb and the resource.
 */
export function isPermissionError(e: unknown): boolean {
  const code = apiStatusCode(e);
  return code === 401 || code === 403;
}

/** metav1.Status as returned in the body of a failed call. */
export interface ApiStatus {
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: {
    readonly causes?: readonly { readonly reason?: string; readonly message?: string }[];
  };
}

/** The metav1.Status in an ApiException body (client-node keeps the raw text). */
export function apiStatus(e: unknown): ApiStatus | undefined {
  if (!e || typeof e !== "object") return undefined;
  const body = (e as { body?: unknown }).body;
  if (typeof body === "string") {
    try {
      const parsed: unknown = JSON.parse(body);
      return parsed && typeof parsed === "object" ? (parsed as ApiStatus) : undefined;
    } catch {
      return { message: body };
    }
  }
  if (body && typeof body === "object") return body as ApiStatus;
  return undefined;
}

/** The most useful one-line text of an API error. */
export function apiErrorMessage(e: unknown): string {
  const status = apiStatus(e);
  if (status?.message) return status.message;
  const code = apiStatusCode(e);
  let msg =
    e && typeof (e as { message?: unknown }).message === "string"
      ? (e as { message: string }).message.split("\n")[0]
      : String(e);
  // undici's "fetch failed" says why only in its cause (connect ECONNREFUSED 127.0.0.1:6443)
  // (duck-typed: the cause may come from another realm, e.g. undici's own)
  const cause =
    e && typeof e === "object" ? (e as { cause?: { message?: unknown } }).cause : undefined;
  if (typeof cause?.message === "string" && cause.message)
    msg += `: ${cause.message.split("\n")[0]}`;
  return code !== undefined ? `HTTP ${code}: ${msg}` : msg;
}

/**
 * An error for the user: an API failure (client-node's ApiException carries the raw response,
 * headers and all, in its message) becomes "<what>: <the server's message>", with the original as
 * cause; anything else is returned as it is.
 */
export function readableApiError(what: string, e: unknown): unknown {
  if (!(e instanceof Error) || apiStatusCode(e) === undefined || !("body" in e)) return e;
  // code and body stay, so callers can still tell a 404 from a 403
  return Object.assign(new Error(`${what}: ${apiErrorMessage(e)}`, { cause: e }), {
    code: apiStatusCode(e),
    body: (e as { body?: unknown }).body,
  });
}
