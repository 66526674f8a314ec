/**
 * Health checks (ClusterUpgrade's `healthChecks`, run by NodeHealthGate after a node's uncordon):
 * the settings, their validation and display names. Pure. Kinds, defaults and why:
 * docs/pulumi.md "Health gates" and "Defaults, and why".
 */
import { ValidationError, ValidationErrors } from "../errors";

export const DEFAULT_HEALTH_TIMEOUT_SECONDS = 300;
export const DEFAULT_HEALTH_INTERVAL_SECONDS = 5;
export const DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS = 10;

export interface CheckBase {
  /** Shown in the plan, the report and errors. @default derived from the check, e.g. "rollout deployment/demo/web" */
  readonly name?: string;
  /** How long the check may take to pass. @default 300 */
  readonly timeoutSeconds?: number;
  /** Between attempts. @default 5 */
  readonly intervalSeconds?: number;
}

/** Every pod matching `selector` in `namespace` is Ready. */
export interface PodsReadyCheck extends CheckBase {
  readonly kind: "pods";
  readonly namespace: string;
  /** A label selector ("app=web,tier!=cache") or matchLabels. */
  readonly selector: string | Readonly<Record<string, string>>;
  /** At least this many pods must match (0: none is fine). @default 1 */
  readonly minPods?: number;
}

/** A workload fully rolled out (kubectl rollout status). */
export interface RolloutCheck extends CheckBase {
  readonly kind: "rollout";
  readonly namespace: string;
  /** "deployment/web", "statefulset/db", "daemonset/agent" (also deploy/, sts/, ds/). */
  readonly workload: string;
}

/** TLS and headers of an HTTP(S) request. */
export interface HttpRequestOptions {
  /** Extra request headers (e.g. Authorization; the checks of a gate are stored as a secret when any has headers). */
  readonly headers?: Readonly<Record<string, string>>;
  /** PEM CA bundle to verify the server with (instead of the system's). */
  readonly caCert?: string;
  /** Do not verify the server's certificate. @default false */
  readonly insecureSkipTlsVerify?: boolean;
  /** One request's timeout. @default 10 */
  readonly requestTimeoutSeconds?: number;
}

/** An HTTP(S) GET answering with an expected status. */
export interface HttpCheck extends CheckBase, HttpRequestOptions {
  readonly kind: "http";
  readonly url: string;
  /** @default 200 */
  readonly expectStatus?: number | readonly number[];
}

/** A Prometheus instant query that must return no series. */
export interface PrometheusCheck extends CheckBase, HttpRequestOptions {
  readonly kind: "prometheus";
  /** Prometheus' base URL, e.g. "http://prometheus.monitoring:9090". */
  readonly url: string;
  /** PromQL; passes when the result has no series, e.g. ALERTS{alertstate="firing"}. */
  readonly query: string;
}

/** A command over SSH on a node; passes when it exits 0. */
export interface CommandCheck extends CheckBase {
  readonly kind: "command";
  readonly command: string;
  /** The node to run it on (a node of the roll). @default the node just upgraded */
  readonly node?: string;
}

/**
 * A control-plane node's kube-apiserver, kube-controller-manager, kube-scheduler and etcd mirror
 * pods Ready, the first three at `version`, and that node's apiserver `/readyz?verbose` all ok.
 */
export interface ControlPlaneCheck extends CheckBase {
  readonly kind: "control-plane";
  readonly node: string;
  readonly version: string;
}

/**
 * The cluster at `version`: the nodes Ready with that kubelet, kube-proxy rolled out at it,
 * CoreDNS rolled out, the apiserver reporting it.
 */
export interface ClusterVersionCheck extends CheckBase {
  readonly kind: "cluster-version";
  readonly version: string;
  /** The nodes that must be at `version`. @default every node */
  readonly nodes?: readonly string[];
}

export type HealthCheck =
  | PodsReadyCheck
  | RolloutCheck
  | HttpCheck
  | PrometheusCheck
  | CommandCheck
  | ControlPlaneCheck
  | ClusterVersionCheck;

