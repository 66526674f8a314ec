export {};
export * from "./node-drain";
export * from "./node-uncordon";
