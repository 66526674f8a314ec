import fc from "fast-check";
import {
  alwaysBlocksDrain,
  disruptionsAllowedAtFullHealth,
  ValidationError,
  ValidationErrors,
} from "kube-upkeep/core";
import {
  checkLabelSelector,
  desiredHealthy,
  isEmptySelector,
  parseBudget,
  parseIntOrPercent,
  scaledValue,
  selectorMatches,
} from "../../../lib/core/pdb";

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return e;
    throw e;
  }
  throw new Error("expected a ValidationError");
}

describe("parseIntOrPercent", () => {
  it.each([
    [0, { kind: "int", value: 0, raw: 0 }],
    [3, { kind: "int", value: 3, raw: 3 }],
    ["0%", { kind: "percent", value: 0, raw: "0%" }],
    ["50%", { kind: "percent", value: 50, raw: "50%" }],
    ["100%", { kind: "percent", value: 100, raw: "100%" }],
    ["007%", { kind: "percent", value: 7, raw: "007%" }],
  ])("accepts %j", (input, expected) => {
    expect(parseIntOrPercent("f", "maxUnavailable", input)).toEqual(expected);
  });

  it.each([
    [-1, "must not be negative"],
    [1.5, "must be a whole number"],
    [Number.NaN, "must be a whole number"],
    [2147483648, "must not exceed 2147483647"],
    ["101%", "percentage must be between 0% and 100%"],
    ["150%", "percentage must be between 0% and 100%"],
    ["50", 'write the number 50 (no quotes) or "50%"'],
    ["5.5%", 'is not an integer or a percentage string of the form "N%"'],
    ["-5%", "must not be negative"],
    [" 50%", "is not an integer"],
    ["50 %", "is not an integer"],
    ["+5%", "is not an integer"],
    ["%", "is not an integer"],
    ["abc", "is not an integer"],
    ["", "is not an integer"],
    [true, "has type boolean"],
  ])("rejects %j", (input, problem) => {
    const e = errorOf(() => parseIntOrPercent("chart/pdb", "minAvailable", input));
    expect(e.path).toBe("chart/pdb");
    expect(e.field).toBe("minAvailable");
    expect(e.value).toEqual(Number.isNaN(input) ? "NaN" : input);
    expect(e.message).toContain(problem);
    expect(e.message).toMatch(/^chart\/pdb: invalid minAvailable .*\. Fix: /);
  });
});

describe("parseBudget", () => {
  it("requires exactly one field", () => {
    expect(errorOf(() => parseBudget("p", {})).message).toBe(
      "p: invalid minAvailable/maxUnavailable (unset): neither is set, but a PodDisruptionBudget needs exactly one of them. Fix: set maxUnavailable: 1 (one pod may be evicted at a time) or minAvailable: <replicas - 1>",
    );
    const both = errorOf(() => parseBudget("p", { minAvailable: 1, maxUnavailable: 1 }));
    expect(both.field).toBe("minAvailable/maxUnavailable");
    expect(both.value).toEqual({ minAvailable: 1, maxUnavailable: 1 });
    expect(both.message).toContain("both are set");
  });
  it("returns the field and parsed value", () => {
    expect(parseBudget("p", { minAvailable: "60%" })).toEqual({
      field: "minAvailable",
      value: { kind: "percent", value: 60, raw: "60%" },
    });
  });
});

