export {};
export * from "./pod-disruption-budget";
export * from "./drain-safety";
export * from "./etcd-backup";
export * from "./certificate-renewal";
export * from "./maintenance-rbac";
export * from "./resource-backup";
export * from "./velero-schedule";
