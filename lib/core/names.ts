/** Kubernetes name rules, in one place. */
import { ValidationError } from "./errors";

/** A node name: a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253). */
export const NODE_NAME_PATTERN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** A DNS-1123 label (namespaces, object names, component names): at most 63 characters. */
export const DNS_LABEL_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isDnsLabel(value: unknown): value is string {
  return typeof value === "string" && DNS_LABEL_PATTERN.test(value);
}

export function isNodeName(value: unknown): value is string {
  return typeof value === "string" && value.length <= 253 && NODE_NAME_PATTERN.test(value);
}

/** A ValidationError when `value` is not a node name, else undefined. */
export function nodeNameProblem(
  where: string,
  value: unknown,
  field = "nodeName",
): ValidationError | undefined {
  if (isNodeName(value)) return undefined;
  return new ValidationError(
    where,
    field,
    value,
    "not a Kubernetes node name",
    "use the name `kubectl get nodes` shows",
  );
}

/** Throws the ValidationError of nodeNameProblem. */
export function assertNodeName(where: string, value: unknown, field = "nodeName"): void {
  const problem = nodeNameProblem(where, value, field);
  if (problem) throw problem;
}
