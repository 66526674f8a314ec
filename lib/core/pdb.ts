/**
 * PodDisruptionBudget math, shared by the cdk8s constructs (PodDisruptionBudget, DrainSafety)
 * and the drain side: budget parsing and validation, the disruption controller's rounding, and
 * label-selector matching. Pure TypeScript: imports neither cdk8s nor @pulumi.
 *
 * The rounding follows k8s.io/kubernetes pkg/controller/disruption/disruption.go
 * (`getExpectedPodCount`, `updatePdbStatus`):
 *
 * - `maxUnavailable` (integer or percentage): expected = scale of the pods' controllers;
 *   maxUnavailable = GetScaledValueFromIntOrPercent(value, expected, roundUp=true);
 *   desiredHealthy = max(0, expected - maxUnavailable).
 * - `minAvailable` integer: expected = number of pods; desiredHealthy = value.
 * - `minAvailable` percentage: expected = scale of the controllers;
 *   desiredHealthy = GetScaledValueFromIntOrPercent(value, expected, roundUp=true).
 * - disruptionsAllowed = currentHealthy - desiredHealthy, and 0 when that is negative or when
 *   expected <= 0.
 *
 * Percentages therefore round UP for both fields: minAvailable "50%" of 3 pods keeps 2 available,
 * maxUnavailable "50%" of 3 pods lets 2 go.
 */
import { ValidationError, ValidationErrors } from "./errors";

/** An integer (`1`) or a percentage string (`"50%"`), as in Kubernetes' IntOrString. */
export type IntOrPercent = number | string;

/** The two mutually exclusive PodDisruptionBudget fields. */
export type BudgetField = "minAvailable" | "maxUnavailable";

/** A validated IntOrString budget value. */
export interface ParsedIntOrPercent {
  /** `int` for a number, `percent` for a `"N%"` string. */
  readonly kind: "int" | "percent";
  /** The integer, or the percentage without the `%` sign. */
  readonly value: number;
  /** The value as given. */
  readonly raw: IntOrPercent;
}

/** A budget as written in a PodDisruptionBudget spec: exactly one of the two fields. */
export interface BudgetSpec {
  readonly minAvailable?: IntOrPercent;
  readonly maxUnavailable?: IntOrPercent;
}

/** A validated budget: which field is set and its parsed value. */
export interface DisruptionBudget {
  readonly field: BudgetField;
  readonly value: ParsedIntOrPercent;
}

/** Values of `spec.unhealthyPodEvictionPolicy` that Kubernetes accepts (policy/v1). */
export const UNHEALTHY_POD_EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"] as const;

/** `spec.unhealthyPodEvictionPolicy` (policy/v1, GA in Kubernetes 1.31). */
export type UnhealthyPodEvictionPolicy = (typeof UNHEALTHY_POD_EVICTION_POLICIES)[number];

/** Largest value of an IntOrString integer (int32). */
export const MAX_INT32 = 2147483647;

const PERCENT = /^[0-9]+%$/;

