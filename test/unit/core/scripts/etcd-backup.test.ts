import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  ETCD_SNAPSHOT_NAME_PATTERN,
  etcdSnapshotCommand,
  etcdSnapshotFileName,
  etcdVerifyCommand,
  renderEtcdBackupFinishScript,
  renderEtcdBackupScript,
  resolveEtcdBackupOptions,
  type EtcdBackupScriptOptions,
} from "../../../../lib/core/scripts/etcd-backup";
import { makeStubs, runScript, shellcheck, type StubEnv } from "./stubs";
import { expectRejected } from "./validation";

// Each test spawns shells and stubs; on a busy 2-core machine that takes seconds.
jest.setTimeout(60_000);

const DAY = 86400;

/** Options with every path mapped into the stub's temp dir. */
function tempOptions(s: StubEnv, extra: EtcdBackupScriptOptions = {}): EtcdBackupScriptOptions {
  const pki = path.join(s.dir, "pki");
  fs.mkdirSync(pki, { recursive: true });
  return {
    cacert: `${pki}/ca.crt`,
    cert: `${pki}/server.crt`,
    key: `${pki}/server.key`,
    backupDir: path.join(s.dir, "backups"),
    ...extra,
  };
}

function snapshots(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => ETCD_SNAPSHOT_NAME_PATTERN.test(f))
    .sort();
}

/** Creates a file whose mtime is `ageDays` days ago. */
function aged(dir: string, name: string, ageDays: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  fs.writeFileSync(p, "old");
  const t = Date.now() / 1000 - ageDays * DAY;
  fs.utimesSync(p, t, t);
}

describe("etcd backup script: defaults and commands", () => {
  test("defaults are kubeadm's and the field guide's", () => {
    const o = resolveEtcdBackupOptions();
    expect(o).toEqual({
      endpoint: "https://127.0.0.1:2379",
      cacert: "/etc/kubernetes/pki/etcd/ca.crt",
      cert: "/etc/kubernetes/pki/etcd/server.crt",
      key: "/etc/kubernetes/pki/etcd/server.key",
      backupDir: "/var/backups/etcd",
      retention: { days: 7 },
      etcdctl: "etcdctl",
      etcdutl: "etcdutl",
      tempName: ".etcd-snapshot-in-progress.db",
      tempFile: "/var/backups/etcd/.etcd-snapshot-in-progress.db",
      timeoutSeconds: 300,
    });
  });

  test("snapshot and verify argv (exec form)", () => {
    expect(etcdSnapshotCommand()).toEqual([
      "etcdctl",
      "--endpoints=https://127.0.0.1:2379",
      "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
      "--cert=/etc/kubernetes/pki/etcd/server.crt",
      "--key=/etc/kubernetes/pki/etcd/server.key",
      "--command-timeout=300s",
      "snapshot",
      "save",
      "/var/backups/etcd/.etcd-snapshot-in-progress.db",
    ]);
    expect(etcdVerifyCommand({ etcdutl: "/opt/etcd/etcdutl", backupDir: "/b" })).toEqual([
      "/opt/etcd/etcdutl",
      "snapshot",
      "status",
      "/b/.etcd-snapshot-in-progress.db",
      "-w",
      "json",
    ]);
  });

  test("the full script contains the argv lines and the finish script's body verbatim", () => {
    const full = renderEtcdBackupScript({ retention: { count: 5 } });
    expect(full).toContain(
      "\netcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key --command-timeout=300s snapshot save /var/backups/etcd/.etcd-snapshot-in-progress.db >&2\n",
    );
    expect(full).toContain(
      "if ! status=$(etcdutl snapshot status /var/backups/etcd/.etcd-snapshot-in-progress.db -w json); then",
    );
    const finish = renderEtcdBackupFinishScript({ retention: { count: 5 } });
    const body = finish.slice(finish.indexOf("# finish:"));
    expect(full.endsWith(body)).toBe(true);
    expect(full.startsWith("#!/usr/bin/env bash\n")).toBe(true);
    expect(full).toContain("set -euo pipefail");
  });

  test("snapshot file names are UTC timestamps", () => {
    expect(etcdSnapshotFileName(new Date("2026-03-04T05:06:07.890Z"))).toBe(
      "etcd-snapshot-20260304T050607Z.db",
    );
  });

  test.each([
    [{}],
    [{ retention: { days: 3, count: 10 } }],
    [{ retention: { count: 1 } }],
    [{ etcdctl: "/usr/local/bin/etcdctl", etcdutl: "/usr/local/bin/etcdutl" }],
    [{ endpoint: "https://10.0.0.5:2379", backupDir: "/srv/etcd-backups" }],
  ])("shellcheck passes on the rendered scripts (%j)", (opts) => {
    shellcheck(renderEtcdBackupScript(opts as EtcdBackupScriptOptions));
    shellcheck(
      "#!/usr/bin/env bash\n" + renderEtcdBackupFinishScript(opts as EtcdBackupScriptOptions),
    );
  });
});

