export * from "./annotation";
export * from "./events";
export * from "./reporter";
export * from "./steps";
