export * from "./errors";
export * from "./scripts/shell";