describe("etcd backup script: validation", () => {
  const bad: [string, EtcdBackupScriptOptions, RegExp][] = [
    ["zero timeoutSeconds", { timeoutSeconds: 0 }, /invalid timeoutSeconds 0: .*Fix: /],
    ["fractional timeoutSeconds", { timeoutSeconds: 1.5 }, /invalid timeoutSeconds 1\.5: /],
    [
      "relative backupDir",
      { backupDir: "backups/etcd" },
      /invalid backupDir "backups\/etcd": path is relative. Fix: give an absolute path such as \/backups\/etcd/,
    ],
    [
      "non-normalized backupDir",
      { backupDir: "/var/backups/../etcd" },
      /invalid backupDir .*not normalized. Fix: write it as "\/var\/etcd"/,
    ],
    ["trailing slash", { backupDir: "/var/backups/etcd/" }, /invalid backupDir .*not normalized/],
    [
      "root backupDir",
      { backupDir: "/" },
      /invalid backupDir "\/": the root directory cannot hold backups/,
    ],
    [
      "shell metacharacters in cacert",
      { cacert: "/etc/pki/$(reboot).crt" },
      /invalid cacert .*characters that must not reach a shell/,
    ],
    ["space in key", { key: "/etc/pki/my key" }, /invalid key .*must not reach a shell/],
    ["newline in cert", { cert: "/etc/pki/a\nb" }, /invalid cert .*control characters/],
    [
      "bad endpoint",
      { endpoint: "https://127.0.0.1:2379;reboot" },
      /invalid endpoint .*Fix: give a URL such as https:\/\/127.0.0.1:2379/,
    ],
    ["endpoint with credentials", { endpoint: "https://u:p@h:2379" }, /invalid endpoint/],
    [
      "retention days 0",
      { retention: { days: 0 } },
      /invalid retention.days 0: must be an integer from 1 to 36500/,
    ],
    [
      "retention count 0",
      { retention: { count: 0 } },
      /invalid retention.count 0: must be an integer from 1/,
    ],
    ["retention days fractional", { retention: { days: 1.5 } }, /invalid retention.days 1.5/],
    [
      "retention empty",
      { retention: {} },
      /invalid retention \{\}: neither days nor count is set. Fix: give \{ days: 7 \}/,
    ],
    [
      "etcdctl with a space",
      { etcdctl: "etcdctl --insecure" },
      /invalid etcdctl .*not a command name or an absolute path/,
    ],
    ["etcdutl relative path", { etcdutl: "./bin/etcdutl" }, /invalid etcdutl/],
    ["tempName with slash", { tempName: "../x" }, /invalid tempName .*not a plain file name/],
    [
      "tempName matching the snapshot pattern",
      { tempName: "etcd-snapshot-20260101T000000Z.db" },
      /invalid tempName .*retention could delete it/,
    ],
  ];
  test.each(bad)("%s is rejected with path, field, value and fix", (_n, opts, re) => {
    expectRejected(() => renderEtcdBackupScript(opts, "chart/backup"), "chart/backup", re);
  });
});

