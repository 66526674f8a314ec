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

/**
 * Collects the problems of a whole input before anything acts on it, so one run reports every
 * problem at once:
 *
 * ```ts
 * const problems = new ProblemCollector();
 * const plan = problems.collect(() => planUpgrade(input, where)); // undefined when it threw
 * problems.add(new ValidationError(where, "kubeconfig", undefined, "...", "..."));
 * problems.throwIfAny(); // ValidationErrors listing every problem
 * ```
 *
 * `collect` catches ValidationError / ValidationErrors only; anything else is re-thrown. A problem
 * whose message was already collected is not added again (the same cluster-wide setting checked
 * for every node reports once). `rewrite` re-states a caught error, e.g. to name the component and
 * the field the user wrote instead of the function that found it.
 */
export class ProblemCollector {
  readonly errors: ValidationError[] = [];
  private readonly seen = new Set<string>();

  /** Adds problems (a ValidationErrors adds each of its errors). */
  add(...problems: readonly (ValidationError | ValidationErrors)[]): void {
    for (const p of problems) {
      for (const e of p instanceof ValidationErrors ? p.errors : [p]) {
        if (this.seen.has(e.message)) continue;
        this.seen.add(e.message);
        this.errors.push(e);
      }
    }
  }

  /** Runs `fn`; returns its result, or undefined after collecting the validation problem it threw. */
  collect<T>(fn: () => T, rewrite?: (e: ValidationError) => ValidationError): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof ValidationError || e instanceof ValidationErrors)) throw e;
      const errors = e instanceof ValidationErrors ? e.errors : [e];
      this.add(...(rewrite ? errors.map(rewrite) : errors));
      return undefined;
    }
  }

  get empty(): boolean {
    return this.errors.length === 0;
  }

  /** Throws ValidationErrors listing every collected problem; returns when there is none. */
  throwIfAny(): void {
    if (this.errors.length > 0) throw new ValidationErrors([...this.errors]);
  }

  /** Like throwIfAny, but a single problem is thrown as the ValidationError itself. */
  throwOneOrAll(): void {
    if (this.errors.length === 1) throw this.errors[0];
    this.throwIfAny();
  }
}
