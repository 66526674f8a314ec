/**
 * kube-upkeep/core: versions and the skew policy, the upgrade plan, budgets, the rendered shell
 * scripts, the drain, and the roll report. Imports neither cdk8s nor Pulumi. Everything not named
 * here is internal: tests of internals import the module file by its relative path.
 */

// validation (docs/ARCHITECTURE.md, "Validation")
export { ValidationError, ValidationErrors } from "./errors";

// Kubernetes versions and the version skew policy
export {
  parseKubeVersion,
  tryParseKubeVersion,
  compareKubeVersions,
  componentSkewProblem,
  validateUpgrade,
  assertUpgradeValid,
  SKEW_POLICY,
  type KubeVersion,
  type KubeComponent,
  type SkewRule,
  type SkewFinding,
  type VersionedNode,
  type UpgradeVersionInput,
} from "./version";

// the upgrade plan: node order, concurrency chains
export {
  planUpgrade,
  formatPlan,
  FAILURE_POLICIES,
  type NodeRole,
  type PlanNodeInput,
  type PlanNodeProgress,
  type PlanSource,
  type PlanComponent,
  type FailurePolicy,
  type UpgradePlanInput,
  type PlanAction,
  type PlanStep,
  type UpgradePlan,
} from "./plan";

// PodDisruptionBudget arithmetic and label selectors
export {
  disruptionsAllowedAtFullHealth,
  alwaysBlocksDrain,
  UNHEALTHY_POD_EVICTION_POLICIES,
  type IntOrPercent,
  type BudgetField,
  type ParsedIntOrPercent,
  type DisruptionBudget,
  type BudgetSpec,
  type UnhealthyPodEvictionPolicy,
  type LabelSelector,
  type LabelSelectorRequirement,
  type LabelSelectorOperator,
} from "./pdb";

// rendered shell scripts (every value quoted by shq)
export { shq } from "./scripts/shell";
export {
  renderNodeUpgradeScript,
  type NodeUpgradeScriptOptions,
  type PackageManager,
} from "./scripts/node-upgrade";
export { type PackageRepository } from "./scripts/package-repository";
export { renderNodeRollbackScript, type NodeRollbackScriptOptions } from "./scripts/node-rollback";
export {
  renderNodePreflightScript,
  PREFLIGHT_CHECKS,
  type NodePreflightChecks,
  type NodePreflightOptions,
  type NodePreflightScriptOptions,
} from "./scripts/node-preflight";
export {
  renderEtcdBackupScript,
  renderEtcdBackupFinishScript,
  etcdSnapshotCommand,
  etcdVerifyCommand,
  ETCD_BACKUP_DEFAULTS,
  type EtcdBackupScriptOptions,
  type EtcdBackupRetention,
  type ResolvedEtcdBackupOptions,
} from "./scripts/etcd-backup";
export {
  renderEtcdRestoreScript,
  renderHaEtcdRestoreScripts,
  renderEtcdDataDirSwitchScript,
  etcdRestoreCommand,
  etcdHealthCommand,
  ETCD_RESTORE_DEFAULTS,
  type EtcdRestoreScriptOptions,
  type EtcdMember,
  type EtcdDataDirSwitchOptions,
  type EtcdClusterRestoreOptions,
  type EtcdMemberRestore,
  type ResolvedEtcdRestoreOptions,
} from "./scripts/etcd-restore";
export {
  renderCertRenewalScript,
  KUBEADM_CERTIFICATES,
  CERT_RENEWAL_DEFAULTS,
  type CertRenewalScriptOptions,
  type ResolvedCertRenewalOptions,
  type KubeadmCertificate,
  type ControlPlaneHealthCheck,
} from "./scripts/cert-renewal";
export {
  renderResourceBackupScript,
  RESOURCE_BACKUP_PRESETS,
  RESOURCE_BACKUP_DEFAULTS,
  RESOURCE_BACKUP_FILTER,
  type ResourceBackupScriptOptions,
  type ResolvedResourceBackupOptions,
  type ResourceBackupPreset,
  type ResourceBackupRetention,
  type ResourceBackupRule,
  type BackupResource,
} from "./scripts/resource-backup";

