export * from "./shell";
export * from "./etcd-backup";
export * from "./cert-renewal";
