export {};
export * from "./node-drain";
export * from "./node-uncordon";
export * from "./node-ready-wait";
export * from "./node-upgrade";
export * from "./cluster-upgrade";
export * from "./cdk8s-chart";
export * from "./maintenance-service-account";
export * from "./roll-report";
