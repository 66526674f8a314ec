/** The Kubernetes API clients the drain engine uses, and helpers to read API errors. */
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

export function makeClients(kc: k8s.KubeConfig): DrainClients {
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
