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
import {
  callWith,
  type Delivered,
  expectProgram,
  expectRejectedOrDelivered,
  noNul,
  recordedArgv,
} from "./properties";
import { makeStubs, runScript } from "./stubs";
import { validationErrorOf } from "./validation";

// fast-check runs many shells per test; on a busy 2-core machine that takes a while.
jest.setTimeout(180_000);

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
