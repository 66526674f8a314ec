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
import { makeStubs, runScript } from "./stubs";

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
 * For `numRuns` random values in random `fields`: `render({ [field]: value })` either throws a
 * ValidationError naming that field, or yields a script with no control character a shell could
 * act on outside quotes; every accepted value reaches bash unchanged.
 */
function expectRejectedOrDelivered(
  fields: readonly string[],
  render: (opts: Record<string, string>) => string,
  numRuns: number,
): void {
  const accepted: string[] = [];
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
      accepted.push(value);
      expect(script).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    }),
    { numRuns },
  );
  if (accepted.length) expect(bashEcho(accepted)).toEqual(accepted);
}

describe("arbitrary option values: rejected, or delivered unchanged", () => {
  test("etcd backup: every string option", () => {
    expectRejectedOrDelivered(
      ETCD_FIELDS,
      (o) => renderEtcdBackupScript(o as EtcdBackupScriptOptions),
      1500,
    );
  });

  test("certificate renewal: every string option", () => {
    expectRejectedOrDelivered(
      ["kubeadm", "rootfs", "certDir", "kubeconfig", "config", "manifestsDir", "stashDir"],
      (o) => renderCertRenewalScript(o),
      1000,
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
