import { k8s } from "cdk8s-plus-33";
import { Construct } from "constructs";
import { ProblemCollector, ValidationError } from "../core/errors";
import {
  ETCD_BACKUP_DEFAULTS,
  etcdSnapshotCommand,
  etcdVerifyCommand,
  renderEtcdBackupFinishScript,
  resolveEtcdBackupOptions,
  type EtcdBackupScriptOptions,
  type ResolvedEtcdBackupOptions,
} from "../core/scripts/etcd-backup";
import { validateCronSchedule, validateImage } from "../core/scripts/shell";
import {
  addControlPlaneCronJobs,
  readOnlyDirMounts,
  resolveCommonCronJobProps,
  validateNodes,
  type ContainerResources,
  type ControlPlaneCronJobProps,
} from "./control-plane-cron-job";
import { childPath } from "./construct-path";

/**
 * Properties of {@link EtcdBackup}. The script options (endpoint, certificate paths, backup
 * directory, retention, binary names) are those of the core etcd backup script; their
 * defaults are kubeadm's.
 */
export interface EtcdBackupProps extends EtcdBackupScriptOptions, ControlPlaneCronJobProps {
  /**
   * Name of the CronJob; with `nodes`, each CronJob is named `<name>-<node>`.
   *
   * @default "etcd-backup"
   */
  readonly name?: string;
  /**
   * When to back up: a five-field cron schedule, validated at construction.
   *
   * @default "0 2 * * *" (daily at 02:00, as in the field guide)
   */
  readonly schedule?: string;
  /**
   * HA clusters: the control-plane node names. One CronJob per node, pinned with
   * `kubernetes.io/hostname`, each snapshotting its local member, so every member has backups
   * on its own disk. An empty list is an error.
   *
   * @default - one CronJob that runs on any control-plane node (single control-plane clusters)
   */
  readonly nodes?: readonly string[];
  /**
   * Image with etcdctl and etcdutl: runs the snapshot and the verify steps exec-form (current
   * etcd images have no shell). Use the etcd version your cluster runs.
   *
   * @default "registry.k8s.io/etcd:3.6.6-0"
   */
  readonly etcdImage?: string;
  /**
   * Small image with a POSIX shell, date, chmod, mv, find, stat, sort for the rename and
   * retention step.
   *
   * @default "docker.io/library/busybox:1.37.0"
   */
  readonly shellImage?: string;
  /**
   * Seconds a backup Job may run before it is stopped (large databases take longer).
   *
   * @default 1800
   */
  readonly activeDeadlineSeconds?: number;
  /**
   * Retries of a failed backup Job (each retry takes a fresh snapshot).
   *
   * @default 2
   */
  readonly backoffLimit?: number;
  /**
   * Resources of each container.
   *
   * @default { cpuRequest: "100m", memoryRequest: "128Mi", memoryLimit: "1Gi" }
   */
  readonly resources?: ContainerResources;
}

export const ETCD_BACKUP_CRONJOB_DEFAULTS = {
  namespace: "kube-system",
  name: "etcd-backup",
  schedule: "0 2 * * *",
  etcdImage: "registry.k8s.io/etcd:3.6.6-0",
  shellImage: "docker.io/library/busybox:1.37.0",
  startingDeadlineSeconds: 300,
  activeDeadlineSeconds: 1800,
  backoffLimit: 2,
  successfulJobsHistoryLimit: 3,
  failedJobsHistoryLimit: 3,
  resources: { cpuRequest: "100m", memoryRequest: "128Mi", memoryLimit: "1Gi" },
  priorityClassName: "system-cluster-critical",
} as const;

/**
 * Scheduled etcd snapshots on the control-plane node(s) of a kubeadm cluster: one pod per run,
 * snapshot -> verify -> finish (rename, prune), every command from kube-upkeep/core's etcd backup
 * script. The steps, the pod's security settings and every prop: docs/constructs-jobs.md.
 */
