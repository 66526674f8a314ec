export * from "./errors";
export * from "./scripts/shell";
export * from "./pdb";
export * from "./version";
export * from "./plan";
export * from "./scripts/node-upgrade";
export * from "./drain";
