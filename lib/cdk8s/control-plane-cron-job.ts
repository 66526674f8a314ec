/**
 * Shared pieces of the control-plane CronJobs (EtcdBackup, CertificateRenewal): names,
 * node pinning, tolerations, resources, validation of the common props. Not a construct.
 * @internal
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import { k8s } from "cdk8s-plus-33";
import { ValidationError } from "../core/errors";
import { validateDnsName, validateInteger } from "../core/scripts/shell";

/** CronJob names are limited to 52 characters (the controller appends an 11-character suffix). */
const MAX_CRONJOB_NAME = 52;

export const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

/** A DNS-1123 label (namespaces, object name prefixes). */
export function validateDnsLabel(where: string, field: string, value: string): string {
  if (typeof value !== "string" || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value))
    throw new ValidationError(
      where,
      field,
      value,
      "not a DNS-1123 label",
      "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit",
    );
  return value;
}

/** `base-node`, dots turned into dashes, shortened with a hash suffix when over 52 characters. */
export function cronJobName(base: string, node?: string): string {
  if (node === undefined) return base;
  const full = `${base}-${node.replace(/\./g, "-")}`;
  if (full.length <= MAX_CRONJOB_NAME) return full;
  const hash = createHash("sha256").update(node).digest("hex").slice(0, 8);
  return `${full.slice(0, MAX_CRONJOB_NAME - 9).replace(/-+$/, "")}-${hash}`;
}

/** Validates `nodes` (non-empty, DNS names, no duplicates). */
export function validateNodes(
  where: string,
  nodes: readonly string[] | undefined,
  required: boolean,
): string[] | undefined {
  if (nodes === undefined) {
    if (!required) return undefined;
    throw new ValidationError(
      where,
      "nodes",
      nodes,
      "no control-plane nodes given",
      'list the control-plane node names, e.g. nodes: ["cp-1", "cp-2", "cp-3"] (kubectl get nodes -l node-role.kubernetes.io/control-plane)',
    );
  }
  if (!Array.isArray(nodes) || nodes.length === 0)
    throw new ValidationError(
      where,
      "nodes",
      nodes,
      "empty node list",
      required
        ? 'list the control-plane node names, e.g. nodes: ["cp-1", "cp-2", "cp-3"]'
        : "list the control-plane node names, or leave nodes unset for one CronJob on any control-plane node",
    );
  const seen = new Set<string>();
  nodes.forEach((n, i) => {
    validateDnsName(where, `nodes[${i}]`, n);
    if (seen.has(n))
      throw new ValidationError(where, `nodes[${i}]`, n, "listed twice", "list each node once");
    seen.add(n);
  });
  const names = new Set<string>();
  for (const n of nodes) {
    const dashed = n.replace(/\./g, "-");
    if (names.has(dashed))
      throw new ValidationError(
        where,
        "nodes",
        nodes,
        `two node names map to the same CronJob name suffix ${JSON.stringify(dashed)}`,
        "node names differing only in '.' vs '-' cannot both be listed",
      );
    names.add(dashed);
  }
  return [...nodes];
}

/** Pin to control-plane nodes, optionally to one node by hostname. */
export function controlPlaneNodeSelector(node?: string): Record<string, string> {
  const sel: Record<string, string> = { [CONTROL_PLANE_LABEL]: "" };
  if (node !== undefined) sel[HOSTNAME_LABEL] = node;
  return sel;
}

/** Tolerates the kubeadm control-plane taint. */
export function controlPlaneTolerations(): k8s.Toleration[] {
  return [{ key: CONTROL_PLANE_LABEL, operator: "Exists", effect: "NoSchedule" }];
}