describe("etcd backup script: runs under stub etcdctl/etcdutl", () => {
  let s: StubEnv;
  beforeEach(() => (s = makeStubs()));
  afterEach(() => s.cleanup());

  test("snapshot -> verify -> 0600 file with the documented name, exact command sequence", () => {
    const opts = tempOptions(s);
    const r = runScript(renderEtcdBackupScript(opts), s.env);
    expect(r.stderr).toContain("etcd-backup: wrote ");
    expect(r.status).toBe(0);
    expect(s.calls()).toEqual([etcdSnapshotCommand(opts), etcdVerifyCommand(opts)]);
    const files = fs.readdirSync(opts.backupDir!);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(ETCD_SNAPSHOT_NAME_PATTERN);
    const st = fs.statSync(path.join(opts.backupDir!, files[0]));
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBe(512 + 32); // database pages + etcd's sha256 trailer
    expect(r.stderr).toContain("sha256 trailer matches (544 bytes)");
    // the name's timestamp is now (UTC)
    const stamp = files[0].slice("etcd-snapshot-".length, -".db".length);
    const when = Date.parse(
      `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`,
    );
    expect(Math.abs(Date.now() - when)).toBeLessThan(60_000);
    expect(r.stderr).toContain('snapshot status: {"hash":3787458990,"revision":42');
    // stdout is exactly the snapshot's path
    expect(r.stdout).toBe(`${path.join(opts.backupDir!, files[0])}\n`);
  });

  test("runs the same with bash -s (as over SSH)", () => {
    const opts = tempOptions(s);
    const r = runScript(renderEtcdBackupScript(opts), s.env, "-s");
    expect(r.status).toBe(0);
    expect(snapshots(opts.backupDir!)).toHaveLength(1);
  });

  test("binaries given by absolute path are used instead of PATH", () => {
    const opts = tempOptions(s, {
      etcdctl: `${s.bin}/etcdctl`,
      etcdutl: `${s.bin}/etcdutl`,
    });
    const r = runScript(renderEtcdBackupScript(opts), { ...s.env, PATH: "/usr/bin:/bin" });
    expect(r.status).toBe(0);
    expect(s.calls().map((c) => c[0])).toEqual(["etcdctl", "etcdutl"]);
  });

  test("a failing verify fails the job and leaves neither a final nor a temporary snapshot", () => {
    const opts = tempOptions(s);
    aged(opts.backupDir!, "etcd-snapshot-20200101T020000Z.db", 30); // would be pruned on success
    const r = runScript(renderEtcdBackupScript(opts), { ...s.env, STUB_ETCDCTL_CORRUPT: "1" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("invalid database (fake etcdutl)");
    expect(r.stderr).toContain("ERROR: snapshot verification failed; no snapshot was kept");
    expect(fs.readdirSync(opts.backupDir!)).toEqual(["etcd-snapshot-20200101T020000Z.db"]);
    expect(s.calls().map((c) => c[0])).toEqual(["etcdctl", "etcdutl"]);
  });

  test.each([
    ["STUB_ETCDCTL_BADHASH", "does not match its trailer"],
    [
      "STUB_ETCDCTL_NOTRAILER",
      "(512 bytes) has no sha256 trailer: truncated or not an etcd snapshot",
    ],
  ])(
    "a snapshot etcdutl accepts but whose sha256 trailer is wrong (%s) fails, nothing kept",
    (mode, message) => {
      const opts = tempOptions(s);
      const r = runScript(renderEtcdBackupScript(opts), { ...s.env, [mode]: "1" });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("snapshot status: {"); // etcdutl was satisfied
      expect(r.stderr).toContain(message);
      expect(r.stderr).toContain("no snapshot was kept");
      expect(fs.readdirSync(opts.backupDir!)).toEqual([]);
    },
  );

  test("a failing etcdctl fails the job before verify, nothing written", () => {
    const opts = tempOptions(s);
    const r = runScript(renderEtcdBackupScript(opts), { ...s.env, STUB_ETCDCTL_FAIL: "1" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("context deadline exceeded");
    expect(s.calls().map((c) => c[0])).toEqual(["etcdctl"]);
    expect(fs.readdirSync(opts.backupDir!)).toEqual([]);
  });

  test("the finish script runs under /bin/sh (dash here, busybox sh in the CronJob)", () => {
    const opts = tempOptions(s, { retention: { count: 2 } });
    aged(opts.backupDir!, "etcd-snapshot-20260101T020000Z.db", 3);
    aged(opts.backupDir!, "etcd-snapshot-20260102T020000Z.db", 2);
    // a snapshot as etcdctl leaves it: 512 bytes of database and its sha256
    const db = Buffer.alloc(512);
    db.write("FAKE-ETCD-SNAPSHOT");
    const sum = createHash("sha256").update(db).digest();
    fs.writeFileSync(
      path.join(opts.backupDir!, ".etcd-snapshot-in-progress.db"),
      Buffer.concat([db, sum]),
    );
    const r = runScript(renderEtcdBackupFinishScript(opts), s.env, "-c", "/bin/sh");
    expect(r.stderr).toContain("etcd-backup: done");
    expect(r.status).toBe(0);
    const kept = snapshots(opts.backupDir!);
    expect(kept).toHaveLength(2);
    expect(kept).toContain("etcd-snapshot-20260102T020000Z.db");
    expect(fs.existsSync(path.join(opts.backupDir!, ".etcd-snapshot-in-progress.db"))).toBe(false);
  });

  test("the finish script alone fails when no verified snapshot is there", () => {
    const opts = tempOptions(s);
    fs.mkdirSync(opts.backupDir!, { recursive: true });
    const r = runScript(renderEtcdBackupFinishScript(opts), s.env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("ERROR: no verified snapshot at ");
  });

  test("retention by age (default 7 days) deletes only old files matching the naming pattern", () => {
    const opts = tempOptions(s);
    const dir = opts.backupDir!;
    aged(dir, "etcd-snapshot-20260101T020000Z.db", 10);
    aged(dir, "etcd-snapshot-20260102T020000Z.db", 8);
    aged(dir, "etcd-snapshot-20260103T020000Z.db", 6.9);
    aged(dir, "etcd-snapshot-20260104T020000Z.db", 1);
    aged(dir, "etcd-backup-20200101.db", 100); // the field guide's old name: not ours
    aged(dir, "etcd-snapshot-latest.db", 100);
    aged(dir, "notes.txt", 100);
    aged(dir, "etcd-snapshot-20260101T020000Z.db.bak", 100);
    const r = runScript(renderEtcdBackupScript(opts), s.env);
    expect(r.status).toBe(0);
    const left = fs.readdirSync(dir).sort();
    expect(left).not.toContain("etcd-snapshot-20260101T020000Z.db");
    expect(left).not.toContain("etcd-snapshot-20260102T020000Z.db");
    expect(left).toEqual(
      expect.arrayContaining([
        "etcd-snapshot-20260103T020000Z.db",
        "etcd-snapshot-20260104T020000Z.db",
        "etcd-backup-20200101.db",
        "etcd-snapshot-latest.db",
        "notes.txt",
        "etcd-snapshot-20260101T020000Z.db.bak",
      ]),
    );
    expect(snapshots(dir)).toHaveLength(3); // two kept + the new one
    expect(r.stderr).toMatch(/pruning .*etcd-snapshot-20260101T020000Z\.db \(older than 7 days\)/);
  });

  test("retention by count keeps the newest N (the new snapshot included)", () => {
    const opts = tempOptions(s, { retention: { count: 3 } });
    const dir = opts.backupDir!;
    aged(dir, "etcd-snapshot-20260101T020000Z.db", 400);
    aged(dir, "etcd-snapshot-20260102T020000Z.db", 300);
    aged(dir, "etcd-snapshot-20260103T020000Z.db", 200); // 3rd newest after the new one? no: 4th
    aged(dir, "etcd-snapshot-20260104T020000Z.db", 2);
    aged(dir, "etcd-snapshot-20260105T020000Z.db", 1);
    aged(dir, "other.db", 500);
    const r = runScript(renderEtcdBackupScript(opts), s.env);
    expect(r.status).toBe(0);
    const kept = snapshots(dir);
    expect(kept).toHaveLength(3);
    expect(kept).toContain("etcd-snapshot-20260104T020000Z.db");
    expect(kept).toContain("etcd-snapshot-20260105T020000Z.db");
    expect(kept.filter((f) => f.startsWith("etcd-snapshot-2026010"))).toHaveLength(2);
    expect(fs.existsSync(path.join(dir, "other.db"))).toBe(true);
  });

  test("retention by age and count: a file breaking either rule goes", () => {
    const opts = tempOptions(s, { retention: { days: 5, count: 3 } });
    const dir = opts.backupDir!;
    aged(dir, "etcd-snapshot-20260101T020000Z.db", 6); // too old
    aged(dir, "etcd-snapshot-20260102T020000Z.db", 3); // 4th newest -> beyond count
    aged(dir, "etcd-snapshot-20260103T020000Z.db", 2);
    aged(dir, "etcd-snapshot-20260104T020000Z.db", 1);
    const r = runScript(renderEtcdBackupScript(opts), s.env);
    expect(r.status).toBe(0);
    const kept = snapshots(dir);
    expect(kept).toHaveLength(3);
    expect(kept.slice(0, 2)).toEqual([
      "etcd-snapshot-20260103T020000Z.db",
      "etcd-snapshot-20260104T020000Z.db",
    ]);
    expect(r.stderr).toMatch(/etcd-snapshot-20260101T020000Z\.db \(older than 5 days\)/);
    expect(r.stderr).toMatch(/etcd-snapshot-20260102T020000Z\.db \(beyond the newest 3\)/);
  });

  test("the newest snapshot survives even when the clock makes it look old", () => {
    // count 1 with an old-but-future-dated file: the new one is never pruned
    const opts = tempOptions(s, { retention: { count: 1 } });
    aged(opts.backupDir!, "etcd-snapshot-20990101T020000Z.db", -1); // mtime in the future
    const r = runScript(renderEtcdBackupScript(opts), s.env);
    expect(r.status).toBe(0);
    const kept = snapshots(opts.backupDir!);
    expect(kept).toHaveLength(1);
    expect(kept[0]).not.toBe("etcd-snapshot-20990101T020000Z.db");
  });
});