/** Throw the collected errors: one as itself, several together. */
export function throwValidationErrors(errors: readonly ValidationError[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new ValidationErrors([...errors]);
}

/**
 * Validates one IntOrString budget value the way the API server does (ValidatePositiveIntOrPercent
 * plus "must not be greater than 100%"): an integer >= 0 or a string matching `^[0-9]+%$` with a
 * value 0..100. Returns the parsed value or a ValidationError naming `path` and `field`.
 */
export function checkIntOrPercent(
  path: string,
  field: string,
  value: unknown,
): ParsedIntOrPercent | ValidationError {
  const example =
    field === "minAvailable"
      ? 'e.g. minAvailable: 2 or minAvailable: "50%"'
      : 'e.g. maxUnavailable: 1 or maxUnavailable: "25%"';
  if (typeof value === "number") {
    if (!Number.isFinite(value) || !Number.isInteger(value))
      return new ValidationError(
        path,
        field,
        Number.isFinite(value) ? value : String(value),
        "must be a whole number of pods or a percentage string",
        `use an integer >= 0 or a percentage string, ${example}`,
      );
    if (value < 0)
      return new ValidationError(
        path,
        field,
        value,
        "must not be negative",
        `use an integer >= 0, ${example}`,
      );
    if (value > MAX_INT32)
      return new ValidationError(
        path,
        field,
        value,
        `must not exceed ${MAX_INT32} (IntOrString is an int32)`,
        `use a realistic pod count or a percentage string, ${example}`,
      );
    return { kind: "int", value, raw: value };
  }
  if (typeof value === "string") {
    if (!PERCENT.test(value)) {
      const trimmed = value.trim();
      const hint = /^[0-9]+$/.test(trimmed)
        ? `write the number ${Number(trimmed)} (no quotes) or "${Number(trimmed)}%"`
        : /^-[0-9]+%?$/.test(trimmed)
          ? "percentages and pod counts must not be negative; use 0%..100%"
          : `write a whole-number percentage such as "50%" (digits followed by %, no spaces, signs or decimals), ${example}`;
      return new ValidationError(
        path,
        field,
        value,
        'is not an integer or a percentage string of the form "N%"',
        hint,
      );
    }
    const n = Number(value.slice(0, -1));
    if (n > 100)
      return new ValidationError(
        path,
        field,
        value,
        "percentage must be between 0% and 100%",
        `use a percentage from "0%" to "100%", ${example}`,
      );
    return { kind: "percent", value: n, raw: value };
  }
  return new ValidationError(
    path,
    field,
    value,
    `has type ${value === null ? "null" : typeof value}, expected a number or a percentage string`,
    `use an integer >= 0 or a percentage string, ${example}`,
  );
}

/** Like {@link checkIntOrPercent} but throws the ValidationError. */
export function parseIntOrPercent(path: string, field: string, value: unknown): ParsedIntOrPercent {
  const r = checkIntOrPercent(path, field, value);
  if (r instanceof ValidationError) throw r;
  return r;
}

/**
 * Validates a budget (exactly one of minAvailable / maxUnavailable, each a valid IntOrString).
 * Returns the budget or the list of problems (never throws).
 */
export function checkBudget(
  path: string,
  spec: BudgetSpec,
): { budget?: DisruptionBudget; errors: ValidationError[] } {
  const hasMin = spec.minAvailable !== undefined && spec.minAvailable !== null;
  const hasMax = spec.maxUnavailable !== undefined && spec.maxUnavailable !== null;
  if (hasMin && hasMax)
    return {
      errors: [
        new ValidationError(
          path,
          "minAvailable/maxUnavailable",
          { minAvailable: spec.minAvailable, maxUnavailable: spec.maxUnavailable },
          "both are set, but a PodDisruptionBudget takes exactly one of them (the API server rejects both)",
          "keep only one: maxUnavailable (e.g. 1) keeps drains moving as replicas change; minAvailable (e.g. replicas - 1) fixes a floor",
        ),
      ],
    };
  if (!hasMin && !hasMax)
    return {
      errors: [
        new ValidationError(
          path,
          "minAvailable/maxUnavailable",
          undefined,
          "neither is set, but a PodDisruptionBudget needs exactly one of them",
          "set maxUnavailable: 1 (one pod may be evicted at a time) or minAvailable: <replicas - 1>",
        ),
      ],
    };
  const field: BudgetField = hasMin ? "minAvailable" : "maxUnavailable";
  const r = checkIntOrPercent(path, field, hasMin ? spec.minAvailable : spec.maxUnavailable);
  if (r instanceof ValidationError) return { errors: [r] };
  return { budget: { field, value: r }, errors: [] };
}

/** Like {@link checkBudget} but throws (ValidationError, or ValidationErrors for several). */
export function parseBudget(path: string, spec: BudgetSpec): DisruptionBudget {
  const { budget, errors } = checkBudget(path, spec);
  throwValidationErrors(errors);
  return budget!;
}

/** Accepts either a parsed budget or a raw spec (validated, throws on bad input). */
function toBudget(budget: DisruptionBudget | BudgetSpec): DisruptionBudget {
  if ("field" in budget && "value" in budget) return budget as DisruptionBudget;
  return parseBudget("disruptionsAllowedAtFullHealth", budget as BudgetSpec);
}

/**
 * intstr.GetScaledValueFromIntOrPercent: an integer is returned as is; a percentage is
 * `value * total / 100`, rounded up (ceil) when `roundUp`, else down. Integer arithmetic
 * gives the same result as Go's float64 ceil/floor for every int32 input.
 */
export function scaledValue(v: ParsedIntOrPercent, total: number, roundUp: boolean): number {
  if (v.kind === "int") return v.value;
  const product = v.value * total;
  return roundUp ? Math.ceil(product / 100) : Math.floor(product / 100);
}

/** Pods that must stay healthy (`status.desiredHealthy`) for `expected` pods. */
export function desiredHealthy(budget: DisruptionBudget | BudgetSpec, expected: number): number {
  const b = toBudget(budget);
  if (b.field === "maxUnavailable") {
    return Math.max(0, expected - scaledValue(b.value, expected, true));
  }
  return scaledValue(b.value, expected, true);
}

/**
 * `status.disruptionsAllowed` when all `replicas` pods are healthy, as the disruption
 * controller computes it (see the module comment). 0 means no voluntary eviction can ever
 * succeed: `kubectl drain` retries the 429 until its timeout.
 */
export function disruptionsAllowedAtFullHealth(
  budget: DisruptionBudget | BudgetSpec,
  replicas: number,
): number {
  if (!Number.isInteger(replicas) || replicas < 0)
    throw new ValidationError(
      "disruptionsAllowedAtFullHealth",
      "replicas",
      replicas,
      "must be an integer >= 0",
      "pass the number of pods the budget covers",
    );
  if (replicas <= 0) return 0;
  const allowed = replicas - desiredHealthy(budget, replicas);
  return allowed > 0 ? allowed : 0;
}

/**
 * True when the budget allows no disruption for any number of replicas:
 * maxUnavailable 0 or "0%", minAvailable "100%".
 */
export function alwaysBlocksDrain(budget: DisruptionBudget | BudgetSpec): boolean {
  const b = toBudget(budget);
  if (b.field === "maxUnavailable") return b.value.value === 0;
  return b.value.kind === "percent" && b.value.value === 100;
}

/** True when the disruption controller needs the scale of the pods' controller (see module comment). */
export function needsControllerScale(budget: DisruptionBudget | BudgetSpec): boolean {
  const b = toBudget(budget);
  return b.field === "maxUnavailable" || b.value.kind === "percent";
}

/** Renders a budget as `maxUnavailable 1` / `minAvailable "50%"`. */
export function describeBudget(budget: DisruptionBudget): string {
  return `${budget.field} ${JSON.stringify(budget.value.raw)}`;
}

// ---------------------------------------------------------------------------------------------
// Label selectors (metav1.LabelSelector)

/** Operators of a label selector requirement. */
export type LabelSelectorOperator = "In" | "NotIn" | "Exists" | "DoesNotExist";

/** One `matchExpressions` entry. */
export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: LabelSelectorOperator | string;
  readonly values?: readonly string[];
}