/** Plain resource numbers for the containers (no Quantity objects in props). */
export interface ContainerResources {
  /** CPU request, e.g. "100m". */
  readonly cpuRequest?: string;
  /** Memory request, e.g. "128Mi". */
  readonly memoryRequest?: string;
  /** CPU limit; unset means none. */
  readonly cpuLimit?: string;
  /** Memory limit, e.g. "1Gi". */
  readonly memoryLimit?: string;
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

export function resourceRequirements(
  where: string,
  r: ContainerResources,
): k8s.ResourceRequirements {
  const q = (field: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !QUANTITY.test(v))
      throw new ValidationError(
        where,
        `resources.${field}`,
        v,
        "not a Kubernetes quantity",
        'give a quantity such as "100m", "128Mi" or "1Gi"',
      );
    return k8s.Quantity.fromString(v);
  };
  const requests: Record<string, k8s.Quantity> = {};
  const limits: Record<string, k8s.Quantity> = {};
  const cr = q("cpuRequest", r.cpuRequest);
  const mr = q("memoryRequest", r.memoryRequest);
  const cl = q("cpuLimit", r.cpuLimit);
  const ml = q("memoryLimit", r.memoryLimit);
  if (cr) requests.cpu = cr;
  if (mr) requests.memory = mr;
  if (cl) limits.cpu = cl;
  if (ml) limits.memory = ml;
  return {
    ...(Object.keys(requests).length ? { requests } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
  };
}

/** Integer props of the CronJob/Job with their allowed ranges. */
export function jobNumbers(
  where: string,
  p: {
    startingDeadlineSeconds?: number;
    activeDeadlineSeconds?: number;
    backoffLimit?: number;
    successfulJobsHistoryLimit?: number;
    failedJobsHistoryLimit?: number;
  },
  d: {
    startingDeadlineSeconds: number;
    activeDeadlineSeconds: number;
    backoffLimit: number;
    successfulJobsHistoryLimit: number;
    failedJobsHistoryLimit: number;
  },
) {
  return {
    startingDeadlineSeconds: validateInteger(
      where,
      "startingDeadlineSeconds",
      p.startingDeadlineSeconds ?? d.startingDeadlineSeconds,
      10,
      86400,
    ),
    activeDeadlineSeconds: validateInteger(
      where,
      "activeDeadlineSeconds",
      p.activeDeadlineSeconds ?? d.activeDeadlineSeconds,
      30,
      86400,
    ),
    backoffLimit: validateInteger(where, "backoffLimit", p.backoffLimit ?? d.backoffLimit, 0, 10),
    successfulJobsHistoryLimit: validateInteger(
      where,
      "successfulJobsHistoryLimit",
      p.successfulJobsHistoryLimit ?? d.successfulJobsHistoryLimit,
      0,
      100,
    ),
    failedJobsHistoryLimit: validateInteger(
      where,
      "failedJobsHistoryLimit",
      p.failedJobsHistoryLimit ?? d.failedJobsHistoryLimit,
      0,
      100,
    ),
  };
}

/** An IANA time zone name such as "Etc/UTC" or "Asia/Seoul" (CronJob spec.timeZone). */
export function validateTimeZone(where: string, value: string): string {
  if (typeof value !== "string" || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(value))
    throw new ValidationError(
      where,
      "timeZone",
      value,
      "not an IANA time zone name",
      'give a name such as "Etc/UTC" or "Asia/Seoul"',
    );
  return value;
}

/**
 * hostPath volumes for the directories holding `files`, each mounted read-only at the same
 * path; a directory inside another listed one is covered by the outer mount.
 */
export function readOnlyDirMounts(
  prefix: string,
  files: string[],
): { volumes: k8s.Volume[]; mounts: k8s.VolumeMount[] } {
  const dirs = [...new Set(files.map((f) => path.posix.dirname(f)))].sort();
  const outer = dirs.filter(
    (d) => !dirs.some((o) => o !== d && (o === "/" || d.startsWith(o + "/"))),
  );
  const volumes: k8s.Volume[] = [];
  const mounts: k8s.VolumeMount[] = [];
  outer.forEach((d, i) => {
    const name = outer.length === 1 ? prefix : `${prefix}-${i}`;
    volumes.push({ name, hostPath: { path: d, type: "Directory" } });
    mounts.push({ name, mountPath: d, readOnly: true });
  });
  return { volumes, mounts };
}
