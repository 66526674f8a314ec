/**
 * kube-upkeep/cdk8s: one construct per file, each with its props. The construct reference is
 * docs/constructs-pdb.md, docs/constructs-jobs.md and docs/constructs-backup.md.
 */
export {
  PodDisruptionBudget,
  type PodDisruptionBudgetProps,
  type PodDisruptionBudgetForWorkloadProps,
} from "./pod-disruption-budget";
export {
  DrainSafety,
  checkDrainSafety,
  DRAIN_SAFETY_ERROR_CODES,
  DRAIN_SAFETY_WARNING_CODES,
  type DrainSafetyProps,
  type DrainSafetyOptions,
  type DrainSafetyDowngrade,
  type DrainSafetyCode,
  type DrainSafetyErrorCode,
  type DrainSafetyWarningCode,
  type Finding,
} from "./drain-safety";
export { type ControlPlaneCronJobProps, type ContainerResources } from "./control-plane-cron-job";
export { EtcdBackup, type EtcdBackupProps } from "./etcd-backup";
export { CertificateRenewal, type CertificateRenewalProps } from "./certificate-renewal";
export {
  ResourceBackup,
  type ResourceBackupProps,
  type ResourceBackupStorage,
} from "./resource-backup";
export {
  VeleroSchedule,
  type VeleroScheduleProps,
  type VeleroBackupTemplate,
  type VeleroBackupHook,
  type VeleroExecHook,
  type VeleroLabelSelector,
} from "./velero-schedule";
export { MaintenanceRbac, type MaintenanceRbacProps } from "./maintenance-rbac";