describe("Kubernetes rounding (disruption controller)", () => {
  it("rounds percentages up for both fields", () => {
    // minAvailable 50% of 3 -> ceil(1.5) = 2 must stay -> 1 disruption
    expect(desiredHealthy({ minAvailable: "50%" }, 3)).toBe(2);
    expect(disruptionsAllowedAtFullHealth({ minAvailable: "50%" }, 3)).toBe(1);
    // maxUnavailable 50% of 3 -> ceil(1.5) = 2 may go
    expect(disruptionsAllowedAtFullHealth({ maxUnavailable: "50%" }, 3)).toBe(2);
    // maxUnavailable 10% of 3 -> ceil(0.3) = 1
    expect(disruptionsAllowedAtFullHealth({ maxUnavailable: "10%" }, 3)).toBe(1);
    // minAvailable 90% of 3 -> ceil(2.7) = 3 -> blocks
    expect(disruptionsAllowedAtFullHealth({ minAvailable: "90%" }, 3)).toBe(0);
    // minAvailable 66% of 3 -> ceil(1.98) = 2 -> 1
    expect(disruptionsAllowedAtFullHealth({ minAvailable: "66%" }, 3)).toBe(1);
    expect(scaledValue({ kind: "percent", value: 1, raw: "1%" }, 1, true)).toBe(1);
    expect(scaledValue({ kind: "percent", value: 1, raw: "1%" }, 1, false)).toBe(0);
  });
  it("treats integers as pod counts", () => {
    expect(disruptionsAllowedAtFullHealth({ minAvailable: 2 }, 3)).toBe(1);
    expect(disruptionsAllowedAtFullHealth({ minAvailable: 3 }, 3)).toBe(0);
    expect(disruptionsAllowedAtFullHealth({ minAvailable: 5 }, 3)).toBe(0);
    expect(disruptionsAllowedAtFullHealth({ maxUnavailable: 1 }, 3)).toBe(1);
    expect(disruptionsAllowedAtFullHealth({ maxUnavailable: 5 }, 3)).toBe(3);
    expect(disruptionsAllowedAtFullHealth({ maxUnavailable: 0 }, 3)).toBe(0);
  });
  it("allows nothing when no pods are expected (expectedCount <= 0)", () => {
    expect(disruptionsAllowedAtFullHealth({ maxUnavailable: 1 }, 0)).toBe(0);
    expect(disruptionsAllowedAtFullHealth({ minAvailable: 0 }, 0)).toBe(0);
  });
  it("rejects a bad replica count and a bad budget", () => {
    expect(errorOf(() => disruptionsAllowedAtFullHealth({ maxUnavailable: 1 }, -1)).field).toBe(
      "replicas",
    );
    expect(errorOf(() => disruptionsAllowedAtFullHealth({ maxUnavailable: "x" }, 1)).field).toBe(
      "maxUnavailable",
    );
  });
  it("knows the budgets that block for every replica count", () => {
    expect(alwaysBlocksDrain({ maxUnavailable: 0 })).toBe(true);
    expect(alwaysBlocksDrain({ maxUnavailable: "0%" })).toBe(true);
    expect(alwaysBlocksDrain({ minAvailable: "100%" })).toBe(true);
    expect(alwaysBlocksDrain({ minAvailable: 3 })).toBe(false);
    expect(alwaysBlocksDrain({ maxUnavailable: "1%" })).toBe(false);
  });

  const budgetArb = fc.oneof(
    fc.record({ minAvailable: fc.nat({ max: 1000 }) }),
    fc.record({ maxUnavailable: fc.nat({ max: 1000 }) }),
    fc.record({ minAvailable: fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`) }),
    fc.record({ maxUnavailable: fc.integer({ min: 0, max: 100 }).map((n) => `${n}%`) }),
  );

  it("property: never negative, never more than replicas, monotone in replicas", () => {
    fc.assert(
      fc.property(budgetArb, fc.nat({ max: 100000 }), (budget, replicas) => {
        const a = disruptionsAllowedAtFullHealth(budget, replicas);
        const b = disruptionsAllowedAtFullHealth(budget, replicas + 1);
        return a >= 0 && a <= replicas && b >= a && Number.isInteger(a);
      }),
    );
  });

  it("property: percentages scale exactly (BigInt reference) over the whole int32 range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.nat({ max: 2147483647 }), (p, total) => {
        const v = { kind: "percent" as const, value: p, raw: `${p}%` };
        const product = BigInt(p) * BigInt(total);
        return (
          BigInt(scaledValue(v, total, true)) === (product + 99n) / 100n &&
          BigInt(scaledValue(v, total, false)) === product / 100n
        );
      }),
    );
  });

  it('property: maxUnavailable 0 / "0%" and minAvailable "100%" always block', () => {
    fc.assert(
      fc.property(
        fc.constantFrom({ maxUnavailable: 0 }, { maxUnavailable: "0%" }, { minAvailable: "100%" }),
        fc.nat({ max: 100000 }),
        (budget, replicas) => disruptionsAllowedAtFullHealth(budget, replicas) === 0,
      ),
    );
  });

  it("property: maxUnavailable >= 1 and minAvailable < replicas allow a disruption", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10000 }),
        fc.integer({ min: 1, max: 10000 }),
        (n, replicas) => {
          const minAvailable = Math.min(n, replicas) - 1;
          return (
            disruptionsAllowedAtFullHealth({ maxUnavailable: n }, replicas) ===
              Math.min(n, replicas) &&
            disruptionsAllowedAtFullHealth({ minAvailable }, replicas) === replicas - minAvailable
          );
        },
      ),
    );
  });
});

describe("label selectors (policy/v1 semantics)", () => {
  const labels = { app: "web", tier: "frontend" };
  it("null selects nothing, empty selects everything", () => {
    expect(selectorMatches(undefined, labels)).toBe(false);
    expect(selectorMatches(null, labels)).toBe(false);
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({}, {})).toBe(true);
    expect(isEmptySelector({})).toBe(true);
    expect(isEmptySelector({ matchLabels: {}, matchExpressions: [] })).toBe(true);
    expect(isEmptySelector(undefined)).toBe(false);
    expect(isEmptySelector({ matchLabels: { a: "b" } })).toBe(false);
  });
  it("ANDs matchLabels and matchExpressions", () => {
    expect(selectorMatches({ matchLabels: { app: "web" } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: "web", tier: "db" } }, labels)).toBe(false);
    expect(
      selectorMatches(
        {
          matchLabels: { app: "web" },
          matchExpressions: [{ key: "tier", operator: "In", values: ["frontend", "edge"] }],
        },
        labels,
      ),
    ).toBe(true);
    expect(
      selectorMatches(
        {
          matchLabels: { app: "web" },
          matchExpressions: [{ key: "tier", operator: "DoesNotExist" }],
        },
        labels,
      ),
    ).toBe(false);
  });
  it.each([
    [{ key: "tier", operator: "In", values: ["frontend"] }, true],
    [{ key: "tier", operator: "In", values: ["db"] }, false],
    [{ key: "zone", operator: "In", values: ["a"] }, false],
    [{ key: "tier", operator: "NotIn", values: ["db"] }, true],
    [{ key: "tier", operator: "NotIn", values: ["frontend"] }, false],
    [{ key: "zone", operator: "NotIn", values: ["a"] }, true],
    [{ key: "tier", operator: "Exists" }, true],
    [{ key: "zone", operator: "Exists" }, false],
    [{ key: "zone", operator: "DoesNotExist" }, true],
    [{ key: "tier", operator: "DoesNotExist" }, false],
    [{ key: "tier", operator: "Bogus" }, false],
  ])("%j -> %s", (req, expected) => {
    expect(selectorMatches({ matchExpressions: [req] }, labels)).toBe(expected);
  });
  it("does not match inherited properties", () => {
    expect(
      selectorMatches({ matchExpressions: [{ key: "toString", operator: "Exists" }] }, {}),
    ).toBe(false);
  });

  it("validates keys, values, operators and value lists, all at once", () => {
    const errors = checkLabelSelector("chart/pdb", "selector", {
      matchLabels: { "bad key!": "ok", app: "-bad-" },
      matchExpressions: [
        { key: "a", operator: "In" },
        { key: "b", operator: "Exists", values: ["x"] },
        { key: "c", operator: "Near", values: ["x"] },
      ],
    });
    expect(errors.map((e) => e.field)).toEqual([
      "selector.matchLabels",
      "selector.matchLabels.app",
      "selector.matchExpressions[0].values",
      "selector.matchExpressions[1].values",
      "selector.matchExpressions[2].operator",
    ]);
    expect(errors[4].message).toBe(
      'chart/pdb: invalid selector.matchExpressions[2].operator "Near": unknown label selector operator. Fix: use one of In, NotIn, Exists, DoesNotExist',
    );
    expect(new ValidationErrors(errors).message.split("\n")).toHaveLength(5);
    expect(
      checkLabelSelector("p", "selector", { matchLabels: { "app.kubernetes.io/name": "web" } }),
    ).toEqual([]);
    expect(checkLabelSelector("p", "selector", undefined)[0].message).toContain(
      "without a selector protects no pods",
    );
  });
});
