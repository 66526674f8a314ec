/** Assertions on the project's bad-input error (lib/core/errors.ts) shared by the script tests. */
import { ValidationError } from "../../../../lib/core/errors";

/** Runs fn, which must throw a ValidationError; returns it. */
export function validationErrorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error("expected a ValidationError, but nothing was thrown");
}

/**
 * fn is rejected with the documented message: `<where>: invalid <field> <value>: ...` matching
 * `re`, with a `Fix: `.
 */
export function expectRejected(fn: () => unknown, where: string, re: RegExp): void {
  const message = validationErrorOf(fn).message;
  expect(message.startsWith(`${where}: invalid `)).toBe(true);
  expect(message).toMatch(re);
  expect(message).toContain("Fix: ");
}