/** The checks the gate itself runs (not `command`). */
export type ApiHealthCheck = Exclude<HealthCheck, CommandCheck>;

export const HEALTH_CHECK_KINDS = [
  "pods",
  "rollout",
  "http",
  "prometheus",
  "command",
  "control-plane",
  "cluster-version",
] as const;

export const WORKLOAD_KINDS = {
  deployment: "Deployment",
  deploy: "Deployment",
  deployments: "Deployment",
  statefulset: "StatefulSet",
  sts: "StatefulSet",
  statefulsets: "StatefulSet",
  daemonset: "DaemonSet",
  ds: "DaemonSet",
  daemonsets: "DaemonSet",
} as const;

export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet";

/** "deployment/web" as kind and name, or undefined. */
export function parseWorkload(text: unknown): { kind: WorkloadKind; name: string } | undefined {
  if (typeof text !== "string") return undefined;
  const m = /^([a-z]+)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(text.trim());
  const kind = m ? (WORKLOAD_KINDS as Record<string, WorkloadKind>)[m[1]!] : undefined;
  return kind && m ? { kind, name: m[2]! } : undefined;
}

/** matchLabels as a selector string; a string stays as it is. */
export function selectorText(selector: PodsReadyCheck["selector"]): string {
  if (typeof selector === "string") return selector.trim();
  return Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The check's name: its own, or one made from what it checks. */
export function healthCheckName(c: HealthCheck): string {
  if (typeof c.name === "string" && c.name.trim() !== "") return c.name.trim();
  switch (c.kind) {
    case "pods":
      return `pods ${c.namespace}/${selectorText(c.selector)} Ready`;
    case "rollout":
      return `rollout ${c.namespace}/${c.workload}`;
    case "http":
      return `GET ${redactUrl(c.url)}`;
    case "prometheus":
      return `no series for ${c.query.trim()}`;
    case "command":
      return `command on ${c.node ?? "the node"}: ${c.command.trim().split("\n")[0]!.slice(0, 60)}`;
    case "control-plane":
      return `control plane of ${c.node} at ${c.version}`;
    case "cluster-version":
      return `cluster at ${c.version}`;
  }
}

/** A URL without its password (shown in names and messages; the check keeps the URL). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

/** Timeout and interval in ms, defaults filled in. */
export function checkTiming(c: HealthCheck): { timeoutMs: number; intervalMs: number } {
  return {
    timeoutMs: (c.timeoutSeconds ?? DEFAULT_HEALTH_TIMEOUT_SECONDS) * 1000,
    intervalMs: (c.intervalSeconds ?? DEFAULT_HEALTH_INTERVAL_SECONDS) * 1000,
  };
}

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NODE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const SELECTOR_TERM =
  /^\s*(!?[A-Za-z0-9][-A-Za-z0-9_./]*|[A-Za-z0-9][-A-Za-z0-9_./]*\s*(=|==|!=)\s*[A-Za-z0-9_.-]*|[A-Za-z0-9][-A-Za-z0-9_./]*\s+(in|notin)\s+\([^()]*\))\s*$/;

/** Splits a selector at the commas outside parentheses. */
function selectorTerms(s: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      terms.push(cur);
      cur = "";
    } else cur += ch;
  }
  terms.push(cur);
  return terms;
}

/**
 * Checks a list of health checks; throws ValidationErrors naming `where` and the field of each
 * problem (`healthChecks[2].url`). Names must be unique within the list (the report and the
 * errors name checks by them). `nodes`: the roll's node names, for a command check's `node`.
 */
