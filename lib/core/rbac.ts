/**
 * Least-privilege RBAC for the identity that drains, uncordons and waits for nodes: the exact
 * API calls of the drain engine (lib/core/drain), `NodeReadyWait` (lib/pulumi/node-ready-wait.ts),
 * the progress Events and annotation (lib/core/progress), the live plan (lib/core/live) and the
 * health gates (lib/core/health), as RBAC rules, and the ServiceAccount + ClusterRole + ClusterRoleBinding granting them. The
 * cdk8s construct `MaintenanceRbac` and the Pulumi component `MaintenanceServiceAccount` both
 * build their objects from {@link maintenanceRbacManifests}, so the rules live here once.
 *
 * Every rule is named by the call that needs it (checked against the code, not kubectl drain's
 * needs in general):
 *  - nodes get: drainNode reads the node before it starts; cordon/uncordon read-decide-patch;
 *    NodeReadyWait reads the node until it is Ready at the target version.
 *  - nodes patch: cordon and uncordon (a JSON merge patch of spec.unschedulable and the
 *    kube-upkeep.io/cordoned-by annotations).
 *  - pods list, watch: the node's pods, across namespaces (fieldSelector spec.nodeName), and the
 *    one watch that waits for evicted pods to be gone.
 *  - pods/eviction create: the policy/v1 Eviction of each pod (PodDisruptionBudgets apply).
 *  - poddisruptionbudgets list: naming the budgets that refuse an eviction (429) or the several
 *    budgets that select one pod (500).
 *  - daemonsets get: whether a pod's DaemonSet controller still exists (kubectl's daemonSetFilter).
 *  - pods delete: only with `allowPodDeletion` — a drain with `disableEviction: true` deletes pods
 *    instead of evicting them, which bypasses PodDisruptionBudgets. Without the rule such a drain
 *    is refused by the API server, so the identity can never bypass a budget.
 *
 *  - events create: the Kubernetes Events each step writes on its node (Cordoned, Drained,
 *    UpgradeStarted, Upgraded, Uncordoned, Failed; namespace "default", lib/core/progress).
 *  - nodes list: ClusterUpgrade's live plan reads every node (kubelet version, Ready, roles, the
 *    kube-upkeep.io/upgrade annotation) at preview (lib/core/live). The annotation itself is a
 *    nodes patch.
 *  - configmaps get, only `kubeadm-config`: the live plan reads kubeadm's ClusterConfiguration
 *    (kube-system/kubeadm-config) for the version the control plane is configured at. The live
 *    plan's other reads are pods list (kube-system's static pods, CoreDNS and kube-proxy) and
 *    /version (public).
 *  - deployments get: health gates that wait for a Deployment's rollout (lib/core/health; a
 *    StatefulSet's and a DaemonSet's use the statefulsets / daemonsets get above, "pods Ready"
 *    checks pods list).
 *
 * Not granted, because no kube-upkeep code makes the call: nodes watch (the ready wait's watch
 * falls back to reads when refused), pods get, poddisruptionbudgets watch, events list / patch
 * (every Event is a new object). The ClusterUpgrade pre-upgrade etcd snapshot and health checks of
 * kind `command` run over SSH, HTTP and Prometheus checks do not use the API, and the optional
 * EtcdBackup CronJob deployment needs its own (admin) provider: none is covered here.
 */
import { ValidationError } from "./errors";
import { validateDnsName } from "./scripts/shell";

/** An RBAC rule (rbac.authorization.k8s.io/v1 PolicyRule, resource rules only). */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  /** Only these objects (absent: any). */
  readonly resourceNames?: readonly string[];
  readonly verbs: readonly string[];
}

/** A rule with the kube-upkeep calls that need it. */
export interface MaintenanceRule extends PolicyRule {
  /** The calls that need the rule (documentation, error messages). */
  readonly usedBy: string;
}

/** The rules every drain / uncordon / ready wait needs (see the file comment for each call). */
export const MAINTENANCE_RULES: readonly MaintenanceRule[] = [
  {
    apiGroups: [""],
    resources: ["nodes"],
    verbs: ["get", "patch"],
    usedBy:
      "drainNode, cordon, uncordon (read, then patch spec.unschedulable); NodeReadyWait (read)",
  },
  {
    apiGroups: [""],
    resources: ["pods"],
    verbs: ["list", "watch"],
    usedBy: "drainNode: the node's pods in every namespace, and the watch for evicted pods to go",
  },
  {
    apiGroups: [""],
    resources: ["pods/eviction"],
    verbs: ["create"],
    usedBy: "drainNode: the policy/v1 Eviction of each pod",
  },
  {
    apiGroups: ["policy"],
    resources: ["poddisruptionbudgets"],
    verbs: ["list"],
    usedBy: "drainNode: naming the PodDisruptionBudgets that refuse an eviction",
  },
  {
    apiGroups: ["apps"],
    resources: ["daemonsets"],
    verbs: ["get"],
    usedBy:
      "drainNode: whether a DaemonSet pod's controller still exists; health gates: a DaemonSet rolled out",
  },
  {
    apiGroups: ["apps"],
    resources: ["replicasets", "statefulsets"],
    verbs: ["get"],
    usedBy:
      "drainNode: a never-allowing budget's verdict checked against its pods' controllers (replacements still coming)",
  },
  {
    apiGroups: [""],
    resources: ["events"],
    verbs: ["create"],
    usedBy:
      "NodeDrain, NodeReadyWait, NodeUncordon, NodeHealthGate: an Event on the node for each step (namespace default)",
  },
  {
    apiGroups: [""],
    resources: ["nodes"],
    verbs: ["list"],
    usedBy: "ClusterUpgrade's live plan: every node's kubelet version, Ready, roles and progress",
  },
  {
    apiGroups: [""],
    resources: ["configmaps"],
    resourceNames: ["kubeadm-config"],
    verbs: ["get"],
    usedBy:
      "ClusterUpgrade's live plan: kubeadm's ClusterConfiguration (kube-system/kubeadm-config)",
  },
  {
    apiGroups: ["apps"],
    resources: ["deployments"],
    verbs: ["get"],
    usedBy:
      "health gates: a Deployment fully rolled out (StatefulSets and DaemonSets: the rules above)",
  },
];