/** metav1.LabelSelector: `matchLabels` and `matchExpressions` are ANDed. */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

/** True for `{}` (no labels, no expressions): in policy/v1 it selects every pod in the namespace. */
export function isEmptySelector(selector: LabelSelector | null | undefined): boolean {
  if (selector === null || selector === undefined) return false;
  return (
    Object.keys(selector.matchLabels ?? {}).length === 0 &&
    (selector.matchExpressions ?? []).length === 0
  );
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Whether `selector` selects an object with `labels`, with policy/v1 PodDisruptionBudget semantics:
 * a null/undefined selector selects nothing, an empty selector selects everything. NotIn and
 * DoesNotExist match objects without the key. Unknown operators match nothing. Allocates nothing
 * per call; to match one selector against many label sets, {@link labelSelectorMatcher} prepares
 * it once.
 */
export function selectorMatches(
  selector: LabelSelector | null | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (selector === null || selector === undefined) return false;
  const l = labels ?? {};
  const ml = selector.matchLabels;
  if (ml) {
    for (const k in ml) {
      if (!hasOwn.call(ml, k)) continue;
      if (!hasOwn.call(l, k) || l[k] !== ml[k]) return false;
    }
  }
  const exprs = selector.matchExpressions;
  if (exprs) {
    for (let i = 0; i < exprs.length; i++) {
      if (!requirementMatches(exprs[i], l)) return false;
    }
  }
  return true;
}

function requirementMatches(
  req: LabelSelectorRequirement,
  l: Readonly<Record<string, string>>,
): boolean {
  const has = hasOwn.call(l, req.key);
  switch (req.operator) {
    case "In":
      return has && (req.values ?? []).includes(l[req.key]);
    case "NotIn":
      return !has || !(req.values ?? []).includes(l[req.key]);
    case "Exists":
      return has;
    case "DoesNotExist":
      return !has;
    default:
      return false;
  }
}

/**
 * {@link selectorMatches} with the selector prepared once: the returned function tests one label
 * set (no allocation per call; In/NotIn values looked up in a Set). Same semantics.
 */
export function labelSelectorMatcher(
  selector: LabelSelector | null | undefined,
): (labels: Readonly<Record<string, string>> | undefined) => boolean {
  if (selector === null || selector === undefined) return () => false;
  const keys: string[] = [];
  const values: string[] = [];
  const ml = selector.matchLabels ?? {};
  for (const k in ml) {
    if (!hasOwn.call(ml, k)) continue;
    keys.push(k);
    values.push(ml[k]);
  }
  type Test = (l: Readonly<Record<string, string>>) => boolean;
  const tests: Test[] = (selector.matchExpressions ?? []).map((req): Test => {
    const key = req.key;
    const set = new Set(req.values ?? []);
    switch (req.operator) {
      case "In":
        return (l) => hasOwn.call(l, key) && set.has(l[key]);
      case "NotIn":
        return (l) => !hasOwn.call(l, key) || !set.has(l[key]);
      case "Exists":
        return (l) => hasOwn.call(l, key);
      case "DoesNotExist":
        return (l) => !hasOwn.call(l, key);
      default:
        return () => false;
    }
  });
  const empty: Readonly<Record<string, string>> = {};
  return (labels) => {
    const l = labels ?? empty;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (!hasOwn.call(l, k) || l[k] !== values[i]) return false;
    }
    for (let i = 0; i < tests.length; i++) if (!tests[i](l)) return false;
    return true;
  };
}

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Problem with a label key (qualified name), or undefined when valid. */
export function labelKeyProblem(key: string): string | undefined {
  if (typeof key !== "string" || key.length === 0) return "label key is empty";
  const slash = key.indexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return "label key prefix must be a DNS subdomain (lower-case, at most 253 characters)";
  if (name.length > 63 || !NAME_PART.test(name))
    return "label key name must be at most 63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit";
  return undefined;
}

