/**
 * Everything that reaches a shell goes through here: values are validated against a strict
 * pattern for their kind, then quoted with shell-quote. Validation keeps surprising characters
 * out of scripts altogether; quoting makes the script safe even if a pattern is loosened later.
 */
import { CronExpressionParser } from "cron-parser";
import { quote } from "shell-quote";
import * as path from "node:path";
import { ValidationError } from "../errors";

/** Quote one value for a POSIX shell (shell-quote). */
export function shq(value: string | number): string {
  const s = String(value);
  // shell-quote renders "" as '' which is what we want; never return an empty word.
  return s === "" ? "''" : quote([s]);
}

/**
 * Like {@link shq}, but readable: words made only of characters no shell treats specially
 * (letters, digits and _ @ % + = : , . / -) stay bare, every other word goes in single quotes
 * (where every character is literal; a ' inside is written '\''). Keeps
 * rendered scripts shellcheck-clean (shell-quote backslash-escapes `=` and `:`). A word that
 * would read as an assignment (`NAME=...`) is always quoted.
 */
export function shArg(value: string | number): string {
  const s = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) && !/^[A-Za-z_][A-Za-z0-9_]*=/.test(s)) return s;
  // Inside single quotes every character is literal; a ' closes the quotes, is written as \'
  // and the quotes reopen (POSIX). shell-quote would switch to double quotes with backslash
  // escapes, which bash reads right but shell-quote's own parser does not (backticks).
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** Characters that never belong in a value that is rendered into a script. */
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Whether the normalized absolute path `p` is `dir` or inside it ("/" contains every path: a
 * plain `p.startsWith(dir + "/")` misses that, since "/" + "/" is "//").
 */
export function pathWithin(p: string, dir: string): boolean {
  return p === dir || dir === "/" || p.startsWith(dir + "/");
}

/**
 * An absolute, normalized POSIX path: starts with "/", no "." or ".." segments, no "//",
 * no trailing slash (except "/"), only [A-Za-z0-9._/+@:=,-] characters.
 */
export function validateAbsolutePath(where: string, field: string, value: string): string {
  const fail = (problem: string, fix: string) => {
    throw new ValidationError(where, field, value, problem, fix);
  };
  if (typeof value !== "string" || value.length === 0)
    fail("path is empty", "give an absolute path such as /var/backups/etcd");
  if (!value.startsWith("/"))
    fail("path is relative", `give an absolute path such as /${value.replace(/^\.?\/*/, "")}`);
  if (CONTROL.test(value)) fail("path contains control characters", "remove them");
  if (!/^[A-Za-z0-9._/+@:=,-]+$/.test(value))
    fail(
      "path contains characters that must not reach a shell",
      "use only letters, digits and . _ / + @ : = , -",
    );
  const normalized = path.posix.normalize(value).replace(/(.)\/+$/, "$1");
  if (normalized !== value)
    fail("path is not normalized", `write it as ${JSON.stringify(normalized)}`);
  return value;
}

/** A Kubernetes/DNS-1123 label-style name (node names, etcd member names). */
export function validateDnsName(where: string, field: string, value: string): string {
  if (
    typeof value !== "string" ||
    value.length === 0 ||
    value.length > 253 ||
    !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value)
  ) {
    throw new ValidationError(
      where,
      field,
      value,
      "not a DNS-1123 name",
      "use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (at most 253 characters)",
    );
  }
  return value;
}

/** A URL with scheme http(s) and host[:port], no credentials, no shell metacharacters. */
export function validateUrl(where: string, field: string, value: string): string {
  const fail = (problem: string) => {
    throw new ValidationError(
      where,
      field,
      value,
      problem,
      "give a URL such as https://127.0.0.1:2379",
    );
  };
  if (typeof value !== "string" || !/^https?:\/\/[A-Za-z0-9.\-[\]:]+(:\d{1,5})?\/?$/.test(value))
    fail("not a plain http(s)://host:port URL");
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return fail("not parseable as a URL");
  }
  if (u.username || u.password) fail("URL carries credentials");
  return value;
}

/** bash's builtins and reserved words (`compgen -b -k`) that a bare command name could hit. */
const SHELL_WORDS = new Set(
  (
    "alias bg bind break builtin caller case cd command compgen complete compopt continue coproc " +
    "declare dirs disown do done echo elif else enable esac eval exec exit export false fc fg fi " +
    "for function getopts hash help history if in jobs kill let local logout mapfile popd printf " +
    "pushd pwd read readarray readonly return select set shift shopt source suspend test then " +
    "time times trap true type typeset ulimit umask unalias unset until wait while"
  ).split(" "),
);

