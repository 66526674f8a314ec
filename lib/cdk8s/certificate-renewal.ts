import { k8s } from "cdk8s-plus-33";
import { Construct } from "constructs";
import { ProblemCollector, ValidationError } from "../core/errors";
import {
  renderCertRenewalScript,
  resolveCertRenewalOptions,
  type CertRenewalScriptOptions,
  type ResolvedCertRenewalOptions,
} from "../core/scripts/cert-renewal";
import {
  validateAbsolutePath,
  validateCronSchedule,
  validateImage,
  validateInteger,
} from "../core/scripts/shell";
import {
  addControlPlaneCronJobs,
  resolveCommonCronJobProps,
  validateNodes,
  type ContainerResources,
  type ControlPlaneCronJobProps,
  type JobNumbers,
} from "./control-plane-cron-job";
import { childPath } from "./construct-path";

/**
 * Properties of {@link CertificateRenewal}. The renewal options (threshold, certificates,
 * renew all, dry run, kubeadm paths) are those of the core certificate renewal script.
 * `rootfs` is not a prop: the CronJob always mounts the host's / at `hostRoot` and chroots
 * there.
 */
export interface CertificateRenewalProps
  extends Omit<CertRenewalScriptOptions, "rootfs">, ControlPlaneCronJobProps {
  /**
   * The control-plane node names: one CronJob per node, pinned with `kubernetes.io/hostname`
   * (each node's certificates and static pods are its own). Required, non-empty.
   */
  readonly nodes: readonly string[];
  /**
   * kubeadm on the host, run through `chroot <hostRoot>`: a name looked up on the PATH inside
   * the chroot (/usr/local/bin, /usr/bin, ...) or an absolute host path.
   *
   * @default "kubeadm"
   */
  readonly kubeadm?: string;
  /**
   * Name prefix: each CronJob is named `<name>-<node>`.
   *
   * @default "certificate-renewal"
   */
  readonly name?: string;
  /**
   * Schedule of the first node's CronJob (five cron fields). Node i runs `i * staggerMinutes`
   * minutes later, so only one control plane restarts its static pods at a time.
   *
   * @default "0 3 * * *" (daily at 03:00, after the 02:00 etcd backup)
   */
  readonly schedule?: string;
  /**
   * Minutes between the nodes' runs. Must exceed startingDeadlineSeconds +
   * activeDeadlineSeconds, so two nodes' runs can never overlap (two etcd members restarting
   * at once would cost a three-member cluster its quorum).
   *
   * @default 20
   */
  readonly staggerMinutes?: number;
  /**
   * Image with sh, awk, chroot, mktemp, mv, sleep, date (busybox has them all).
   *
   * @default "docker.io/library/busybox:1.37.0"
   */
  readonly image?: string;
  /**
   * Where the host's / is mounted in the container (and chrooted into for kubeadm).
   *
   * @default "/host"
   */
  readonly hostRoot?: string;
  /**
   * Run the container privileged. Not needed on containerd/CRI-O with default settings: the
   * container runs as root with the host's / mounted and CAP_SYS_CHROOT added. Set it when a
   * security module (SELinux labels on /etc/kubernetes, AppArmor) denies the writes.
   *
   * @default false
   */
  readonly privileged?: boolean;
  /**
   * Seconds a renewal Job may run; the script needs check + renew + restartWaitSeconds + the
   * health wait (up to healthTimeoutSeconds) + check, about a minute and a half when the control
   * plane comes back at once. Must exceed restartWaitSeconds + healthTimeoutSeconds.
   *
   * @default 600
   */
  readonly activeDeadlineSeconds?: number;
  /**
   * Retries of a failed Job. 0: a failure is reported, not repeated (a retry would restart
   * the static pods again).
   *
   * @default 0
   */
  readonly backoffLimit?: number;
  /**
   * Resources of the container.
   *
   * @default { cpuRequest: "50m", memoryRequest: "64Mi", memoryLimit: "256Mi" }
   */
  readonly resources?: ContainerResources;
}

