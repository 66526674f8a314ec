import type { IConstruct } from "constructs";

/**
 * The node path a child `id` of `scope` will have, known before the child exists. The
 * constructs library adds a child to its scope before the child's constructor body runs, so a
 * construct that validates its props after `super()` and throws leaves an empty child behind,
 * and the same id cannot be used again in that scope. Our constructs validate first, naming the
 * path this returns (the same as `node.path` afterwards: "/" and newlines in `id` become "--").
 */
export function childPath(scope: IConstruct, id: string): string {
  const safe = String(id ?? "").replace(/[/\n]/g, "--");
  return scope.node.path ? `${scope.node.path}/${safe}` : safe;
}
