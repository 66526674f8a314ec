/**
 * Shared parts of the script property tests (quoting.property.test.ts and the per-script
 * property files): option values rich in shell syntax, and the check that each one is either
 * rejected with a ValidationError naming its field or delivered to the tool's argv unchanged, as
 * the rendered script runs under argv-recording stubs (stubs.ts argvRecorder).
 */
import * as path from "node:path";
import fc from "fast-check";
import { ValidationError } from "../../../../lib/core/errors";
import { argvRecorder, runScript } from "./stubs";

/** Strings rich in shell metacharacters, quotes, whitespace, unicode and control characters. */
export const nasty = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      ..."'\"`$\\;|&<>(){}[]*?!#~=%^ \t\n\r-_./:,+@".split(""),
      "$(id)",
      "`id`",
      "${HOME}",
      "'\\''",
      "\u00e9",
      "\u2028",
      "\ud83d\ude00",
    ),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 40,
});
export const noNul = nasty.map((s) => s.replace(/\u0000/g, ""));

/**
 * Runs `script` with bash under argv recorders for `programs` (PATH holds nothing else, so the
 * script runs no real tool and touches no file) and returns what each recorder was called with;
 * the recorder whose argv contains `stopAt` fails, which stops the script there. A bare command
 * name given as an option (`etcdctl: "my-etcdctl"`) gets a recorder of its own.
 */
export function recordedArgv(
  script: string,
  programs: readonly string[],
  stopAt: string,
): { calls: { program: string; args: readonly string[] }[]; stderr: string; bin: string } {
  const rec = argvRecorder(programs, stopAt);
  try {
    const r = runScript(script, rec.env, "-c", "/bin/bash");
    return {
      calls: rec.calls().map((c) => ({ ...c, program: path.relative(rec.bin, c.program) })),
      stderr: r.stderr,
      bin: rec.bin,
    };
  } finally {
    rec.cleanup();
  }
}

/** The argv check of one accepted value: `value` as the rendered script delivers it to a tool. */
export type Delivered = (field: string, value: string, script: string) => void;

/**
 * For `numRuns` random values in random `fields`: `render({ [field]: value })` either throws a
 * ValidationError naming that field, or yields a script with no control character a shell could
 * act on outside quotes; every accepted value is then taken from the rendered script as it runs
 * (`delivered`: the script under argv-recording stubs, the recorded argv holding the value).
 * `values` generates the strings (default {@link nasty}).
 */
export function expectRejectedOrDelivered(
  fields: readonly string[],
  render: (opts: Record<string, string>) => string,
  delivered: Delivered,
  numRuns: number,
  values: fc.Arbitrary<string> = nasty,
): void {
  const accepted = new Map<string, { field: string; value: string; script: string }>();
  fc.assert(
    fc.property(fc.constantFrom(...fields), values, (field, value) => {
      let script: string;
      try {
        script = render({ [field]: value });
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        expect((e as ValidationError).field).toBe(field);
        return;
      }
      accepted.set(`${field}\u0000${value}`, { field, value, script });
      expect(script).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    }),
    { numRuns },
  );
  for (const { field, value, script } of accepted.values()) {
    try {
      delivered(field, value, script);
    } catch (e) {
      throw new Error(`${field} = ${JSON.stringify(value)}: ${(e as Error).message}`);
    }
  }
}

/** The call whose argv holds `word` (the tool call the value belongs to). */
export function callWith(
  calls: { program: string; args: readonly string[] }[],
  word: string,
): { program: string; args: readonly string[] } {
  const c = calls.find((x) => x.args.includes(word));
  if (!c)
    throw new Error(`no recorded call with ${JSON.stringify(word)}: ${JSON.stringify(calls)}`);
  return c;
}

/**
 * A program option (`etcdctl`, `kubeadm`, ...): a bare name is looked up on PATH, so its own
 * recorder must have been run; an absolute path (nothing executable there) is the word bash
 * tried to execute, as its error names it.
 */
export function expectProgram(
  value: string,
  call: () => { program: string },
  stderr: string,
): void {
  const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (value.includes("/"))
    expect(stderr).toMatch(
      new RegExp(
        `line \\d+: ${escaped}: (No such file or directory|Is a directory|Permission denied)`,
      ),
    );
  else expect(call().program).toBe(value);
}
