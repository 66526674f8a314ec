export {};
export * from "./pod-disruption-budget";
export * from "./drain-safety";
