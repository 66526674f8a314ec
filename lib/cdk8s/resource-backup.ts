import { Chart, JsonPatch } from "cdk8s";
import { k8s } from "cdk8s-plus-33";
import { Construct } from "constructs";
import { ProblemCollector, ValidationError } from "../core/errors";
import {
  renderResourceBackupScript,
  resolveResourceBackupOptions,
  resourceBackupRules,
  type ResolvedResourceBackupOptions,
  type ResourceBackupRule,
  type ResourceBackupScriptOptions,
} from "../core/scripts/resource-backup";
import { validateCronSchedule, validateDnsName, validateImage } from "../core/scripts/shell";
import { childPath } from "./construct-path";
import {
  resolveCommonCronJobProps,
  type ContainerResources,
  type ControlPlaneCronJobProps,
} from "./control-plane-cron-job";

/** Where the snapshots are kept: a directory on the node, or a PersistentVolumeClaim. */
export type ResourceBackupStorage =
  | {
      /**
       * A hostPath directory (created if missing). The pod runs on a control-plane node (like
       * EtcdBackup), so the backups stay on one known kind of node; copy them off it.
       */
      readonly hostPath: string;
    }
  | {
      /** An existing PersistentVolumeClaim in the CronJob's namespace, mounted at `backupDir`. */
      readonly persistentVolumeClaim: string;
    };

/** Properties of {@link ResourceBackup}. */
export interface ResourceBackupProps extends ResourceBackupScriptOptions, ControlPlaneCronJobProps {
  /**
   * Name of the CronJob, ServiceAccount, ClusterRole(s) and bindings.
   *
   * @default "resource-backup"
   */
  readonly name?: string;
  /**
   * When to back up: a five-field cron schedule.
   *
   * @default "30 2 * * *" (daily at 02:30, after the etcd backup's 02:00)
   */
  readonly schedule?: string;
  /**
   * Where the snapshots go; mounted at `backupDir` in the pod.
   *
   * @default { hostPath: backupDir }
   */
  readonly storage?: ResourceBackupStorage;
  /**
   * Image with kubectl (runs the export). The shell and awk come from `shellImage`, copied into
   * the pod by an init container, so a shell-less kubectl image works.
   *
   * @default "registry.k8s.io/kubectl:v1.35.4"
   */
  readonly kubectlImage?: string;
  /**
   * Image with a statically linked busybox at /bin/busybox (sh, awk, date, find, stat ...).
   *
   * @default "docker.io/library/busybox:1.37.0"
   */
  readonly shellImage?: string;
  /** @default 900 */
  readonly activeDeadlineSeconds?: number;
  /** @default 2 */
  readonly backoffLimit?: number;
  /** @default { cpuRequest: "50m", memoryRequest: "64Mi", memoryLimit: "512Mi" } */
  readonly resources?: ContainerResources;
  /**
   * Called at synth with the construct's warnings (Secrets in the export).
   *
   * @default - each warning printed with console.warn
   */
  readonly onWarnings?: (warnings: readonly string[]) => void;
}

export const RESOURCE_BACKUP_CRONJOB_DEFAULTS = {
  namespace: "kube-system",
  name: "resource-backup",
  schedule: "30 2 * * *",
  kubectlImage: "registry.k8s.io/kubectl:v1.35.4",
  shellImage: "docker.io/library/busybox:1.37.0",
  startingDeadlineSeconds: 300,
  activeDeadlineSeconds: 900,
  backoffLimit: 2,
  successfulJobsHistoryLimit: 3,
  failedJobsHistoryLimit: 3,
  resources: { cpuRequest: "50m", memoryRequest: "64Mi", memoryLimit: "512Mi" },
  priorityClassName: "system-cluster-critical",
} as const;

const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";
/** Where the init container puts busybox and its applet links. */
const TOOLS_DIR = "/kube-upkeep-tools";

/**
 * The field guide's resource-level backup as a CronJob (`renderResourceBackupScript`): the chosen
 * resources as JSON that `kubectl apply --server-side -f` restores, with a ServiceAccount that may
 * read exactly those. Layout, RBAC, secrets and every prop: docs/constructs-backup.md.
 */
export class ResourceBackup extends Construct {
  public readonly options: ResolvedResourceBackupOptions;
  public readonly schedule: string;
  public readonly namespace: string;
  public readonly name: string;
  /** The ClusterRole rules: namespaced resources, and cluster-scoped ones. */
  public readonly rules: {
    readonly namespaced: ResourceBackupRule[];
    readonly cluster: ResourceBackupRule[];
  };
  /** Warnings reported at synth (empty unless Secrets are exported). */
  public readonly warnings: readonly string[];
  public readonly cronJob: k8s.KubeCronJob;
  public readonly serviceAccount: k8s.KubeServiceAccount;

