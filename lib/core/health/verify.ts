/**
 * The field guide's upgrade verification as health checks (docs/pulumi.md, "Verification"):
 * `control-plane` after each control-plane node, `cluster-version` after the last node. The
 * judges are pure; the probes read what `kubectl get pods -n kube-system -o wide`,
 * `kubectl get nodes`, `kubectl version` and `curl -k https://<node>:6443/readyz?verbose` show.
 */
import * as https from "node:https";
import type { KubeConfig, V1DaemonSet, V1Deployment, V1Node, V1Pod } from "@kubernetes/client-node";
import { imageTag } from "../live/state";
import type { Judgement } from "./judge";
import { judgeRollout } from "./judge";

/** kubeadm's static pods; the first three run the Kubernetes version, etcd its own. */
export const CONTROL_PLANE_COMPONENTS = [
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "etcd",
] as const;

/** Where kubeadm writes the apiserver's own address (host:port) on its static pod. */
export const ADVERTISE_ENDPOINT_ANNOTATION =
  "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint";

const isReady = (p: V1Pod) =>
  (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/**
 * A control-plane node's mirror pods: each of the four exists on `node`, is Ready, and the three
 * Kubernetes components run `version` (the image tag of the manifest and of the running
 * container).
 */
export function judgeControlPlanePods(
  node: string,
  version: string,
  pods: readonly V1Pod[],
): Judgement {
  const seen: string[] = [];
  const wrong: string[] = [];
  for (const component of CONTROL_PLANE_COMPONENTS) {
    const p = pods.find(
      (x) =>
        x.metadata?.labels?.component === component &&
        x.spec?.nodeName === node &&
        !x.metadata?.deletionTimestamp,
    );
    if (!p) {
      wrong.push(`no ${component} pod on ${node}`);
      continue;
    }
    const spec =
      (p.spec?.containers ?? []).find((c) => c.name === component) ?? p.spec?.containers?.[0];
    const status = (p.status?.containerStatuses ?? []).find((c) => c.name === spec?.name);
    const tag = imageTag(spec?.image ?? "");
    const running = status?.image ? imageTag(status.image) : undefined;
    if (component !== "etcd" && tag !== version)
      wrong.push(`${component} runs ${spec?.image ?? "no image"}, not ${version}`);
    else if (component !== "etcd" && running !== undefined && running !== tag)
      wrong.push(`${component}'s container still runs ${status!.image}`);
    else if (!isReady(p)) wrong.push(`${component} ${tag} not Ready`);
    else seen.push(`${component} ${tag}`);
  }
  if (wrong.length > 0) return { ok: false, message: wrong.join("; ") };
  return { ok: true, message: `${seen.join(", ")} Ready` };
}

/** `/readyz?verbose`: status 200 and no `[-]` line. */
export function judgeReadyz(status: number, body: string): Judgement {
  const lines = body.split("\n").map((l) => l.trim());
  const failed = lines.filter((l) => l.startsWith("[-]"));
  const passed = lines.filter((l) => l.startsWith("[+]")).length;
  if (status === 200 && failed.length === 0 && passed > 0)
    return { ok: true, message: `readyz: ${passed} checks ok` };
  return {
    ok: false,
    message: `readyz answered ${status}${failed.length > 0 ? `: ${failed.join(", ")}` : `: ${body.trim().slice(0, 160)}`}`,
  };
}

/**
 * After the last node: every node of the roll Ready at `version`, kube-proxy rolled out at
 * `version`, CoreDNS rolled out (its version is kubeadm's choice, shown), and the apiserver at
 * `version`.
 */
export function judgeClusterVersion(
  version: string,
  o: {
    readonly nodes: readonly V1Node[];
    /** The roll's nodes (unlisted ones are not upgraded); undefined: every node. */
    readonly names?: readonly string[];
    readonly kubeProxy?: V1DaemonSet;
    readonly coreDns?: V1Deployment;
    readonly serverVersion: string;
  },
): Judgement {
  const wrong: string[] = [];
  const shown: string[] = [];
  const byName = new Map(o.nodes.map((n) => [n.metadata?.name ?? "", n]));
  const names = o.names ?? [...byName.keys()];
  const behind: string[] = [];
  for (const name of names) {
    const n = byName.get(name);
    const kubelet = n?.status?.nodeInfo?.kubeletVersion;
    const ready = (n?.status?.conditions ?? []).some(
      (c) => c.type === "Ready" && c.status === "True",
    );
    if (!n) behind.push(`${name} (not found)`);
    else if (kubelet !== version) behind.push(`${name} (kubelet ${kubelet ?? "unknown"})`);
    else if (!ready) behind.push(`${name} (not Ready)`);
  }
  if (behind.length > 0)
    wrong.push(
      `${behind.length} node(s) not Ready at ${version}: ${behind.slice(0, 5).join(", ")}`,
    );
  else shown.push(`${names.length} node(s) Ready at ${version}`);
  if (!o.kubeProxy) wrong.push("no kube-system/kube-proxy DaemonSet");
  else {
    const image = o.kubeProxy.spec?.template?.spec?.containers?.[0]?.image ?? "";
    const r = judgeRollout("DaemonSet", o.kubeProxy);
    if (imageTag(image) !== version) wrong.push(`kube-proxy runs ${image}, not ${version}`);
    else if (!r.ok) wrong.push(`kube-proxy ${version}: ${r.message}`);
    else shown.push(`kube-proxy ${version}`);
  }
  if (!o.coreDns) wrong.push("no kube-system/coredns Deployment");
  else {
    const image = o.coreDns.spec?.template?.spec?.containers?.[0]?.image ?? "";
    const r = judgeRollout("Deployment", o.coreDns);
    if (!r.ok) wrong.push(`CoreDNS ${imageTag(image)}: ${r.message}`);
    else shown.push(`CoreDNS ${imageTag(image)}`);
  }
  if (o.serverVersion !== version)
    wrong.push(`the API server reports ${o.serverVersion}, not ${version}`);
  else shown.push(`API server ${version}`);
  if (wrong.length > 0) return { ok: false, message: wrong.join("; ") };
  return { ok: true, message: shown.join(", ") };
}

/**
 * GET `path` from the API server at `endpoint` (host:port; the kubeconfig's server when
 * undefined) with the kubeconfig's credentials and CA. A node's own apiserver is reached at the
 * address kubeadm advertises, which its serving certificate names.
 */
export async function apiServerGet(
  kc: KubeConfig,
  path: string,
  endpoint: string | undefined,
  timeoutMs = 10_000,
): Promise<{ status: number; body: string }> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("the kubeconfig names no cluster server");
  const base = new URL(server);
  const url = new URL(path, endpoint ? `https://${endpoint}` : base);
  const opts: https.RequestOptions = { method: "GET", timeout: timeoutMs, agent: false };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = https.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () =>
      req.destroy(new Error(`GET ${url.toString()}: no answer within ${timeoutMs / 1000} s`)),
    );
    req.on("error", (e) =>
      reject(e.message.startsWith("GET ") ? e : new Error(`GET ${url.toString()}: ${e.message}`)),
    );
    req.end();
  });
}
