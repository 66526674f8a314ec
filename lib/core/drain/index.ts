export * from "./messages";
export * from "./errors";
export * from "./filters";
export * from "./client";
export * from "./cordon";
export * from "./evict";
export * from "./wait";
export * from "./drain";
export { waitNodeReady, type ReadyWaitOptions, type ReadyWaitResult } from "./ready";