  private static resolve(where: string, props: ResourceBackupProps) {
    const d = RESOURCE_BACKUP_CRONJOB_DEFAULTS;
    const problems = new ProblemCollector();
    const options = problems.collect(() => resolveResourceBackupOptions(props, where));
    const schedule = problems.collect(() =>
      validateCronSchedule(where, "schedule", props.schedule ?? d.schedule).trim(),
    );
    const common = problems.collect(() => resolveCommonCronJobProps(where, props, d));
    const kubectlImage = problems.collect(() =>
      validateImage(where, "kubectlImage", props.kubectlImage ?? d.kubectlImage),
    );
    const shellImage = problems.collect(() =>
      validateImage(where, "shellImage", props.shellImage ?? d.shellImage),
    );
    let storage: ResourceBackupStorage | undefined = props.storage;
    if (storage !== undefined) {
      const s = storage as { hostPath?: string; persistentVolumeClaim?: string };
      if (
        s === null ||
        typeof s !== "object" ||
        (s.hostPath === undefined) === (s.persistentVolumeClaim === undefined)
      ) {
        problems.add(
          new ValidationError(
            where,
            "storage",
            storage,
            "give exactly one of hostPath and persistentVolumeClaim",
            'give { hostPath: "/var/backups/kubernetes-resources" } or { persistentVolumeClaim: "resource-backups" }',
          ),
        );
        storage = undefined;
      } else if (s.hostPath !== undefined)
        problems.collect(
          () => resolveResourceBackupOptions({ presets: ["app"], backupDir: s.hostPath }, where),
          (e) => new ValidationError(where, "storage.hostPath", e.value, e.problem, e.fix),
        );
      else
        problems.collect(() =>
          validateDnsName(where, "storage.persistentVolumeClaim", s.persistentVolumeClaim!),
        );
    }
    problems.throwIfAny();
    const script = renderResourceBackupScript(props, where);
    return {
      options: options!,
      schedule: schedule!,
      common: common!,
      kubectlImage: kubectlImage!,
      shellImage: shellImage!,
      storage,
      script,
    };
  }

