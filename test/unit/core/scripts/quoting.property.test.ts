/**
 * Property tests: no option value can break out of its quoting in a rendered script.
 *  - shArg/shq round-trip every string (no NUL) through a real bash and through shell-quote's
 *    parser;
 *  - arbitrary strings given as any script option are either rejected with a ValidationError or
 *    reach the tool's argv unchanged;
 *  - generated valid values (every character the validators allow) reach etcdctl / kubeadm as
 *    exactly one argv element each, when the rendered scripts run under stubs.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { parse } from "shell-quote";
import { ValidationError } from "../../../../lib/core/errors";
import {
  etcdSnapshotCommand,
  etcdVerifyCommand,
  renderEtcdBackupScript,
  type EtcdBackupScriptOptions,
} from "../../../../lib/core/scripts/etcd-backup";
import {
  CHECK_EXPIRATION_JSONPATH,
  renderCertRenewalScript,
} from "../../../../lib/core/scripts/cert-renewal";
import { shArg, shq } from "../../../../lib/core/scripts/shell";
import { argvRecorder, makeStubs, runScript } from "./stubs";
import { validationErrorOf } from "./validation";

// fast-check runs many shells per test; on a busy 2-core machine that takes a while.
jest.setTimeout(180_000);

/** Strings rich in shell metacharacters, quotes, whitespace, unicode and control characters. */
const nasty = fc.string({
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
const noNul = nasty.map((s) => s.replace(/\u0000/g, ""));

/** printf each value NUL-terminated from one bash process; returns what bash printed. */
function bashEcho(words: string[], quote: (w: string) => string = shArg): string[] {
  const script = words.map((w) => `printf '%s\\0' ${quote(w)}`).join("\n");
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  if (r.status !== 0) throw new Error(`bash failed: ${r.stderr}`);
  return r.stdout.split("\u0000").slice(0, -1);
}

describe("quoting round-trips", () => {
  test("shArg and shq: bash sees exactly the original string", () => {
    fc.assert(
      fc.property(fc.array(noNul, { minLength: 1, maxLength: 60 }), (words) => {
        expect(bashEcho(words)).toEqual(words);
        expect(bashEcho(words, shq)).toEqual(words);
      }),
      { numRuns: 20 },
    );
  });

  // (shell-quote's parser reads shq's `\?` as a glob, so only shArg is checked this way)
  test("shArg: shell-quote parses it back to the original single word", () => {
    fc.assert(
      fc.property(noNul, (w) => {
        expect(parse(shArg(w))).toEqual([w]);
      }),
      { numRuns: 1000 },
    );
  });
});

const ETCD_FIELDS = [
  "endpoint",
  "cacert",
  "cert",
  "key",
  "backupDir",
  "etcdctl",
  "etcdutl",
  "tempName",
] as const;

/**
 * Runs `script` with bash under argv recorders for `programs` (PATH holds nothing else, so the
 * script runs no real tool and touches no file) and returns what each recorder was called with;
 * the recorder whose argv contains `stopAt` fails, which stops the script there. A bare command
 * name given as an option (`etcdctl: "my-etcdctl"`) gets a recorder of its own.
 */
function recordedArgv(
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
type Delivered = (field: string, value: string, script: string) => void;

/**
 * For `numRuns` random values in random `fields`: `render({ [field]: value })` either throws a
 * ValidationError naming that field, or yields a script with no control character a shell could
 * act on outside quotes; every accepted value is then taken from the rendered script as it runs
 * (`delivered`: the script under argv-recording stubs, the recorded argv holding the value).
 */
function expectRejectedOrDelivered(
  fields: readonly string[],
  render: (opts: Record<string, string>) => string,
  delivered: Delivered,
  numRuns: number,
): void {
  const accepted = new Map<string, { field: string; value: string; script: string }>();
  fc.assert(
    fc.property(fc.constantFrom(...fields), nasty, (field, value) => {
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
function callWith(
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
function expectProgram(value: string, call: () => { program: string }, stderr: string): void {
  const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (value.includes("/"))
    expect(stderr).toMatch(
      new RegExp(
        `line \\d+: ${escaped}: (No such file or directory|Is a directory|Permission denied)`,
      ),
    );
  else expect(call().program).toBe(value);
}

const ETCD_DEFAULT_SAVE = "/var/backups/etcd/.etcd-snapshot-in-progress.db";

/** etcd backup: the script stops at `etcdctl snapshot save` (or, for etcdutl, at its status). */
const etcdDelivered: Delivered = (field, value, script) => {
  const programs = ["mkdir", "rm", "date", "etcdctl", "etcdutl"];
  if (!value.includes("/") && (field === "etcdctl" || field === "etcdutl")) programs.push(value);
  const stopAt = field === "etcdutl" ? "status" : "save";
  const { calls, stderr } = recordedArgv(script, programs, stopAt);
  const save = () => callWith(calls, "save");
  const flag: Record<string, string> = {
    endpoint: "--endpoints",
    cacert: "--cacert",
    cert: "--cert",
    key: "--key",
  };
  if (field in flag) expect(save().args).toContain(`${flag[field]}=${value}`);
  else if (field === "backupDir") {
    expect(calls[0]).toEqual({ program: "mkdir", args: ["-p", value] });
    expect(save().args.at(-1)).toBe(path.posix.join(value, ".etcd-snapshot-in-progress.db"));
  } else if (field === "tempName")
    expect(save().args.at(-1)).toBe(path.posix.join("/var/backups/etcd", value));
  else if (field === "etcdctl") expectProgram(value, save, stderr);
  else if (field === "etcdutl") expectProgram(value, () => callWith(calls, "status"), stderr);
  else throw new Error(`no argv check for etcd field ${field}`);
  if (
    field !== "backupDir" &&
    field !== "tempName" &&
    !(field === "etcdctl" && value.includes("/"))
  )
    expect(save().args.at(-1)).toBe(ETCD_DEFAULT_SAVE);
};

/** Certificate renewal: the script stops at `kubeadm certs check-expiration`. */
const certDelivered: Delivered = (field, value, script) => {
  const programs = ["date", "chroot", "kubeadm"];
  if (field === "kubeadm" && !value.includes("/")) programs.push(value);
  const { calls, stderr } = recordedArgv(script, programs, "check-expiration");
  const check = () => callWith(calls, "check-expiration");
  const flag: Record<string, string> = {
    certDir: "--cert-dir",
    kubeconfig: "--kubeconfig",
    config: "--config",
  };
  if (field in flag) expect(check().args).toContain(`${flag[field]}=${value}`);
  else if (field === "rootfs") {
    // rootfs "/" is the host itself: kubeadm runs without chroot
    const c = check();
    if (value === "/") expect(c).toMatchObject({ program: "kubeadm" });
    else {
      expect(c.program).toBe("chroot");
      expect(c.args.slice(0, 2)).toEqual([value, "kubeadm"]);
    }
  } else if (field === "kubeadm") expectProgram(value, check, stderr);
  else throw new Error(`no argv check for certificate renewal field ${field}`);
};

describe("arbitrary option values: rejected, or delivered unchanged", () => {
  test("etcd backup: every string option", () => {
    expectRejectedOrDelivered(
      ETCD_FIELDS,
      (o) => renderEtcdBackupScript(o as EtcdBackupScriptOptions),
      etcdDelivered,
      1500,
    );
  });

  test("certificate renewal: every string option the check-expiration call carries", () => {
    expectRejectedOrDelivered(
      ["kubeadm", "rootfs", "certDir", "kubeconfig", "config"],
      (o) => renderCertRenewalScript(o),
      certDelivered,
      1000,
    );
  });

  // manifestsDir and stashDir are used only when static pods are restarted, after a renewal;
  // their values are checked as bash reads them from the rendered script's assignments
  test("certificate renewal: manifestsDir and stashDir, as the script assigns them", () => {
    expectRejectedOrDelivered(
      ["manifestsDir", "stashDir"],
      (o) => renderCertRenewalScript(o),
      (field, value, script) => {
        const vars = field === "manifestsDir" ? "manifests_dir" : "stash_parent";
        const assignment = script.split("\n").find((l) => l.startsWith(`${vars}=`));
        expect(assignment).toBeDefined();
        const r = runScript(`${assignment}\nprintf '%s' "$${vars}"`, { PATH: "/usr/bin:/bin" });
        expect(r.stdout).toBe(value);
      },
      500,
    );
  });
});

/** A path segment using every character validateAbsolutePath allows. */
const segment = fc
  .string({
    unit: fc.constantFrom(..."abcXYZ019._+@:=,-".split("")),
    minLength: 1,
    maxLength: 12,
  })
  .filter((s) => s !== "." && s !== "..");
const relPath = fc.array(segment, { minLength: 1, maxLength: 3 }).map((a) => a.join("/"));

describe("generated valid values reach the tools as one argv element each", () => {
  test("etcd backup under stub etcdctl/etcdutl", () => {
    fc.assert(
      fc.property(relPath, relPath, fc.nat(65535), (dir, cert, port) => {
        const s = makeStubs();
        try {
          const opts: EtcdBackupScriptOptions = {
            backupDir: path.join(s.dir, "b", dir),
            cert: `/etc/${cert}`,
            key: `/etc/${cert}.key`,
            endpoint: `https://127.0.0.1:${port}`,
            retention: { count: 1 },
          };
          const r = runScript(renderEtcdBackupScript(opts), s.env);
          expect(r.stderr).toContain("etcd-backup: done");
          expect(r.status).toBe(0);
          expect(s.calls()).toEqual([etcdSnapshotCommand(opts), etcdVerifyCommand(opts)]);
          expect(fs.readdirSync(opts.backupDir!)).toHaveLength(1);
        } finally {
          s.cleanup();
        }
      }),
      { numRuns: 10 },
    );
  });

  test("certificate renewal under a stub kubeadm", () => {
    fc.assert(
      fc.property(relPath, relPath, relPath, (certDir, kubeconfig, config) => {
        const s = makeStubs();
        try {
          fs.writeFileSync(path.join(s.dir, "certs"), "apiserver 999999999 false false\n");
          const opts = {
            certDir: `/${certDir}`,
            kubeconfig: `/${kubeconfig}`,
            config: `/${config}`,
          };
          const r = runScript(renderCertRenewalScript(opts), {
            ...s.env,
            STUB_CERTS: path.join(s.dir, "certs"),
          });
          expect(r.status).toBe(0);
          expect(s.calls()).toEqual([
            [
              "kubeadm",
              "certs",
              "check-expiration",
              `--cert-dir=/${certDir}`,
              `--kubeconfig=/${kubeconfig}`,
              `--config=/${config}`,
              "-o",
              `jsonpath=${CHECK_EXPIRATION_JSONPATH}`,
            ],
          ]);
        } finally {
          s.cleanup();
        }
      }),
      { numRuns: 10 },
    );
  });
});

// Found by the argv property above: a bare program name that is a bash builtin or reserved word
// ("cd", "true", "echo", "fg") ran the builtin instead of the program on PATH.
describe("program options: shell builtins and reserved words are refused", () => {
  test.each(["cd", "true", "echo", "fg", "if", "test", "exec"])("%s", (name) => {
    for (const render of [
      () => renderEtcdBackupScript({ etcdctl: name }),
      () => renderEtcdBackupScript({ etcdutl: name }),
      () => renderCertRenewalScript({ kubeadm: name }),
    ])
      expect(validationErrorOf(render).message).toContain(
        "is a shell builtin or reserved word, which the shell runs instead of a program on PATH",
      );
  });
});
