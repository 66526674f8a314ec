/**
 * kube-upkeep: the pure core and the cdk8s constructs.
 * The Pulumi resources live in the subpath `kube-upkeep/pulumi` (they need the @pulumi/* peers).
 */
export * from "./core";
export * from "./cdk8s";
