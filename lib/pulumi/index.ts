/**
 * kube-upkeep/pulumi: the rolling upgrade as Pulumi resources (needs the @pulumi/* peers). The
 * reference is docs/pulumi.md; how the dynamic providers load core is docs/ARCHITECTURE.md.
 */
export {
  ClusterUpgrade,
  ClusterUpgradePlanError,
  type ClusterUpgradeArgs,
  type ClusterNode,
  type NodeCommandContext,
  type EtcdSnapshotSettings,
  type ClusterPreflightSettings,
} from "./cluster-upgrade";
export {
  NodeUpgrade,
  NODE_PREFLIGHT_CHECKS,
  type NodeUpgradeArgs,
  type NodeUpgradeSettings,
  type NodeUpgradeScriptSettings,
  type NodePreflightSettings,
  type SshConnection,
} from "./node-upgrade";
export {
  NodeRollback,
  type NodeRollbackArgs,
  type NodeRollbackScriptSettings,
} from "./node-rollback";
export { NodeDrain, type NodeDrainArgs, type NodeDrainOptions } from "./node-drain";
export { NodeUncordon, type NodeUncordonArgs } from "./node-uncordon";
export { NodeReadyWait, type NodeReadyWaitArgs } from "./node-ready-wait";
export { NodeHealthGate, type NodeHealthGateArgs } from "./node-health-gate";
export { type RollReportSettings } from "./roll-report";
export { type LivePlanSetting } from "./live-plan";
export {
  Cdk8sManifests,
  type Cdk8sManifestsArgs,
  type Cdk8sChartSource,
  type ManifestObject,
} from "./cdk8s-chart";
export {
  MaintenanceServiceAccount,
  type MaintenanceServiceAccountArgs,
} from "./maintenance-service-account";
