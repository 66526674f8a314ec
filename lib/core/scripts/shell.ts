/**
 * Everything that reaches a shell goes through here: values are validated against a strict
 * pattern for their kind, then quoted with shell-quote. Validation keeps surprising characters
 * out of scripts altogether; quoting makes the script safe even if a pattern is loosened later.
 */
import { quote } from "shell-quote";
import * as path from "node:path";
import { ValidationError } from "../errors";

/** Quote one value for a POSIX shell (shell-quote). */
export function shq(value: string | number): string {
  const s = String(value);
  // shell-quote renders "" as '' which is what we want; never return an empty word.
  return s === "" ? "''" : quote([s]);
}

/** Characters that never belong in a value that is rendered into a script. */
const CONTROL = /[\u0000-\u001f\u007f]/;

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
