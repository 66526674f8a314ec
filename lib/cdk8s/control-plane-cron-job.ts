/**
 * Shared pieces of the control-plane CronJobs (EtcdBackup, CertificateRenewal): the common
 * props, names, node pinning, tolerations, resources, validation of the common props, and the
 * CronJob objects themselves (one per node). Not a construct.
 * @internal
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import { k8s } from "cdk8s-plus-33";
import type { Construct } from "constructs";
import { ProblemCollector, ValidationError } from "../core/errors";
import { isDnsLabel } from "../core/names";
import { validateDnsName, validateInteger } from "../core/scripts/shell";

/** CronJob names are limited to 52 characters (the controller appends an 11-character suffix). */
const MAX_CRONJOB_NAME = 52;

const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";
const HOSTNAME_LABEL = "kubernetes.io/hostname";

/** CronJob names are validated to at most this many characters before the node suffix. */
const MAX_NAME = 40;

/** Props every control-plane CronJob construct has, with the same meaning and default. */
export interface ControlPlaneCronJobProps {
  /**
   * Namespace of the CronJob(s).
   *
   * @default "kube-system"
   */
  readonly namespace?: string;
  /**
   * IANA time zone for the schedule(s) (CronJob `spec.timeZone`).
   *
   * @default - the kube-controller-manager's time zone (UTC on kubeadm clusters)
   */
  readonly timeZone?: string;
  /**
   * Seconds after the scheduled time within which a missed run may still start.
   *
   * @default 300
   */
  readonly startingDeadlineSeconds?: number;
  /** @default 3 */
  readonly successfulJobsHistoryLimit?: number;
  /**
   * Failed Jobs kept for inspection (`kubectl -n kube-system logs job/...`).
   *
   * @default 3
   */
  readonly failedJobsHistoryLimit?: number;
  /**
   * PriorityClass of the pods.
   *
   * @default "system-cluster-critical"
   */
  readonly priorityClassName?: string;
}

