import { Chart, JsonPatch } from "cdk8s";
import { k8s } from "cdk8s-plus-33";
import { Construct } from "constructs";
import {
  maintenanceRbacManifests,
  resolveMaintenanceRbac,
  serviceAccountUser,
  type MaintenanceRbacOptions,
  type MaintenanceRule,
} from "../core/rbac";

/** Properties of {@link MaintenanceRbac} (see `kube-upkeep/core` `MaintenanceRbacOptions`). */
export type MaintenanceRbacProps = MaintenanceRbacOptions;

/**
 * The least-privilege identity for kube-upkeep's drains, uncordons and ready waits: a
 * ServiceAccount, a ClusterRole with exactly the rules those calls need (`MAINTENANCE_RULES` of
 * `kube-upkeep/core`: nodes get/patch, pods list/watch, pods/eviction create,
 * poddisruptionbudgets list, daemonsets get; pods delete only with `allowPodDeletion`) and a
 * ClusterRoleBinding. Give `NodeDrain` / `NodeUncordon` / `NodeUpgrade` a kubeconfig with a token
 * of this ServiceAccount instead of the cluster-admin one (see docs/rbac.md).
 *
 * The props are validated before the construct is added to the tree, so a bad prop leaves no
 * empty construct behind and the id can be used again.
 */
export class MaintenanceRbac extends Construct {
  /** The resolved namespace of the ServiceAccount. */
  public readonly namespace: string;
  /** The resolved name of the ServiceAccount, ClusterRole and ClusterRoleBinding. */
  public readonly name: string;
  /** Whether pods delete is granted (drains with disableEviction). */
  public readonly allowPodDeletion: boolean;
  /** The rules of the ClusterRole, each with the calls that need it. */
  public readonly rules: readonly MaintenanceRule[];
  /** The user name the API server gives the ServiceAccount: `system:serviceaccount:<ns>:<name>`. */
  public readonly userName: string;
  public readonly serviceAccount: k8s.KubeServiceAccount;
  public readonly clusterRole: k8s.KubeClusterRole;
  public readonly clusterRoleBinding: k8s.KubeClusterRoleBinding;

  constructor(scope: Construct, id: string, props: MaintenanceRbacProps = {}) {
    const resolved = resolveMaintenanceRbac(
      scope.node.path ? `${scope.node.path}/${id}` : id,
      props,
    );
    super(scope, id);
    this.namespace = resolved.namespace;
    this.name = resolved.name;
    this.allowPodDeletion = resolved.allowPodDeletion;
    this.rules = resolved.rules;
    this.userName = serviceAccountUser(resolved);
    const m = maintenanceRbacManifests(resolved);
    // apiVersion and kind come from the cdk8s class; the unit test checks that the synthesized
    // objects equal the core manifests field for field (no field dropped by the typed props)
    this.serviceAccount = new k8s.KubeServiceAccount(
      this,
      "ServiceAccount",
      m.serviceAccount as unknown as k8s.KubeServiceAccountProps,
    );
    this.clusterRole = new k8s.KubeClusterRole(
      this,
      "ClusterRole",
      m.clusterRole as unknown as k8s.KubeClusterRoleProps,
    );
    this.clusterRoleBinding = new k8s.KubeClusterRoleBinding(
      this,
      "ClusterRoleBinding",
      m.clusterRoleBinding as unknown as k8s.KubeClusterRoleBindingProps,
    );
    // cdk8s gives every object the chart's namespace; the ClusterRole and binding have none
    if (Chart.of(this).namespace !== undefined)
      for (const o of [this.clusterRole, this.clusterRoleBinding])
        o.addJsonPatch(JsonPatch.remove("/metadata/namespace"));
  }
}