export const CERTIFICATE_RENEWAL_CRONJOB_DEFAULTS = {
  namespace: "kube-system",
  name: "certificate-renewal",
  schedule: "0 3 * * *",
  staggerMinutes: 20,
  image: "docker.io/library/busybox:1.37.0",
  hostRoot: "/host",
  startingDeadlineSeconds: 300,
  activeDeadlineSeconds: 600,
  backoffLimit: 0,
  successfulJobsHistoryLimit: 3,
  failedJobsHistoryLimit: 3,
  resources: { cpuRequest: "50m", memoryRequest: "64Mi", memoryLimit: "256Mi" },
  priorityClassName: "system-cluster-critical",
} as const;

/**
 * The schedule of node `index`: the base schedule moved `index * staggerMinutes` minutes later.
 * Needs plain numbers in the minute and hour fields (e.g. "0 3 * * *") and must stay within
 * the same day.
 */
export function staggeredSchedule(
  where: string,
  schedule: string,
  index: number,
  staggerMinutes: number,
): string {
  if (index === 0) return schedule;
  const [minute, hour, ...rest] = schedule.trim().split(/\s+/);
  if (!/^\d+$/.test(minute) || !/^\d+$/.test(hour))
    throw new ValidationError(
      where,
      "schedule",
      schedule,
      "cannot be staggered across nodes: its minute and hour fields must be plain numbers",
      'give a schedule such as "0 3 * * *"; node i then runs i * staggerMinutes minutes later',
    );
  const t = Number(hour) * 60 + Number(minute) + index * staggerMinutes;
  if (t >= 24 * 60)
    throw new ValidationError(
      where,
      "schedule",
      schedule,
      `node ${index + 1}'s run would move past midnight (${index} x ${staggerMinutes} minutes later)`,
      "start earlier in the day or lower staggerMinutes",
    );
  return [String(t % 60), String(Math.floor(t / 60)), ...rest].join(" ");
}

/** The runs of two nodes must not overlap, nor the Job end while the control plane restarts. */
function deadlineProblems(
  where: string,
  numbers: JobNumbers,
  nodes: readonly string[] | undefined,
  staggerMinutes: number | undefined,
  options: ResolvedCertRenewalOptions | undefined,
): ValidationError[] {
  const problems: ValidationError[] = [];
  const deadlines = numbers.startingDeadlineSeconds + numbers.activeDeadlineSeconds;
  if (nodes && staggerMinutes !== undefined && nodes.length > 1 && deadlines >= staggerMinutes * 60)
    problems.push(
      new ValidationError(
        where,
        "staggerMinutes",
        staggerMinutes,
        `two nodes' runs could overlap: startingDeadlineSeconds (${numbers.startingDeadlineSeconds}) + activeDeadlineSeconds (${numbers.activeDeadlineSeconds}) is not below ${staggerMinutes} minutes`,
        `raise staggerMinutes above ${Math.ceil(deadlines / 60)} or lower the deadlines`,
      ),
    );
  if (!options) return problems;
  const healthWait = options.healthChecks.length > 0 ? options.healthTimeoutSeconds : 0;
  const restartAndWait = options.restartWaitSeconds + healthWait;
  if (restartAndWait >= numbers.activeDeadlineSeconds)
    problems.push(
      new ValidationError(
        where,
        "activeDeadlineSeconds",
        numbers.activeDeadlineSeconds,
        `the Job could be stopped while the control plane restarts: restartWaitSeconds (${options.restartWaitSeconds}) + healthTimeoutSeconds (${healthWait}) is not below it`,
        `raise activeDeadlineSeconds above ${restartAndWait + 60}, or lower healthTimeoutSeconds`,
      ),
    );
  return problems;
}

/**
 * Daily kubeadm certificate renewal on every control-plane node: one CronJob per node, staggered,
 * running the host's kubeadm through `chroot /host`. The steps, why the chroot, and every prop:
 * docs/constructs-jobs.md; the procedure by hand: docs/backup-restore.md.
 */
export class CertificateRenewal extends Construct {
  /** The CronJobs, in `nodes` order. */
  public readonly cronJobs: k8s.KubeCronJob[];
  /** The resolved script options (rootfs = hostRoot). */
  public readonly options: ResolvedCertRenewalOptions;
  /** Each node's schedule, in `nodes` order. */
  public readonly schedules: string[];
  /** The nodes. */
  public readonly nodes: readonly string[];