  constructor(scope: Construct, id: string, props: ResourceBackupProps = {}) {
    const r = ResourceBackup.resolve(childPath(scope, id), props);
    super(scope, id);
    const { common, options: o } = r;
    this.options = o;
    this.schedule = r.schedule;
    this.namespace = common.namespace;
    this.name = common.name;
    this.rules = resourceBackupRules(o);
    const hasSecrets = o.resources.some((x) => x.resource === "secrets" && x.group === "");
    this.warnings = hasSecrets
      ? [
          `${this.node.path}: includeSecrets: the backup files hold Secret data (base64, not encrypted) of ${o.namespaces ? `namespaces ${o.namespaces.join(", ")}` : "every namespace"}, and ServiceAccount ${common.namespace}/${common.name} can read those Secrets. The files are 0600 in 0700 directories; keep the backups where only administrators can read them.`,
        ]
      : [];

    const labels = {
      "app.kubernetes.io/name": "resource-backup",
      "app.kubernetes.io/instance": common.name,
      "app.kubernetes.io/managed-by": "kube-upkeep",
    };
    const meta = { name: common.name, labels };
    this.serviceAccount = new k8s.KubeServiceAccount(this, "ServiceAccount", {
      metadata: { ...meta, namespace: common.namespace },
      // no token for other pods of this account; the CronJob's pod asks for one itself
      automountServiceAccountToken: false,
    });
    const subjects = [{ kind: "ServiceAccount", name: common.name, namespace: common.namespace }];
    const cluster: (k8s.KubeClusterRole | k8s.KubeClusterRoleBinding)[] = [];
    if (this.rules.namespaced.length > 0) {
      cluster.push(
        new k8s.KubeClusterRole(this, "ClusterRole", {
          metadata: meta,
          rules: this.rules.namespaced,
        }),
      );
      const roleRef = {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: common.name,
      };
      if (o.namespaces)
        for (const ns of o.namespaces)
          new k8s.KubeRoleBinding(this, `RoleBinding-${ns}`, {
            metadata: { ...meta, namespace: ns },
            roleRef,
            subjects,
          });
      else
        cluster.push(
          new k8s.KubeClusterRoleBinding(this, "ClusterRoleBinding", {
            metadata: meta,
            roleRef,
            subjects,
          }),
        );
    }
    if (this.rules.cluster.length > 0) {
      const clusterMeta = { name: `${common.name}-cluster`, labels };
      cluster.push(
        new k8s.KubeClusterRole(this, "ClusterRoleCluster", {
          metadata: clusterMeta,
          rules: this.rules.cluster,
        }),
      );
      cluster.push(
        new k8s.KubeClusterRoleBinding(this, "ClusterRoleBindingCluster", {
          metadata: clusterMeta,
          roleRef: {
            apiGroup: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
            name: clusterMeta.name,
          },
          subjects,
        }),
      );
    }
    // cdk8s gives every object the chart's namespace; cluster-scoped objects have none
    if (Chart.of(this).namespace !== undefined)
      for (const c of cluster) c.addJsonPatch(JsonPatch.remove("/metadata/namespace"));

    const storage = r.storage ?? { hostPath: o.backupDir };
    const onHost = "hostPath" in storage;
    const backupVolume: k8s.Volume = onHost
      ? { name: "backup", hostPath: { path: storage.hostPath, type: "DirectoryOrCreate" } }
      : { name: "backup", persistentVolumeClaim: { claimName: storage.persistentVolumeClaim } };
    const securityContext: k8s.SecurityContext = {
      // root owns the hostPath directory the kubelet creates; nothing else is needed
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    };
    const toolsMount = { name: "tools", mountPath: TOOLS_DIR };
    this.cronJob = new k8s.KubeCronJob(this, "CronJob", {
      metadata: { ...meta, namespace: common.namespace },
      spec: {
        schedule: this.schedule,
        ...(common.timeZone ? { timeZone: common.timeZone } : {}),
        concurrencyPolicy: "Forbid",
        startingDeadlineSeconds: common.numbers.startingDeadlineSeconds,
        successfulJobsHistoryLimit: common.numbers.successfulJobsHistoryLimit,
        failedJobsHistoryLimit: common.numbers.failedJobsHistoryLimit,
        jobTemplate: {
          metadata: { labels },
          spec: {
            activeDeadlineSeconds: common.numbers.activeDeadlineSeconds,
            backoffLimit: common.numbers.backoffLimit,
            template: {
              metadata: { labels },
              spec: {
                restartPolicy: "Never",
                serviceAccountName: common.name,
                // the one kube-upkeep CronJob pod with a token: kubectl reads the API with it
                automountServiceAccountToken: true,
                priorityClassName: common.priorityClassName,
                ...(onHost
                  ? {
                      nodeSelector: { [CONTROL_PLANE_LABEL]: "" },
                      tolerations: [
                        { key: CONTROL_PLANE_LABEL, operator: "Exists", effect: "NoSchedule" },
                      ],
                    }
                  : {}),
                initContainers: [
                  {
                    name: "tools",
                    image: r.shellImage,
                    command: [
                      "/bin/busybox",
                      "sh",
                      "-c",
                      `cp /bin/busybox ${TOOLS_DIR}/busybox && ${TOOLS_DIR}/busybox --install -s ${TOOLS_DIR}`,
                    ],
                    volumeMounts: [toolsMount],
                    resources: common.resources,
                    securityContext,
                  },
                ],
                containers: [
                  {
                    name: "export",
                    image: r.kubectlImage,
                    command: ["sh", "-c", r.script],
                    env: [
                      { name: "PATH", value: `${TOOLS_DIR}:/usr/local/bin:/usr/bin:/bin` },
                      { name: "HOME", value: "/tmp" },
                    ],
                    volumeMounts: [
                      { name: "backup", mountPath: o.backupDir },
                      { ...toolsMount, readOnly: true },
                      { name: "tmp", mountPath: "/tmp" },
                    ],
                    resources: common.resources,
                    securityContext,
                  },
                ],
                volumes: [
                  backupVolume,
                  { name: "tools", emptyDir: {} },
                  { name: "tmp", emptyDir: {} },
                ],
              },
            },
          },
        },
      },
    });

    const onWarnings =
      props.onWarnings ??
      ((ws: readonly string[]) => {
        for (const w of ws) console.warn(`kube-upkeep ResourceBackup warning: ${w}`);
      });
    let reported = false;
    this.node.addValidation({
      validate: () => {
        if (this.warnings.length > 0 && !reported) {
          reported = true;
          onWarnings(this.warnings);
        }
        return [];
      },
    });
  }
}
