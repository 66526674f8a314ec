export * from "./state";
export * from "./read";
export * from "./reconcile";
export * from "./components";
