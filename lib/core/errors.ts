/**
 * One error type for every invalid option, so users always get the same shape of message:
 *
 *   <path>: invalid <field> "<value>": <problem>. Fix: <how to fix>
 *
 * `path` is the construct path (cdk8s), the resource name (Pulumi) or the function name (core).
 */
export class ValidationError extends Error {
  constructor(
    /** Where the bad value was given, e.g. the construct path `chart/web-pdb`. */
    public readonly path: string,
    /** The option name, e.g. `minAvailable`. */
    public readonly field: string,
    /** The offending value as given (rendered with JSON.stringify). */
    public readonly value: unknown,
    /** What is wrong with it. */
    public readonly problem: string,
    /** How to fix it. */
    public readonly fix: string,
  ) {
    super(`${path}: invalid ${field} ${render(value)}: ${problem}. Fix: ${fix}`);
    this.name = "ValidationError";
  }
}

function render(value: unknown): string {
  if (value === undefined) return "(unset)";
  try {
    const s = JSON.stringify(value);
    return s.length > 200 ? s.slice(0, 197) + "..." : s;
  } catch {
    return String(value);
  }
}

/** Collects several validation errors and throws them together (all problems reported at once). */
export class ValidationErrors extends Error {
  constructor(public readonly errors: ValidationError[]) {
    super(errors.map((e) => e.message).join("\n"));
    this.name = "ValidationErrors";
  }
}
