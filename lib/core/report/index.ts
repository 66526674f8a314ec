export * from "./events";
export * from "./model";
export * from "./format";
export * from "./escape";
export * from "./svg";
export * from "./html";
export * from "./store";
export * from "./recorder";