export function validateHealthChecks(
  where: string,
  field: string,
  checks: unknown,
  nodes?: readonly string[],
): HealthCheck[] {
  if (checks === undefined) return [];
  const problems: ValidationError[] = [];
  const bad = (f: string, value: unknown, problem: string, fix: string) =>
    problems.push(new ValidationError(where, f, value, problem, fix));
  if (!Array.isArray(checks)) {
    bad(
      field,
      checks,
      "must be a list of health checks",
      'give e.g. [{ kind: "rollout", namespace: "prod", workload: "deployment/web" }]',
    );
    throw new ValidationErrors(problems);
  }
  const names = new Map<string, number>();
  checks.forEach((c: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof c !== "object" || c === null) {
      bad(
        at,
        c,
        "not a health check",
        `give an object with kind ${HEALTH_CHECK_KINDS.join(" | ")}`,
      );
      return;
    }
    const o = c as Record<string, unknown>;
    if (!HEALTH_CHECK_KINDS.includes(o.kind as HealthCheck["kind"])) {
      bad(
        `${at}.kind`,
        o.kind,
        "unknown kind of health check",
        `use one of ${HEALTH_CHECK_KINDS.map((k) => JSON.stringify(k)).join(", ")}`,
      );
      return;
    }
    const positive = (k: string, max: number, fix: string) => {
      const v = o[k];
      if (v === undefined) return;
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > max)
        bad(`${at}.${k}`, v, `must be a number of seconds above 0 and at most ${max}`, fix);
    };
    positive(
      "timeoutSeconds",
      86_400,
      `leave it unset for ${DEFAULT_HEALTH_TIMEOUT_SECONDS}, or give e.g. 600`,
    );
    positive(
      "intervalSeconds",
      3_600,
      `leave it unset for ${DEFAULT_HEALTH_INTERVAL_SECONDS}, or give e.g. 10`,
    );
    if (
      typeof o.timeoutSeconds === "number" &&
      typeof o.intervalSeconds === "number" &&
      o.intervalSeconds > o.timeoutSeconds
    )
      bad(
        `${at}.intervalSeconds`,
        o.intervalSeconds,
        `longer than the timeout (${o.timeoutSeconds} s): the check would run once`,
        "give an interval below timeoutSeconds",
      );
    if (
      o.name !== undefined &&
      (typeof o.name !== "string" || o.name.trim() === "" || o.name.length > 200)
    )
      bad(
        `${at}.name`,
        o.name,
        "must be a non-empty text of at most 200 characters",
        "give a short name, or leave it unset for one made from the check",
      );
    const namespace = () => {
      if (typeof o.namespace !== "string" || !LABEL.test(o.namespace))
        bad(
          `${at}.namespace`,
          o.namespace,
          "not a namespace name (DNS-1123 label)",
          'give the namespace, e.g. "prod"',
        );
    };
    const http = () => {
      let url: URL | undefined;
      try {
        url = typeof o.url === "string" ? new URL(o.url) : undefined;
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
        bad(
          `${at}.url`,
          typeof o.url === "string" ? redactUrl(o.url) : o.url,
          "not an http:// or https:// URL",
          'give e.g. "https://shop.example.com/healthz"',
        );
      positive(
        "requestTimeoutSeconds",
        600,
        `leave it unset for ${DEFAULT_HTTP_REQUEST_TIMEOUT_SECONDS}`,
      );
      if (o.headers !== undefined) {
        const h = o.headers;
        if (
          typeof h !== "object" ||
          h === null ||
          Array.isArray(h) ||
          Object.entries(h).some(
            ([k, v]) =>
              typeof v !== "string" || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[\r\n]/.test(v),
          )
        )
          bad(
            `${at}.headers`,
            "(not shown)",
            "must map header names to one-line text values",
            'give e.g. { Authorization: "Bearer ..." }',
          );
      }
      if (
        o.caCert !== undefined &&
        (typeof o.caCert !== "string" || !o.caCert.includes("-----BEGIN CERTIFICATE-----"))
      )
        bad(
          `${at}.caCert`,
          "(not shown)",
          "not a PEM certificate bundle",
          "give the CA certificate(s) as PEM text",
        );
      if (o.insecureSkipTlsVerify !== undefined && typeof o.insecureSkipTlsVerify !== "boolean")
        bad(
          `${at}.insecureSkipTlsVerify`,
          o.insecureSkipTlsVerify,
          "must be true or false",
          "leave it unset to verify the server",
        );
    };
    switch (o.kind as HealthCheck["kind"]) {
      case "pods": {
        namespace();
        const sel = o.selector;
        const text =
          typeof sel === "string"
            ? sel
            : typeof sel === "object" &&
                sel !== null &&
                !Array.isArray(sel) &&
                Object.values(sel).every((v) => typeof v === "string")
              ? selectorText(sel as Record<string, string>)
              : undefined;
        if (
          text === undefined ||
          text.trim() === "" ||
          !selectorTerms(text).every((t) => SELECTOR_TERM.test(t))
        )
          bad(
            `${at}.selector`,
            sel,
            "not a label selector (an empty one would match every pod of the namespace)",
            'give e.g. "app=web" or { app: "web" }',
          );
        const m = o.minPods;
        if (m !== undefined && (typeof m !== "number" || !Number.isInteger(m) || m < 0))
          bad(
            `${at}.minPods`,
            m,
            "must be a whole number, 0 or more",
            "leave it unset for 1 (at least one pod must match)",
          );
        break;
      }
      case "rollout":
        namespace();
        if (!parseWorkload(o.workload))
          bad(
            `${at}.workload`,
            o.workload,
            "not <kind>/<name> of a Deployment, StatefulSet or DaemonSet",
            'give e.g. "deployment/web", "statefulset/db" or "daemonset/agent"',
          );
        break;
      case "http": {
        http();
        const e = o.expectStatus;
        const list = e === undefined ? [200] : Array.isArray(e) ? e : [e];
        if (
          list.length === 0 ||
          !list.every((s) => Number.isInteger(s) && (s as number) >= 100 && (s as number) <= 599)
        )
          bad(
            `${at}.expectStatus`,
            e,
            "must be an HTTP status (100-599) or a list of them",
            "leave it unset for 200, or give e.g. [200, 204]",
          );
        break;
      }
      case "prometheus":
        http();
        if (typeof o.query !== "string" || o.query.trim() === "")
          bad(
            `${at}.query`,
            o.query,
            "must be a PromQL query",
            'give e.g. \'ALERTS{alertstate="firing", severity="critical"}\'',
          );
        break;
      case "command":
        if (typeof o.command !== "string" || o.command.trim() === "")
          bad(
            `${at}.command`,
            o.command,
            "must be a command",
            'give e.g. "systemctl is-active kubelet"',
          );
        if (
          o.node !== undefined &&
          (typeof o.node !== "string" || (nodes && !nodes.includes(o.node)))
        )
          bad(
            `${at}.node`,
            o.node,
            "not a node of the roll (its SSH connection runs the command)",
            `give one of ${(nodes ?? []).join(", ") || "the listed nodes"}, or leave it unset for the node just upgraded`,
          );
        break;
      case "control-plane":
      case "cluster-version": {
        if (typeof o.version !== "string" || !/^v\d+\.\d+\.\d+$/.test(o.version))
          bad(`${at}.version`, o.version, "not a Kubernetes version", 'give e.g. "v1.35.4"');
        const names = o.kind === "control-plane" ? [o.node] : (o.nodes ?? []);
        if (!Array.isArray(names) || names.some((n) => typeof n !== "string" || !NODE.test(n)))
          bad(
            `${at}.${o.kind === "control-plane" ? "node" : "nodes"}`,
            o.kind === "control-plane" ? o.node : o.nodes,
            "not a node name (DNS-1123 subdomain)",
            'give the node\'s name as `kubectl get nodes` shows it, e.g. "cp-1"',
          );
        break;
      }
    }
    if (problems.length === 0 || !problems.some((p) => p.field.startsWith(at))) {
      const name = healthCheckName(o as unknown as HealthCheck);
      const first = names.get(name);
      if (first !== undefined)
        bad(
          `${at}.name`,
          name,
          `the same name as ${field}[${first}]`,
          "give each check its own name",
        );
      else names.set(name, i);
    }
  });
  if (problems.length > 0) throw new ValidationErrors(problems);
  return checks as HealthCheck[];
}
