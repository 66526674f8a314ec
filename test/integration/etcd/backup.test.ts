/**
 * The EtcdBackup CronJob's exact commands (taken from the synthesized YAML) run outside a
 * container against a real etcd 3.6 with client TLS (kubeadm's certificates), with the
 * construct's paths pointed at temp dirs and the shell step run by busybox (the job's shell
 * image): a snapshot with the documented name and mode 0600 that etcdutl agrees with, a failing
 * job for a truncated or corrupted snapshot, and retention that deletes exactly what it should.
 */
import { createServer, type AddressInfo } from "node:net";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { EtcdBackup, type EtcdBackupProps } from "../../../lib/cdk8s/etcd-backup";
import { etcdRestoreCommand } from "../../../lib/core/scripts/etcd-restore";
import {
  ETCD_SNAPSHOT_NAME_PATTERN,
  renderEtcdBackupScript,
} from "../../../lib/core/scripts/etcd-backup";
import {
  cronJobsIn,
  podSteps,
  prepareHostPaths,
  runPod,
  synthYaml,
  type PodStep,
} from "../support/cronjob";
import {
  backupTlsOptions,
  countKeys,
  endpointStatus,
  etcdctlOk,
  killAllEtcd,
  startTlsEtcd,
  waitHealthy,
  startEtcdMember,
  type RunningEtcd,
} from "../support/etcd";
import { freePort } from "../../cluster/ports";
import { makeEtcdPki, type EtcdPki } from "../support/pki";
import { busyboxBin, requireBinaries, run, runOk, tempDir } from "../support/tools";

jest.setTimeout(180_000);

/** A value easy to find in the snapshot's bytes. */
const MARKER = "kube-upkeep-marker-value-0123456789abcdef";

interface SnapshotStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
  version: string;
}

let bins: { etcd: string; etcdctl: string; etcdutl: string; kubeadm: string };
let tmp: { dir: string; cleanup(): void };
let pki: EtcdPki;
let etcd: RunningEtcd;
let podEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  bins = requireBinaries("etcd", "etcdctl", "etcdutl", "kubeadm");
  tmp = tempDir("etcd-backup");
  pki = makeEtcdPki(bins.kubeadm, tmp.dir);
  etcd = await startTlsEtcd(bins, pki, join(tmp.dir, "etcd-data"));
  // the shell step runs in a busybox image: only busybox applets on PATH
  podEnv = { PATH: busyboxBin(tmp.dir), HOME: tmp.dir, TZ: "UTC" };
});

afterAll(async () => {
  await etcd?.stop();
  killAllEtcd();
  tmp?.cleanup();
});

/** The backup CronJob's pod steps for this etcd, paths mapped into the temp dir. */
function backupSteps(backupDir: string, extra: EtcdBackupProps = {}): PodStep[] {
  const yamlText = synthYaml(
    (chart) =>
      new EtcdBackup(chart, "backup", {
        ...backupTlsOptions(bins, pki, etcd.clientUrl),
        backupDir,
        ...extra,
      }),
  );
  const jobs = cronJobsIn(yamlText);
  expect(jobs).toHaveLength(1);
  prepareHostPaths(jobs[0]);
  const steps = podSteps(jobs[0]);
  expect(steps.map((s) => s.container)).toEqual(["snapshot", "verify", "finish"]);
  return steps;
}

function snapshotsIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => ETCD_SNAPSHOT_NAME_PATTERN.test(f))
    .sort();
}

function status(file: string): SnapshotStatus {
  return JSON.parse(
    runOk([bins.etcdutl, "snapshot", "status", file, "-w", "json"]),
  ) as SnapshotStatus;
}

async function putKeys(prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++)
    await etcdctlOk(bins.etcdctl, pki, [etcd.clientUrl], ["put", `${prefix}${i}`, `value-${i}`]);
}

/** The snapshot's name encodes when it was taken (UTC, second precision). */
function nameTime(file: string): number {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(file)!;
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
}