/** A DNS-1123 label (namespaces, object name prefixes). */
function validateDnsLabel(where: string, field: string, value: string): string {
  if (!isDnsLabel(value))
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
function cronJobName(base: string, node?: string): string {
  if (node === undefined) return base;
  const full = `${base}-${node.replace(/\./g, "-")}`;
  if (full.length <= MAX_CRONJOB_NAME) return full;
  const hash = createHash("sha256").update(node).digest("hex").slice(0, 8);
  return `${full.slice(0, MAX_CRONJOB_NAME - 9).replace(/-+$/, "")}-${hash}`;
}

/** Validates `nodes` (non-empty, DNS names, no duplicates); every problem at once. */
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
  const problems = new ProblemCollector();
  const seen = new Set<string>();
  nodes.forEach((n, i) => {
    if (problems.collect(() => validateDnsName(where, `nodes[${i}]`, n)) === undefined) return;
    if (seen.has(n))
      problems.add(
        new ValidationError(where, `nodes[${i}]`, n, "listed twice", "list each node once"),
      );
    seen.add(n);
  });
  problems.throwOneOrAll();
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
function controlPlaneNodeSelector(node?: string): Record<string, string> {
  const sel: Record<string, string> = { [CONTROL_PLANE_LABEL]: "" };
  if (node !== undefined) sel[HOSTNAME_LABEL] = node;
  return sel;
}

/** Tolerates the kubeadm control-plane taint. */
function controlPlaneTolerations(): k8s.Toleration[] {
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

function resourceRequirements(
  where: string,
  r: ContainerResources,
  problems: ProblemCollector,
): k8s.ResourceRequirements {
  const q = (field: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !QUANTITY.test(v)) {
      problems.add(
        new ValidationError(
          where,
          `resources.${field}`,
          v,
          "not a Kubernetes quantity",
          'give a quantity such as "100m", "128Mi" or "1Gi"',
        ),
      );
      return undefined;
    }
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

/** The CronJob's and Job's integer settings, validated ({@link jobNumbers}). */
export interface JobNumbers {
  readonly startingDeadlineSeconds: number;
  readonly activeDeadlineSeconds: number;
  readonly backoffLimit: number;
  readonly successfulJobsHistoryLimit: number;
  readonly failedJobsHistoryLimit: number;
}

/** The allowed range of each integer prop, in validation order. */
const JOB_NUMBER_RANGES: Readonly<Record<keyof JobNumbers, readonly [number, number]>> = {
  startingDeadlineSeconds: [10, 86400],
  activeDeadlineSeconds: [30, 86400],
  backoffLimit: [0, 10],
  successfulJobsHistoryLimit: [0, 100],
  failedJobsHistoryLimit: [0, 100],
};

/** Integer props of the CronJob/Job, defaulted from `d` and checked against their ranges. */
function jobNumbers(
  where: string,
  p: Partial<JobNumbers>,
  d: JobNumbers,
  problems: ProblemCollector,
): JobNumbers {
  const out: Partial<Record<keyof JobNumbers, number>> = {};
  for (const [field, [min, max]] of Object.entries(JOB_NUMBER_RANGES) as [
    keyof JobNumbers,
    readonly [number, number],
  ][])
    out[field] = problems.collect(() =>
      validateInteger(where, field, p[field] ?? d[field], min, max),
    );
  return out as JobNumbers;
}

/**
 * The props both control-plane CronJob constructs take, with the same meaning; each construct
 * documents its own default for those declared here.
 */
export interface CommonCronJobProps extends ControlPlaneCronJobProps {
  readonly name?: string;
  readonly activeDeadlineSeconds?: number;
  readonly backoffLimit?: number;
  readonly resources?: ContainerResources;
}

/** A construct's defaults for {@link CommonCronJobProps}. */
export interface CommonCronJobDefaults extends JobNumbers {
  readonly namespace: string;
  readonly name: string;
  readonly resources: ContainerResources;
  readonly priorityClassName: string;
}

/** {@link CommonCronJobProps} validated, defaults filled in. */
export interface ResolvedCommonCronJobProps {
  readonly namespace: string;
  /** CronJob name; with `nodes`, each CronJob is named `<name>-<node>` ({@link cronJobName}). */
  readonly name: string;
  readonly timeZone?: string;
  readonly numbers: JobNumbers;
  readonly resources: k8s.ResourceRequirements;
  readonly priorityClassName: string;
}

/**
 * Validates the common props (every problem at once) and fills in the construct's defaults `d`. The CronJob name is a
 * DNS-1123 label of at most 40 characters, so the node suffix fits in the 52 a CronJob name may
 * have (the default name is suggested when it is too long).
 */
export function resolveCommonCronJobProps(
  where: string,
  props: CommonCronJobProps,
  d: CommonCronJobDefaults,
): ResolvedCommonCronJobProps {
  const problems = new ProblemCollector();
  const check = <T>(fn: () => T) => problems.collect(fn);
  const namespace = check(() =>
    validateDnsLabel(where, "namespace", props.namespace ?? d.namespace),
  );
  const name = check(() => validateDnsLabel(where, "name", props.name ?? d.name));
  if (name !== undefined && name.length > MAX_NAME)
    problems.add(
      new ValidationError(
        where,
        "name",
        name,
        `longer than ${MAX_NAME} characters (CronJob names are limited to ${MAX_CRONJOB_NAME} with the node suffix)`,
        `use a shorter name such as ${d.name}`,
      ),
    );
  const resolved = {
    namespace: namespace!,
    name: name!,
    timeZone: check(() => validateTimeZone(where, props.timeZone)),
    numbers: jobNumbers(where, props, d, problems),
    resources: resourceRequirements(where, props.resources ?? d.resources, problems),
    priorityClassName:
      props.priorityClassName === undefined
        ? d.priorityClassName
        : check(() => validateDnsLabel(where, "priorityClassName", props.priorityClassName!))!,
  };
  problems.throwOneOrAll();
  return resolved;
}

/** An IANA time zone name such as "Etc/UTC" or "Asia/Seoul" (CronJob spec.timeZone); unset stays unset. */
function validateTimeZone(where: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
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

/** What differs between the control-plane CronJobs; the rest of the objects is shared. */
export interface ControlPlaneCronJobsOptions extends Omit<ResolvedCommonCronJobProps, "resources"> {
  /** `app.kubernetes.io/name` of the CronJobs, Jobs and pods. */
  readonly app: string;
  /**
   * One CronJob per node (construct id: the node name), pinned with `kubernetes.io/hostname`
   * and annotated `kube-upkeep.io/node`; unset: one CronJob (id "cronjob") on any
   * control-plane node.
   */
  readonly nodes?: readonly string[];
  /** One schedule for every CronJob, or one per node in `nodes` order. */
  readonly schedule: string | readonly string[];
  /** The pod's own part: containers, volumes and anything else it needs beyond the shared spec. */
  readonly pod: Omit<
    k8s.PodSpec,
    | "restartPolicy"
    | "hostNetwork"
    | "dnsPolicy"
    | "automountServiceAccountToken"
    | "priorityClassName"
    | "nodeSelector"
    | "tolerations"
  >;
}

/**
 * The CronJobs of a control-plane construct, in `nodes` order, added to `scope`: Forbid
 * concurrency, the Job and pod labelled like the CronJob, the pod on the host network
 * (`ClusterFirstWithHostNet`), never restarted, without a service account token, pinned to
 * control-plane nodes (or one node) and tolerating their taint.
 */
export function addControlPlaneCronJobs(
  scope: Construct,
  o: ControlPlaneCronJobsOptions,
): k8s.KubeCronJob[] {
  const nodes: readonly (string | undefined)[] = o.nodes ?? [undefined];
  return nodes.map((node, i) => {
    const jobName = cronJobName(o.name, node);
    const labels = {
      "app.kubernetes.io/name": o.app,
      "app.kubernetes.io/instance": jobName,
      "app.kubernetes.io/managed-by": "kube-upkeep",
    };
    return new k8s.KubeCronJob(scope, node ?? "cronjob", {
      metadata: {
        name: jobName,
        namespace: o.namespace,
        labels,
        ...(node ? { annotations: { "kube-upkeep.io/node": node } } : {}),
      },
      spec: {
        schedule: typeof o.schedule === "string" ? o.schedule : o.schedule[i],
        ...(o.timeZone ? { timeZone: o.timeZone } : {}),
        concurrencyPolicy: "Forbid",
        startingDeadlineSeconds: o.numbers.startingDeadlineSeconds,
        successfulJobsHistoryLimit: o.numbers.successfulJobsHistoryLimit,
        failedJobsHistoryLimit: o.numbers.failedJobsHistoryLimit,
        jobTemplate: {
          metadata: { labels },
          spec: {
            activeDeadlineSeconds: o.numbers.activeDeadlineSeconds,
            backoffLimit: o.numbers.backoffLimit,
            template: {
              metadata: { labels },
              spec: {
                restartPolicy: "Never",
                hostNetwork: true,
                dnsPolicy: "ClusterFirstWithHostNet",
                priorityClassName: o.priorityClassName,
                nodeSelector: controlPlaneNodeSelector(node),
                tolerations: controlPlaneTolerations(),
                ...o.pod,
                // after the pod part: no token, whatever it says (nothing in these pods calls the API)
                automountServiceAccountToken: false,
              },
            },
          },
        },
      },
    });
  });
}
