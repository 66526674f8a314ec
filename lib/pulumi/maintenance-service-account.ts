/**
 * `MaintenanceServiceAccount` (kube-upkeep:index:MaintenanceServiceAccount): the least-privilege
 * identity for `NodeDrain`, `NodeUncordon` and `NodeReadyWait` (so `NodeUpgrade` /
 * `ClusterUpgrade`'s drains, waits and uncordons) — a ServiceAccount, a ClusterRole with exactly
 * the rules those calls need and a ClusterRoleBinding, as @pulumi/kubernetes resources. The
 * objects are `maintenanceRbacManifests` of `kube-upkeep/core`, the same the cdk8s construct
 * `MaintenanceRbac` synthesizes.
 *
 * The props are plain values, validated when the component is constructed (in `pulumi preview`),
 * before any child is registered. The Kubernetes provider comes from the resource options
 * (`provider` / `providers`), as for any component.
 */
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import {
  maintenanceRbacManifests,
  resolveMaintenanceRbac,
  serviceAccountUser,
  type MaintenanceRbacOptions,
  type MaintenanceRule,
} from "../core/rbac";

/** Arguments of {@link MaintenanceServiceAccount} (plain values: see `MaintenanceRbacOptions`). */
export type MaintenanceServiceAccountArgs = MaintenanceRbacOptions;

/**
 * ServiceAccount + ClusterRole + ClusterRoleBinding for kube-upkeep's drains, uncordons and
 * ready waits.
 *
 * @example
 * const sa = new MaintenanceServiceAccount("maintenance", { namespace: "kube-system" }, { provider });
 * // then give NodeUpgrade / ClusterUpgrade a kubeconfig with a token of sa.serviceAccountName
 */
export class MaintenanceServiceAccount extends pulumi.ComponentResource {
  /** Namespace of the ServiceAccount. */
  public readonly namespace: string;
  /** Name of the ServiceAccount, the ClusterRole and the ClusterRoleBinding. */
  public readonly serviceAccountName: string;
  /** `system:serviceaccount:<namespace>:<name>`, the user the API server sees. */
  public readonly userName: string;
  /** The rules of the ClusterRole, each with the calls that need it. */
  public readonly rules: readonly MaintenanceRule[];
  public readonly serviceAccount: k8s.core.v1.ServiceAccount;
  public readonly clusterRole: k8s.rbac.v1.ClusterRole;
  public readonly clusterRoleBinding: k8s.rbac.v1.ClusterRoleBinding;

  constructor(
    name: string,
    args: MaintenanceServiceAccountArgs = {},
    opts?: pulumi.ComponentResourceOptions,
  ) {
    // validated before super(): a bad prop registers nothing, not even the component
    const resolved = resolveMaintenanceRbac(`MaintenanceServiceAccount ${name}`, args);
    super("kube-upkeep:index:MaintenanceServiceAccount", name, {}, opts);
    this.namespace = resolved.namespace;
    this.serviceAccountName = resolved.name;
    this.userName = serviceAccountUser(resolved);
    this.rules = resolved.rules;
    const m = maintenanceRbacManifests(resolved);
    this.serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-service-account`,
      m.serviceAccount as k8s.core.v1.ServiceAccountArgs,
      { parent: this },
    );
    this.clusterRole = new k8s.rbac.v1.ClusterRole(
      `${name}-cluster-role`,
      m.clusterRole as k8s.rbac.v1.ClusterRoleArgs,
      { parent: this },
    );
    this.clusterRoleBinding = new k8s.rbac.v1.ClusterRoleBinding(
      `${name}-cluster-role-binding`,
      m.clusterRoleBinding as unknown as k8s.rbac.v1.ClusterRoleBindingArgs,
      // the binding names the role by name: create it after the role, delete it first
      { parent: this, dependsOn: [this.clusterRole, this.serviceAccount] },
    );
    this.registerOutputs({
      namespace: this.namespace,
      serviceAccountName: this.serviceAccountName,
      userName: this.userName,
    });
  }
}