export class EtcdBackup extends Construct {
  /** The CronJobs: one, or one per node in `nodes` order. */
  public readonly cronJobs: k8s.KubeCronJob[];
  /** The resolved script options (defaults filled in). */
  public readonly options: ResolvedEtcdBackupOptions;
  /** The resolved schedule. */
  public readonly schedule: string;
  /** The resolved namespace. */
  public readonly namespace: string;
  /** The nodes the CronJobs are pinned to (undefined: any control-plane node). */
  public readonly nodes?: readonly string[];

  /**
   * Every check of the props, run before the construct is added to `scope` (so a bad prop leaves
   * no empty construct behind and the id can be used again).
   */
  private static resolve(where: string, props: EtcdBackupProps) {
    const d = ETCD_BACKUP_CRONJOB_DEFAULTS;
    const problems = new ProblemCollector();
    const check = <T>(fn: () => T) => problems.collect(fn);
    const options = check(() => resolveEtcdBackupOptions(props, where));
    const schedule = check(() =>
      validateCronSchedule(where, "schedule", props.schedule ?? d.schedule).trim(),
    );
    const common = check(() => resolveCommonCronJobProps(where, props, d));
    const nodes = check(() => validateNodes(where, props.nodes, false));
    const etcdImage = check(() =>
      validateImage(where, "etcdImage", props.etcdImage ?? d.etcdImage),
    );
    const shellImage = check(() =>
      validateImage(where, "shellImage", props.shellImage ?? d.shellImage),
    );
    const numbers = common?.numbers;
    if (options && numbers && options.timeoutSeconds >= numbers.activeDeadlineSeconds)
      problems.add(
        new ValidationError(
          where,
          "timeoutSeconds",
          options.timeoutSeconds,
          `the snapshot may take as long as the whole Job (activeDeadlineSeconds ${numbers.activeDeadlineSeconds}), so the Job would be killed before etcdctl reports its own timeout`,
          `give timeoutSeconds below activeDeadlineSeconds (defaults: ${ETCD_BACKUP_DEFAULTS.timeoutSeconds} and ${d.activeDeadlineSeconds}), or raise activeDeadlineSeconds`,
        ),
      );
    problems.throwOneOrAll();
    const { resources, ...rest } = common!;
    return {
      options: options!,
      schedule: schedule!,
      resources,
      common: rest,
      nodes,
      etcdImage: etcdImage!,
      shellImage: shellImage!,
      snapshot: etcdSnapshotCommand(options!, where),
      verify: etcdVerifyCommand(options!, where),
      finish: renderEtcdBackupFinishScript(options!, where),
    };
  }

  constructor(scope: Construct, id: string, props: EtcdBackupProps = {}) {
    const r = EtcdBackup.resolve(childPath(scope, id), props);
    super(scope, id);
    const { resources, common, etcdImage, shellImage, snapshot, verify, finish } = r;
    this.options = r.options;
    this.schedule = r.schedule;
    this.namespace = common.namespace;
    this.nodes = r.nodes;

    const o = this.options;
    const pki = readOnlyDirMounts("etcd-pki", [o.cacert, o.cert, o.key]);
    const backupVolume: k8s.Volume = {
      name: "backup",
      hostPath: { path: o.backupDir, type: "DirectoryOrCreate" },
    };
    const backupMount: k8s.VolumeMount = { name: "backup", mountPath: o.backupDir };
    const securityContext: k8s.SecurityContext = {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    };

    this.cronJobs = addControlPlaneCronJobs(this, {
      ...common,
      app: "etcd-backup",
      nodes: this.nodes,
      schedule: this.schedule,
      pod: {
        initContainers: [
          {
            name: "snapshot",
            image: etcdImage,
            command: snapshot,
            volumeMounts: [...pki.mounts, backupMount],
            resources,
            securityContext,
          },
          {
            name: "verify",
            image: etcdImage,
            command: verify,
            volumeMounts: [backupMount],
            resources,
            securityContext,
          },
        ],
        containers: [
          {
            name: "finish",
            image: shellImage,
            command: ["sh", "-c", finish],
            volumeMounts: [backupMount, { name: "tmp", mountPath: "/tmp" }],
            resources,
            securityContext,
          },
        ],
        volumes: [...pki.volumes, backupVolume, { name: "tmp", emptyDir: {} }],
      },
    });
  }
}