describe("EtcdBackup job against a real etcd 3.6 with client TLS", () => {
  it("writes etcd-snapshot-<UTC>.db with mode 0600 that etcdutl snapshot status agrees with", async () => {
    await putKeys("/ku/first/", 40);
    const backupDir = join(tmp.dir, "backups-1");
    const before = await endpointStatus(bins.etcdctl, pki, etcd.clientUrl);
    const keysBefore = await countKeys(bins.etcdctl, pki, etcd.clientUrl, "");
    const t0 = Math.floor(Date.now() / 1000) * 1000;
    const pod = runPod(backupSteps(backupDir), { env: podEnv });
    const t1 = Date.now();
    expect(pod.output).toContain("wrote");
    expect(pod.succeeded).toBe(true);

    const files = readdirSync(backupDir);
    expect(files).toHaveLength(1); // no temporary or .part file left behind
    const [file] = files;
    expect(file).toMatch(ETCD_SNAPSHOT_NAME_PATTERN);
    expect(nameTime(file)).toBeGreaterThanOrEqual(t0);
    expect(nameTime(file)).toBeLessThanOrEqual(t1);
    const path = join(backupDir, file);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    // etcdutl on the final file agrees with etcd: same revision (nothing was written meanwhile)
    const s = status(path);
    expect(s.revision).toBe(before.revision);
    expect(s.version).toMatch(/^3\.6\./);
    // the verify step printed the same status of the temporary file
    expect(JSON.parse(pod.steps[1].stdout)).toEqual(s);

    // key count: 10 more keys make exactly 10 more keys in the next snapshot ...
    await putKeys("/ku/second/", 10);
    const keysAfter = await countKeys(bins.etcdctl, pki, etcd.clientUrl, "");
    expect(keysAfter - keysBefore).toBe(10);
    await new Promise((r) => setTimeout(r, 1100)); // a new second for the next snapshot name
    const backupDir2 = join(tmp.dir, "backups-2");
    expect(runPod(backupSteps(backupDir2), { env: podEnv }).succeeded).toBe(true);
    const s2 = status(join(backupDir2, snapshotsIn(backupDir2)[0]));
    expect(s2.totalKey - s.totalKey).toBe(keysAfter - keysBefore);
    expect(s2.revision).toBe((await endpointStatus(bins.etcdctl, pki, etcd.clientUrl)).revision);

    // ... and an etcd restored from the first snapshot holds exactly the keys and revision of then
    const restored = join(tmp.dir, "restored-1");
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    runOk(
      etcdRestoreCommand({
        snapshot: path,
        dataDir: restored,
        name: "check",
        initialCluster: [{ name: "check", peerUrl: `https://127.0.0.1:${peerPort}` }],
        etcdutl: bins.etcdutl,
      }),
    );
    const check = startEtcdMember(bins.etcd, pki, {
      name: "check",
      dataDir: restored,
      clientPort,
      peerPort,
    });
    try {
      await waitHealthy(bins.etcdctl, pki, [check]);
      expect(await countKeys(bins.etcdctl, pki, check.clientUrl, "")).toBe(keysBefore);
      expect(await countKeys(bins.etcdctl, pki, check.clientUrl, "/ku/second/")).toBe(0);
      const got = await etcdctlOk(
        bins.etcdctl,
        pki,
        [check.clientUrl],
        ["get", "/ku/first/7", "--print-value-only"],
      );
      expect(got.trim()).toBe("value-7");
      expect((await endpointStatus(bins.etcdctl, pki, check.clientUrl)).revision).toBe(
        before.revision,
      );
    } finally {
      await check.stop();
    }
  });

  it("fails the job, keeping no snapshot, when the snapshot is truncated to half", () => {
    const backupDir = join(tmp.dir, "backups-truncated");
    const steps = backupSteps(backupDir);
    mkdirSync(backupDir, { recursive: true });
    const snap = runPod(steps.slice(0, 1), { env: podEnv });
    expect(snap.succeeded).toBe(true);
    const temp = join(backupDir, ".etcd-snapshot-in-progress.db");
    truncateSync(temp, Math.floor(statSync(temp).size / 2));
    const rest = runPod(steps.slice(1), { env: podEnv });
    expect(rest.succeeded).toBe(false);
    expect(rest.failed).toBe("verify");
    expect(rest.steps).toHaveLength(1); // finish never ran
    expect(snapshotsIn(backupDir)).toEqual([]);
  });

  it("fails the job, keeping no snapshot, when the snapshot file is not an etcd database", () => {
    const backupDir = join(tmp.dir, "backups-corrupt");
    const steps = backupSteps(backupDir);
    expect(runPod(steps.slice(0, 1), { env: podEnv }).succeeded).toBe(true);
    const temp = join(backupDir, ".etcd-snapshot-in-progress.db");
    // overwrite the bolt meta pages (the first 8 KiB) with garbage
    const buf = readFileSync(temp);
    buf.fill(0x5a, 0, 8192);
    writeFileSync(temp, buf);
    const rest = runPod(steps.slice(1), { env: podEnv });
    expect(rest.failed).toBe("verify");
    expect(snapshotsIn(backupDir)).toEqual([]);
  });

  // etcdutl snapshot status still reads these; the finish step's sha256 trailer check does not
  it.each([
    ["its last bytes are cut off", (b: Buffer) => b.subarray(0, b.length - 7)],
    [
      "one byte of a stored value is flipped",
      (b: Buffer) => {
        // inside a value the database structure stays valid, so only the checksum can tell
        const c = Buffer.from(b);
        const i = c.indexOf(MARKER);
        expect(i).toBeGreaterThan(0);
        c[i + 5] = c[i + 5] ^ 0x01;
        return c;
      },
    ],
  ])("fails the job, keeping no snapshot, when %s", async (_what, damage) => {
    await etcdctlOk(bins.etcdctl, pki, [etcd.clientUrl], ["put", "/ku/marker", MARKER]);
    const backupDir = join(tmp.dir, `backups-damaged-${_what.length}`);
    const steps = backupSteps(backupDir);
    expect(runPod(steps.slice(0, 1), { env: podEnv }).succeeded).toBe(true);
    const temp = join(backupDir, ".etcd-snapshot-in-progress.db");
    writeFileSync(temp, damage(readFileSync(temp)));
    const rest = runPod(steps.slice(1), { env: podEnv });
    expect(rest.succeeded).toBe(false);
    expect(rest.output).toMatch(/ERROR: snapshot .*(trailer|does not match)/);
    expect(snapshotsIn(backupDir)).toEqual([]);
    expect(existsSync(temp)).toBe(false);
  });

  // etcdctl snapshot save keeps retrying an endpoint that refuses connections; in the cluster
  // the Job's activeDeadlineSeconds ends it. Here the runner's timeout plays that part.
  it("retention deletes exactly the snapshots beyond the age and count limits, nothing else", () => {
    const backupDir = join(tmp.dir, "backups-retention");
    mkdirSync(backupDir, { recursive: true });
    const now = Date.now() / 1000;
    const hour = 3600;
    const day = 86400;
    const touch = (name: string, ageSeconds: number, content = "old snapshot") => {
      writeFileSync(join(backupDir, name), content);
      chmodSync(join(backupDir, name), 0o600);
      utimesSync(join(backupDir, name), now - ageSeconds, now - ageSeconds);
    };
    // snapshots (names as the job writes them), newest first
    touch("etcd-snapshot-20260101T010000Z.db", 1 * hour); // rank 2: kept
    touch("etcd-snapshot-20260101T020000Z.db", 2 * hour); // rank 3: kept
    touch("etcd-snapshot-20250101T030000Z.db", 3 * hour); // rank 4: kept (name order is irrelevant)
    touch("etcd-snapshot-20260101T040000Z.db", 4 * hour); // rank 5: beyond count 4
    touch("etcd-snapshot-20260101T050000Z.db", 5 * hour); // rank 6: beyond count 4
    touch("etcd-snapshot-20200101T000000Z.db", 10 * day); // older than 3 days
    // files that only look similar: never touched
    const others = [
      "etcd-snapshot-latest.db",
      "etcd-snapshot-20200101T000000Z.db.bak",
      "etcd-backup-20200101.db",
      "notes.txt",
      "etcd-snapshot-2020010T000000Z.db",
    ];
    for (const o of others) touch(o, 30 * day, "keep me");
    mkdirSync(join(backupDir, "etcd-snapshot-20190101T000000Z.db")); // a directory, not a file
    utimesSync(
      join(backupDir, "etcd-snapshot-20190101T000000Z.db"),
      now - 30 * day,
      now - 30 * day,
    );

    const pod = runPod(backupSteps(backupDir, { retention: { days: 3, count: 4 } }), {
      env: podEnv,
    });
    expect(pod.succeeded).toBe(true);
    const left = readdirSync(backupDir).sort();
    const written = left.filter(
      (f) =>
        ETCD_SNAPSHOT_NAME_PATTERN.test(f) &&
        statSync(join(backupDir, f)).isFile() &&
        readFileSync(join(backupDir, f), "utf8") !== "old snapshot",
    );
    expect(written).toHaveLength(1);
    expect(left).toEqual(
      [
        ...written,
        "etcd-snapshot-20260101T010000Z.db",
        "etcd-snapshot-20260101T020000Z.db",
        "etcd-snapshot-20250101T030000Z.db",
        "etcd-snapshot-20190101T000000Z.db",
        ...others,
      ].sort(),
    );
    for (const gone of [
      "etcd-snapshot-20260101T040000Z.db",
      "etcd-snapshot-20260101T050000Z.db",
      "etcd-snapshot-20200101T000000Z.db",
    ])
      expect(pod.output).toContain(`pruning ${join(backupDir, gone)}`);
  });

  it("retention by age alone keeps every snapshot younger than the limit", () => {
    const backupDir = join(tmp.dir, "backups-age");
    mkdirSync(backupDir, { recursive: true });
    const now = Date.now() / 1000;
    const day = 86400;
    const ages: Record<string, number> = {
      "etcd-snapshot-20260101T000000Z.db": 1 * day,
      "etcd-snapshot-20260102T000000Z.db": 6 * day + 23 * 3600, // just inside 7 days
      "etcd-snapshot-20260103T000000Z.db": 7 * day + 3600, // just beyond
      "etcd-snapshot-20260104T000000Z.db": 30 * day,
    };
    for (const [f, age] of Object.entries(ages)) {
      writeFileSync(join(backupDir, f), "old snapshot");
      utimesSync(join(backupDir, f), now - age, now - age);
    }
    const pod = runPod(backupSteps(backupDir), { env: podEnv }); // default: { days: 7 }
    expect(pod.succeeded).toBe(true);
    const left = snapshotsIn(backupDir);
    expect(left).toHaveLength(3);
    expect(left).toEqual(
      expect.arrayContaining([
        "etcd-snapshot-20260101T000000Z.db",
        "etcd-snapshot-20260102T000000Z.db",
      ]),
    );
    expect(left).not.toContain("etcd-snapshot-20260103T000000Z.db");
    expect(left).not.toContain("etcd-snapshot-20260104T000000Z.db");
  });

  // Without --command-timeout, etcdctl snapshot save waits forever in both cases (in the
  // CronJob until activeDeadlineSeconds kills the pod, over SSH until someone notices).
  it.each([
    ["nothing listens on the port (connection refused)", false],
    ["a listener that never answers (the kernel accepts, nobody speaks TLS)", true],
  ])(
    "fails at the snapshot step after timeoutSeconds, keeping nothing, when etcd does not answer: %s",
    async (_what, listen) => {
      const silent = createServer(() => undefined);
      let port: number;
      if (listen) {
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        port = (silent.address() as AddressInfo).port;
      } else {
        port = await freePort();
      }
      try {
        const backupDir = join(tmp.dir, `backups-unreachable-${port}`);
        const steps = backupSteps(backupDir, {
          endpoint: `https://127.0.0.1:${port}`,
          timeoutSeconds: 3,
        });
        expect(steps[0].command).toContain("--command-timeout=3s");
        // the harness would kill the step after 60 s; etcdctl must give up on its own first
        const started = Date.now();
        const pod = runPod(steps, { env: podEnv, timeoutMs: 60_000 });
        const seconds = (Date.now() - started) / 1000;
        expect(pod.failed).toBe("snapshot");
        expect(pod.steps[0].status).not.toBeNull(); // exited, not killed by the harness
        expect(pod.output).toContain("context deadline exceeded");
        expect(seconds).toBeGreaterThanOrEqual(3);
        expect(seconds).toBeLessThan(60);
        expect(existsSync(backupDir) ? snapshotsIn(backupDir) : []).toEqual([]);
      } finally {
        if (listen) silent.close();
      }
    },
  );

  it("the one-script form (renderEtcdBackupScript, for SSH) writes the same kind of snapshot", () => {
    const backupDir = join(tmp.dir, "backups-script");
    const script = renderEtcdBackupScript({
      ...backupTlsOptions(bins, pki, etcd.clientUrl),
      backupDir,
    });
    const r = run(["bash", "-c", script], { env: { PATH: "/usr/bin:/bin", TZ: "UTC" } });
    expect(r.stderr).toContain("wrote");
    expect(r.status).toBe(0);
    const files = readdirSync(backupDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(ETCD_SNAPSHOT_NAME_PATTERN);
    expect(statSync(join(backupDir, files[0])).mode & 0o777).toBe(0o600);
    expect(status(join(backupDir, files[0])).revision).toBeGreaterThan(0);
  });
});