/** The extra rule for drains with `disableEviction: true` (plain DELETE, bypasses PodDisruptionBudgets). */
export const POD_DELETION_RULE: MaintenanceRule = {
  apiGroups: [""],
  resources: ["pods"],
  verbs: ["delete"],
  usedBy: "drainNode with disableEviction: true (deletes pods, bypassing PodDisruptionBudgets)",
};

/** Defaults of {@link MaintenanceRbacOptions}. */
export const MAINTENANCE_RBAC_DEFAULTS = {
  namespace: "kube-system",
  name: "kube-upkeep-maintenance",
  allowPodDeletion: false,
} as const;

/** What the RBAC objects are called and what they grant. */
export interface MaintenanceRbacOptions {
  /**
   * Namespace of the ServiceAccount (a DNS-1123 label; the namespace must exist).
   *
   * @default "kube-system"
   */
  readonly namespace?: string;
  /**
   * Name of the ServiceAccount, the ClusterRole and the ClusterRoleBinding (a DNS-1123
   * subdomain). The ClusterRole and binding are cluster-scoped: use a different name for each
   * installation in the cluster.
   *
   * @default "kube-upkeep-maintenance"
   */
  readonly name?: string;
  /**
   * Also grant pods delete, which only drains with `disableEviction: true` need. Such drains
   * bypass PodDisruptionBudgets; without this rule the API server refuses them.
   *
   * @default false
   */
  readonly allowPodDeletion?: boolean;
}

/** {@link MaintenanceRbacOptions} validated, defaults filled in. */
export interface ResolvedMaintenanceRbac {
  readonly namespace: string;
  readonly name: string;
  readonly allowPodDeletion: boolean;
  /** {@link MAINTENANCE_RULES}, plus {@link POD_DELETION_RULE} with allowPodDeletion. */
  readonly rules: readonly MaintenanceRule[];
}

/** Validates the options (the field, the bad value and the fix in every error) and fills in defaults. */
export function resolveMaintenanceRbac(
  where: string,
  opts: MaintenanceRbacOptions = {},
): ResolvedMaintenanceRbac {
  const d = MAINTENANCE_RBAC_DEFAULTS;
  const namespace = opts.namespace ?? d.namespace;
  if (typeof namespace !== "string" || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
    throw new ValidationError(
      where,
      "namespace",
      namespace,
      "not a DNS-1123 label (a namespace name)",
      "use at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, e.g. \"kube-system\"",
    );
  const name = validateDnsName(where, "name", opts.name ?? d.name);
  const allowPodDeletion = opts.allowPodDeletion ?? d.allowPodDeletion;
  if (typeof allowPodDeletion !== "boolean")
    throw new ValidationError(
      where,
      "allowPodDeletion",
      allowPodDeletion,
      "must be true or false",
      "leave it unset unless drains use disableEviction: true",
    );
  return {
    namespace,
    name,
    allowPodDeletion,
    rules: allowPodDeletion ? [...MAINTENANCE_RULES, POD_DELETION_RULE] : MAINTENANCE_RULES,
  };
}

/** A mutable copy of the rules as a ClusterRole carries them (no `usedBy`). */
export function policyRules(rules: readonly PolicyRule[]): {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}[] {
  return rules.map((r) => ({
    apiGroups: [...r.apiGroups],
    resources: [...r.resources],
    ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
    verbs: [...r.verbs],
  }));
}

/** The user name the API server gives the ServiceAccount (as in its 403 messages). */
export function serviceAccountUser(r: Pick<ResolvedMaintenanceRbac, "namespace" | "name">): string {
  return `system:serviceaccount:${r.namespace}:${r.name}`;
}

const LABELS = {
  "app.kubernetes.io/name": "kube-upkeep-maintenance",
  "app.kubernetes.io/managed-by": "kube-upkeep",
} as const;

/** A Kubernetes object as plain JSON (what the cdk8s construct synthesizes and Pulumi sends). */
export interface RbacManifest {
  readonly apiVersion: string;
  readonly kind: "ServiceAccount" | "ClusterRole" | "ClusterRoleBinding";
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

/** The ServiceAccount, the ClusterRole with the rules, and the binding of the one to the other. */
export function maintenanceRbacManifests(r: ResolvedMaintenanceRbac): {
  serviceAccount: RbacManifest;
  clusterRole: RbacManifest;
  clusterRoleBinding: RbacManifest;
} {
  return {
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: r.name, namespace: r.namespace, labels: { ...LABELS } },
      // the identity is used from outside the cluster (a kubeconfig with a token): no pod mounts it
      automountServiceAccountToken: false,
    },
    clusterRole: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: r.name, labels: { ...LABELS } },
      rules: policyRules(r.rules),
    },
    clusterRoleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: r.name, labels: { ...LABELS } },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: r.name },
      subjects: [{ kind: "ServiceAccount", name: r.name, namespace: r.namespace }],
    },
  };
}