// the RBAC the maintenance jobs and the drain need
export {
  maintenanceRbacManifests,
  MAINTENANCE_RULES,
  MAINTENANCE_RBAC_DEFAULTS,
  type MaintenanceRbacOptions,
  type ResolvedMaintenanceRbac,
  type MaintenanceRule,
  type PolicyRule,
  type RbacManifest,
} from "./rbac";

// the drain: kubectl's drain on @kubernetes/client-node (docs/drain.md); talks to the API
// server. Its messages, filters, trackers and retries are internal.
export {
  drainNode,
  cordon,
  uncordon,
  podsForDeletion,
  type DrainOptions,
  type DrainRunOptions,
  type DrainProgress,
  type PodEvent,
  type PdbRetryEvent,
  type DeletedEvent,
  type DrainResult,
} from "./drain/drain";
export {
  DrainError,
  DrainFilterError,
  DrainTimeoutError,
  DrainEvictionError,
  DrainBlockedError,
  type PendingPod,
} from "./drain/errors";
export { CORDONED_BY_ANNOTATION, type PdbBlock } from "./drain/messages";
export { waitNodeReady, type ReadyWaitOptions, type ReadyWaitResult } from "./drain/ready";
export { clientsFromYaml, kubeConfigFromYaml, type DrainClients } from "./drain/client";
export type {
  FilterOptions,
  PodDelete,
  PodDeleteList,
  PodDeleteStatus,
  PodDeleteReason,
} from "./drain/filters";
export type {
  CordonResult,
  UncordonOptions,
  UncordonResult,
  UncordonOutcome,
  TransientRetryOptions,
} from "./drain/cordon";
export type { Backoff, RetryOptions } from "./drain/retry";

// progress on the Node: the annotation and the Events
export {
  parseUpgradeProgress,
  formatUpgradeProgress,
  UPGRADE_ANNOTATION,
  UPGRADE_STEPS,
  type UpgradeProgress,
  type UpgradeStepName,
} from "./progress/annotation";
export { type NodeProgressTarget } from "./progress/reporter";
export { type StepReportTarget } from "./report/recorder";

// health gates between nodes
export {
  validateHealthChecks,
  type CheckBase,
  type HealthCheck,
  type PodsReadyCheck,
  type RolloutCheck,
  type HttpCheck,
  type HttpRequestOptions,
  type PrometheusCheck,
  type CommandCheck,
  type ControlPlaneCheck,
  type ClusterVersionCheck,
  type ApiHealthCheck,
} from "./health/checks";

// the roll report
export {
  buildRollReport,
  type RollReport,
  type RollResult,
  type NodeStatus,
  type ReportNodeRow,
  type ReportSegment,
  type SegmentKind,
  type SegmentState,
  type ReportEviction,
  type ReportMarker,
  type ReportFailure,
} from "./report/model";
export {
  type ReportEvent,
  type ReportStep,
  type ReportPlanNode,
  type ReportRunStartedEvent,
  type ReportRunEndedEvent,
  type ReportStepStartedEvent,
  type ReportStepFinishedEvent,
  type ReportStepFailedEvent,
  type ReportCordonedEvent,
  type ReportEvictingEvent,
  type ReportPdbRetryEvent,
  type ReportEvictedEvent,
  type ReportHealthGateEvent,
  type ReportResolvedEvent,
} from "./report/events";
export { renderReportHtml } from "./report/html";
export { renderTimelineSvg } from "./report/svg";
export { readRollReport, writeRollReport, latestRunDir, REPORT_FILES } from "./report/store";
export { formatDuration } from "./report/format";

/*
 * Used by kube-upkeep's own dynamic providers inside the provider process, which load this
 * subpath by name (lib/pulumi/provider-runtime.ts): not API, may change without notice.
 */
/** @internal */
export { runHealthChecks } from "./health/run";
/** @internal */
export { readClusterState } from "./live/read";
/** @internal */
export { nodeProviderSteps } from "./drain/provider";
/** @internal */
export { stepRecorder } from "./report/recorder";
/** @internal */
export { nodeProgress } from "./progress/reporter";
/** @internal */
export { healthCheckName } from "./health/checks";
/** @internal */
export { healthGateError } from "./health/run";
/** @internal */
export { healthGateRecorder } from "./health/record";
/** @internal */
export { planComponents } from "./live/components";
/** @internal */
export { reconcileWithCluster } from "./live/reconcile";
