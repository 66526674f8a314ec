export * from "./errors";
export * from "./scripts/shell";
export * from "./pdb";