/**
 * A program to run: a bare command name looked up on PATH (`etcdctl`) or an absolute,
 * normalized path (`/usr/local/bin/etcdctl`).
 */
export function validateCommand(where: string, field: string, value: string): string {
  if (typeof value === "string" && SHELL_WORDS.has(value))
    throw new ValidationError(
      where,
      field,
      value,
      "is a shell builtin or reserved word, which the shell runs instead of a program on PATH",
      `give the program's absolute path (e.g. /usr/local/bin/${value}) or another name`,
    );
  if (typeof value === "string" && /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(value)) return value;
  if (value === "/")
    throw new ValidationError(
      where,
      field,
      value,
      "is the root directory, not a program",
      "give a name found on PATH such as etcdctl or the program's absolute path such as /usr/local/bin/etcdctl",
    );
  if (typeof value === "string" && value.startsWith("/"))
    return validateAbsolutePath(where, field, value);
  throw new ValidationError(
    where,
    field,
    value,
    "not a command name or an absolute path",
    "give a name found on PATH such as etcdctl (letters, digits, . _ + -) or an absolute path such as /usr/local/bin/etcdctl",
  );
}

/** A plain file name (no directory part): letters, digits, . _ + -, not "." or "..". */
export function validateFileName(where: string, field: string, value: string): string {
  if (
    typeof value !== "string" ||
    !/^[A-Za-z0-9._+-]+$/.test(value) ||
    value === "." ||
    value === ".." ||
    value.length > 255
  ) {
    throw new ValidationError(
      where,
      field,
      value,
      "not a plain file name",
      "use only letters, digits and . _ + - (no '/'), for example .etcd-snapshot-in-progress.db",
    );
  }
  return value;
}

/** An integer within [min, max]. */
export function validateInteger(
  where: string,
  field: string,
  value: number,
  min: number,
  max: number,
): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(
      where,
      field,
      value,
      `must be an integer from ${min} to ${max}`,
      `give a whole number between ${min} and ${max}`,
    );
  }
  return value;
}

/**
 * A container image reference: [registry/]repository[:tag][@digest], lower-case repository,
 * no whitespace or shell metacharacters.
 */
export function validateImage(where: string, field: string, value: string): string {
  if (
    typeof value !== "string" ||
    value.length > 512 ||
    !/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/.test(
      value,
    )
  ) {
    throw new ValidationError(
      where,
      field,
      value,
      "not a container image reference",
      "give an image such as registry.k8s.io/etcd:3.6.6-0 or docker.io/library/busybox:1.37.0",
    );
  }
  return value;
}

const CRON_FIELD_NAMES = ["minute", "hour", "day of month", "month", "day of week"];
const CRON_FIELD_PATTERNS = [
  /^[0-9*,/-]+$/,
  /^[0-9*,/-]+$/,
  /^[0-9*,/?-]+$/,
  /^([0-9*,/-]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)+$/i,
  /^([0-9*,/?-]|sun|mon|tue|wed|thu|fri|sat)+$/i,
];

/**
 * A Kubernetes CronJob schedule: exactly five fields (minute hour day-of-month month
 * day-of-week) in the syntax the CronJob controller accepts, checked by cron-parser.
 * Macros (@daily) and TZ= prefixes are rejected: use the five fields and the CronJob's
 * `timeZone`.
 */
export function validateCronSchedule(where: string, field: string, value: string): string {
  const fail = (problem: string) => {
    throw new ValidationError(
      where,
      field,
      value,
      problem,
      'give five fields "minute hour day-of-month month day-of-week", for example "0 2 * * *" (daily at 02:00)',
    );
  };
  if (typeof value !== "string") return fail("not a string");
  const fields = value.trim().split(/\s+/);
  if (fields.length !== 5) fail(`has ${fields.length} fields, a CronJob schedule has exactly 5`);
  fields.forEach((f, i) => {
    if (!CRON_FIELD_PATTERNS[i].test(f))
      fail(`${CRON_FIELD_NAMES[i]} field ${JSON.stringify(f)} has characters cron does not accept`);
  });
  try {
    CronExpressionParser.parse(value.trim());
  } catch (e) {
    fail(`cron-parser rejects it (${(e as Error).message})`);
  }
  return value;
}

/**
 * @internal `set -eu` plus pipefail where the shell has it: the scripts run under bash, busybox sh (the
 * CronJob images) or dash (by hand), and dash before 0.5.13 has no pipefail.
 */
export const PORTABLE_STRICT = [
  "set -eu",
  "# pipefail where the shell has it (bash, busybox sh; not dash before 0.5.13)",
  "if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi",
].join("\n");
