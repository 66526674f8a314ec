export * from "./checks";
export * from "./judge";
export * from "./poll";
export * from "./http";
export * from "./run";
export * from "./record";
export * from "./verify";