  /**
   * Every check of the props, run before the construct is added to `scope` (so a bad prop leaves
   * no empty construct behind and the id can be used again).
   */
  private static resolve(where: string, props: CertificateRenewalProps) {
    const d = CERTIFICATE_RENEWAL_CRONJOB_DEFAULTS;
    const problems = new ProblemCollector();
    const check = <T>(fn: () => T) => problems.collect(fn);
    const nodes = check(() => validateNodes(where, props?.nodes, true)!);
    const hostRoot = check(() =>
      validateAbsolutePath(where, "hostRoot", props.hostRoot ?? d.hostRoot),
    );
    if (hostRoot === "/")
      problems.add(
        new ValidationError(
          where,
          "hostRoot",
          hostRoot,
          "the host's / cannot be mounted over the container's /",
          "use a directory such as /host",
        ),
      );
    if ((props as CertRenewalScriptOptions).rootfs !== undefined)
      problems.add(
        new ValidationError(
          where,
          "rootfs",
          (props as CertRenewalScriptOptions).rootfs,
          "not a CertificateRenewal prop",
          "set hostRoot instead (where the host's / is mounted and chrooted into)",
        ),
      );
    const options = check(() => resolveCertRenewalOptions({ ...props, rootfs: hostRoot }, where));
    const schedule = check(() =>
      validateCronSchedule(where, "schedule", props.schedule ?? d.schedule).trim(),
    );
    const staggerMinutes = check(() =>
      validateInteger(where, "staggerMinutes", props.staggerMinutes ?? d.staggerMinutes, 1, 720),
    );
    const common = check(() => resolveCommonCronJobProps(where, props, d));
    const image = check(() => validateImage(where, "image", props.image ?? d.image));
    if (common)
      problems.add(...deadlineProblems(where, common.numbers, nodes, staggerMinutes, options));
    if (props.privileged !== undefined && typeof props.privileged !== "boolean")
      problems.add(
        new ValidationError(
          where,
          "privileged",
          props.privileged,
          "not a boolean",
          "give true or false",
        ),
      );
    const privileged = props.privileged ?? false;
    const schedules =
      nodes && schedule !== undefined && staggerMinutes !== undefined
        ? check(() => nodes.map((_, i) => staggeredSchedule(where, schedule, i, staggerMinutes)))
        : undefined;
    problems.throwOneOrAll();
    const script = renderCertRenewalScript({ ...props, rootfs: hostRoot }, where);
    const { resources, ...rest } = common!;
    return {
      nodes: nodes!,
      hostRoot: hostRoot!,
      options: options!,
      schedules: schedules!,
      resources,
      common: rest,
      image: image!,
      privileged,
      script,
    };
  }

  constructor(scope: Construct, id: string, props: CertificateRenewalProps) {
    const r = CertificateRenewal.resolve(childPath(scope, id), props);
    super(scope, id);
    const { hostRoot, resources, common, image, privileged, script } = r;
    this.nodes = r.nodes;
    this.options = r.options;
    this.schedules = r.schedules;

    const securityContext: k8s.SecurityContext = privileged
      ? { runAsUser: 0, runAsGroup: 0, runAsNonRoot: false, privileged: true }
      : {
          runAsUser: 0,
          runAsGroup: 0,
          runAsNonRoot: false,
          privileged: false,
          capabilities: { add: ["SYS_CHROOT"] },
        };

    this.cronJobs = addControlPlaneCronJobs(this, {
      ...common,
      app: "certificate-renewal",
      nodes: this.nodes,
      schedule: this.schedules,
      pod: {
        // the TERM trap moves the manifests back after the current sleep ends
        terminationGracePeriodSeconds: this.options.restartWaitSeconds + 30,
        containers: [
          {
            name: "renew",
            image,
            command: ["sh", "-c", script],
            volumeMounts: [{ name: "host-root", mountPath: hostRoot }],
            resources,
            securityContext,
          },
        ],
        volumes: [{ name: "host-root", hostPath: { path: "/", type: "Directory" } }],
      },
    });
  }
}