/** Problem with a label value, or undefined when valid. */
export function labelValueProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "label value must be a string";
  if (value === "") return undefined;
  if (value.length > 63 || !NAME_PART.test(value))
    return "label value must be at most 63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit";
  return undefined;
}

/**
 * Validates a label selector as the API server does: label keys and values, operators, and
 * `values` non-empty for In/NotIn and empty for Exists/DoesNotExist.
 */
export function checkLabelSelector(
  path: string,
  field: string,
  selector: LabelSelector | null | undefined,
): ValidationError[] {
  const errors: ValidationError[] = [];
  if (selector === null || selector === undefined || typeof selector !== "object") {
    errors.push(
      new ValidationError(
        path,
        field,
        selector,
        "a PodDisruptionBudget without a selector protects no pods",
        "select the workload's pods, e.g. { matchLabels: { app: \"web\" } } (the workload's spec.selector)",
      ),
    );
    return errors;
  }
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    const kp = labelKeyProblem(k);
    if (kp)
      errors.push(
        new ValidationError(
          path,
          `${field}.matchLabels`,
          k,
          kp,
          "use a valid label key such as app or app.kubernetes.io/name",
        ),
      );
    const vp = labelValueProblem(v);
    if (vp)
      errors.push(
        new ValidationError(
          path,
          `${field}.matchLabels.${k}`,
          v,
          vp,
          "use the label value the pods carry",
        ),
      );
  }
  (selector.matchExpressions ?? []).forEach((req, i) => {
    const f = `${field}.matchExpressions[${i}]`;
    const kp = labelKeyProblem(req.key);
    if (kp)
      errors.push(
        new ValidationError(
          path,
          `${f}.key`,
          req.key,
          kp,
          "use a valid label key such as app or app.kubernetes.io/name",
        ),
      );
    const values = req.values ?? [];
    switch (req.operator) {
      case "In":
      case "NotIn":
        if (values.length === 0)
          errors.push(
            new ValidationError(
              path,
              `${f}.values`,
              req.values,
              `operator ${req.operator} needs at least one value`,
              `list the values, e.g. { key: ${JSON.stringify(req.key)}, operator: "${req.operator}", values: ["a"] }, or use Exists/DoesNotExist`,
            ),
          );
        values.forEach((v, j) => {
          const vp = labelValueProblem(v);
          if (vp)
            errors.push(
              new ValidationError(
                path,
                `${f}.values[${j}]`,
                v,
                vp,
                "use the label value the pods carry",
              ),
            );
        });
        break;
      case "Exists":
      case "DoesNotExist":
        if (values.length > 0)
          errors.push(
            new ValidationError(
              path,
              `${f}.values`,
              req.values,
              `operator ${req.operator} takes no values`,
              "remove values, or use In/NotIn to compare values",
            ),
          );
        break;
      default:
        errors.push(
          new ValidationError(
            path,
            `${f}.operator`,
            req.operator,
            "unknown label selector operator",
            "use one of In, NotIn, Exists, DoesNotExist",
          ),
        );
    }
  });
  return errors;
}

/** Validates `spec.unhealthyPodEvictionPolicy`; undefined when valid. */
export function checkUnhealthyPodEvictionPolicy(
  path: string,
  value: unknown,
): ValidationError | undefined {
  if ((UNHEALTHY_POD_EVICTION_POLICIES as readonly unknown[]).includes(value)) return undefined;
  return new ValidationError(
    path,
    "unhealthyPodEvictionPolicy",
    value,
    "must be AlwaysAllow or IfHealthyBudget",
    'use "AlwaysAllow" (recommended: unhealthy pods never block a drain) or "IfHealthyBudget"',
  );
}
