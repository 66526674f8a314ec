/**
 * The etcd snapshot backup, rendered from typed options.
 *
 * One procedure, three steps, usable in two ways:
 *
 *  1. snapshot  `etcdctl snapshot save <dir>/<tempName>` over TLS ({@link etcdSnapshotCommand})
 *  2. verify    `etcdutl snapshot status <dir>/<tempName> -w json` ({@link etcdVerifyCommand});
 *               etcd 3.6 removed `etcdctl snapshot status`, etcdutl is the tool now
 *  3. finish    check the sha256 trailer etcd appends to every snapshot (etcdutl snapshot
 *               status accepts a snapshot whose tail is cut off or damaged; the trailer does
 *               not), chmod 0600, rename to `etcd-snapshot-<UTC timestamp>.db`, prune old
 *               snapshots ({@link renderEtcdBackupFinishScript})
 *
 * - The `EtcdBackup` CronJob runs steps 1 and 2 exec-form in the (shell-less) etcd image as
 *   init containers, and step 3 with `sh -c` in a small shell image. A failing verify fails
 *   the pod before step 3 runs, so no final snapshot appears.
 * - {@link renderEtcdBackupScript} joins the same three steps into one self-contained bash
 *   script (`bash -s` / `bash -c`), used over SSH for the pre-upgrade snapshot and for running
 *   the backup by hand. There a failing verify also deletes the temporary file.
 *
 * Every value is validated (absolute normalized paths, plain command names, http(s) URL) and
 * quoted with shell-quote, so no option value can change the script's meaning.
 */
import { ProblemCollector, ValidationError } from "../errors";
import {
  PORTABLE_STRICT,
  shArg,
  validateAbsolutePath,
  validateCommand,
  validateFileName,
  validateInteger,
  validateUrl,
} from "./shell";

/** How many snapshots to keep. At least one of `days` and `count` must be set. */
export interface EtcdBackupRetention {
  /**
   * Delete snapshots whose file modification time is more than this many days ago.
   *
   * @default 7 (when `retention` is not given at all)
   */
  readonly days?: number;
  /**
   * Keep only the newest `count` snapshots (by modification time, newest first; the name's
   * timestamp breaks ties) and delete the rest.
   *
   * @default - no count limit
   */
  readonly count?: number;
}

/** Options of the etcd backup script. Every path must be absolute and normalized. */
export interface EtcdBackupScriptOptions {
  /**
   * The etcd client URL to snapshot. With hostNetwork on a kubeadm control-plane node this
   * is the local member.
   *
   * @default "https://127.0.0.1:2379" (kubeadm's local etcd)
   */
  readonly endpoint?: string;
  /** @default "/etc/kubernetes/pki/etcd/ca.crt" (kubeadm) */
  readonly cacert?: string;
  /** @default "/etc/kubernetes/pki/etcd/server.crt" (kubeadm; the one the field guide uses) */
  readonly cert?: string;
  /** @default "/etc/kubernetes/pki/etcd/server.key" (kubeadm) */
  readonly key?: string;
  /**
   * Directory the snapshots are written to (must exist or be creatable).
   *
   * @default "/var/backups/etcd" (the field guide's etcd-backup.sh)
   */
  readonly backupDir?: string;
  /**
   * Retention: by age and/or count. A snapshot is deleted when it breaks either rule.
   * Only files named like `etcd-snapshot-20260101T020000Z.db` are ever deleted.
   *
   * @default { days: 7 }
   */
  readonly retention?: EtcdBackupRetention;
  /**
   * etcdctl: a name looked up on PATH or an absolute path.
   *
   * @default "etcdctl"
   */
  readonly etcdctl?: string;
  /**
   * etcdutl: a name looked up on PATH or an absolute path.
   *
   * @default "etcdutl"
   */
  readonly etcdutl?: string;
  /**
   * Name of the temporary snapshot file inside `backupDir`, renamed to the final name only
   * after verification. It never matches the snapshot naming pattern, so retention ignores it.
   * Give a different one to a second writer sharing the directory.
   *
   * @default ".etcd-snapshot-in-progress.db"
   */
  readonly tempName?: string;
  /**
   * Seconds `etcdctl snapshot save` may take in all (its `--command-timeout`). Without it
   * etcdctl has no deadline for a snapshot: against an etcd that does not answer it waits
   * forever (in the CronJob until activeDeadlineSeconds, over SSH until someone notices). The
   * timeout covers the whole transfer: raise it for databases of several GiB (etcd's quota can
   * go up to 8 GiB), slow disks or remote endpoints.
   *
   * @default 300
   */
  readonly timeoutSeconds?: number;
}

/** Options with every default filled in, validated. */
export interface ResolvedEtcdBackupOptions {
  readonly endpoint: string;
  readonly cacert: string;
  readonly cert: string;
  readonly key: string;
  readonly backupDir: string;
  readonly retention: { readonly days?: number; readonly count?: number };
  readonly etcdctl: string;
  readonly etcdutl: string;
  readonly tempName: string;
  /** `backupDir/tempName` */
  readonly tempFile: string;
  readonly timeoutSeconds: number;
}

/** kubeadm's defaults, as used by the field guide. */
export const ETCD_BACKUP_DEFAULTS = {
  endpoint: "https://127.0.0.1:2379",
  cacert: "/etc/kubernetes/pki/etcd/ca.crt",
  cert: "/etc/kubernetes/pki/etcd/server.crt",
  key: "/etc/kubernetes/pki/etcd/server.key",
  backupDir: "/var/backups/etcd",
  retentionDays: 7,
  etcdctl: "etcdctl",
  etcdutl: "etcdutl",
  tempName: ".etcd-snapshot-in-progress.db",
  timeoutSeconds: 300,
} as const;

/** Longest snapshot timeout accepted (a day). */
const MAX_TIMEOUT_SECONDS = 86400;

/** The snapshot file names the backup writes and the only ones retention deletes. */
export const ETCD_SNAPSHOT_NAME_PATTERN = /^etcd-snapshot-\d{8}T\d{6}Z\.db$/;
/** The same pattern as a shell glob (for `find -name`). */
export const ETCD_SNAPSHOT_NAME_GLOB =
  "etcd-snapshot-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.db";

/** The final file name for a snapshot taken at `date` (UTC, second precision). */
export function etcdSnapshotFileName(date: Date): string {
  const iso = date.toISOString(); // 2026-01-01T02:00:00.000Z
  return `etcd-snapshot-${iso.slice(0, 19).replace(/[-:]/g, "")}Z.db`;
}

/** Longest retention accepted: 100 years or 100000 snapshots. */
const MAX_DAYS = 36500;
const MAX_COUNT = 100000;

/** The retention, days defaulted when unset; its problems collected. */
function resolveRetention(
  where: string,
  r: EtcdBackupRetention | undefined,
  problems: ProblemCollector,
): { days?: number; count?: number } {
  const retention: { days?: number; count?: number } = {};
  if (r === undefined) {
    retention.days = ETCD_BACKUP_DEFAULTS.retentionDays;
  } else if (r === null || typeof r !== "object" || (r.days === undefined && r.count === undefined))
    problems.add(
      new ValidationError(
        where,
        "retention",
        r,
        "neither days nor count is set",
        "give { days: 7 }, { count: 14 } or both",
      ),
    );
  else {
    const { days, count } = r;
    if (days !== undefined)
      retention.days = problems.collect(() =>
        validateInteger(where, "retention.days", days, 1, MAX_DAYS),
      );
    if (count !== undefined)
      retention.count = problems.collect(() =>
        validateInteger(where, "retention.count", count, 1, MAX_COUNT),
      );
  }
  return retention;
}

/**
 * Validates the options and fills in defaults; every problem is reported at once (one as the
 * ValidationError itself, several as ValidationErrors). `where` names the caller in error
 * messages (a construct path, a resource name).
 */
export function resolveEtcdBackupOptions(
  opts: EtcdBackupScriptOptions = {},
  where = "renderEtcdBackupScript",
): ResolvedEtcdBackupOptions {
  const d = ETCD_BACKUP_DEFAULTS;
  const problems = new ProblemCollector();
  const check = <T>(fn: () => T) => problems.collect(fn);
  const endpoint = check(() => validateUrl(where, "endpoint", opts.endpoint ?? d.endpoint));
  const cacert = check(() => validateAbsolutePath(where, "cacert", opts.cacert ?? d.cacert));
  const cert = check(() => validateAbsolutePath(where, "cert", opts.cert ?? d.cert));
  const key = check(() => validateAbsolutePath(where, "key", opts.key ?? d.key));
  const backupDir = check(() =>
    validateAbsolutePath(where, "backupDir", opts.backupDir ?? d.backupDir),
  );
  if (backupDir === "/")
    problems.add(
      new ValidationError(
        where,
        "backupDir",
        backupDir,
        "the root directory cannot hold backups",
        "give a dedicated directory such as /var/backups/etcd",
      ),
    );
  const etcdctl = check(() => validateCommand(where, "etcdctl", opts.etcdctl ?? d.etcdctl));
  const etcdutl = check(() => validateCommand(where, "etcdutl", opts.etcdutl ?? d.etcdutl));
  const tempName = check(() => validateFileName(where, "tempName", opts.tempName ?? d.tempName));
  if (tempName !== undefined && ETCD_SNAPSHOT_NAME_PATTERN.test(tempName))
    problems.add(
      new ValidationError(
        where,
        "tempName",
        tempName,
        "matches the snapshot naming pattern, so retention could delete it",
        "use a name that does not look like etcd-snapshot-<timestamp>.db, e.g. .etcd-snapshot-in-progress.db",
      ),
    );
  const timeoutSeconds = check(() =>
    validateInteger(
      where,
      "timeoutSeconds",
      opts.timeoutSeconds ?? d.timeoutSeconds,
      1,
      MAX_TIMEOUT_SECONDS,
    ),
  );
  const retention = resolveRetention(where, opts.retention, problems);
  problems.throwOneOrAll();
  return {
    endpoint: endpoint!,
    cacert: cacert!,
    cert: cert!,
    key: key!,
    backupDir: backupDir!,
    retention,
    etcdctl: etcdctl!,
    etcdutl: etcdutl!,
    tempName: tempName!,
    tempFile: `${backupDir}/${tempName}`,
    timeoutSeconds: timeoutSeconds!,
  };
}

/**
 * Step 1, as an argv array (exec form, no shell needed):
 * `etcdctl --endpoints=<endpoint> --cacert=<ca> --cert=<cert> --key=<key>
 * --command-timeout=<timeoutSeconds>s snapshot save <tempFile>`.
 * etcdctl writes `<tempFile>.part` with mode 0600 and renames it when the transfer completed.
 */
export function etcdSnapshotCommand(
  opts: EtcdBackupScriptOptions | ResolvedEtcdBackupOptions = {},
  where?: string,
): string[] {
  const o = resolved(opts, where);
  return [
    o.etcdctl,
    `--endpoints=${o.endpoint}`,
    `--cacert=${o.cacert}`,
    `--cert=${o.cert}`,
    `--key=${o.key}`,
    `--command-timeout=${o.timeoutSeconds}s`,
    "snapshot",
    "save",
    o.tempFile,
  ];
}

/**
 * Step 2, as an argv array: `etcdutl snapshot status <tempFile> -w json`, which exits
 * non-zero when the file is not a readable etcd snapshot.
 */
export function etcdVerifyCommand(
  opts: EtcdBackupScriptOptions | ResolvedEtcdBackupOptions = {},
  where?: string,
): string[] {
  const o = resolved(opts, where);
  return [o.etcdutl, "snapshot", "status", o.tempFile, "-w", "json"];
}

function resolved(
  opts: EtcdBackupScriptOptions | ResolvedEtcdBackupOptions,
  where?: string,
): ResolvedEtcdBackupOptions {
  // Re-resolving a resolved object validates it again and yields the same values.
  return resolveEtcdBackupOptions(
    {
      endpoint: opts.endpoint,
      cacert: opts.cacert,
      cert: opts.cert,
      key: opts.key,
      backupDir: opts.backupDir,
      retention: opts.retention,
      etcdctl: opts.etcdctl,
      etcdutl: opts.etcdutl,
      tempName: opts.tempName,
      timeoutSeconds: opts.timeoutSeconds,
    },
    where,
  );
}

function preamble(o: ResolvedEtcdBackupOptions, strict = "set -euo pipefail"): string {
  return String.raw`${strict}
umask 077
backup_dir=${shArg(o.backupDir)}
tmp_file=${shArg(o.tempFile)}
log() { printf '%s etcd-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }`;
}

function finishBody(o: ResolvedEtcdBackupOptions): string {
  const { days, count } = o.retention;
  return String.raw`# finish: the verified temporary snapshot gets its final name, then retention runs
if [ ! -f "$tmp_file" ]; then
  log "ERROR: no verified snapshot at $tmp_file"
  exit 1
fi
# integrity: etcd appends the sha256 of the database to every snapshot it streams (the
# check etcdutl snapshot restore makes); etcdutl snapshot status alone accepts a snapshot
# with a damaged or cut-off tail
size=$(stat -c %s "$tmp_file")
if [ $((size % 512)) -ne 32 ]; then
  rm -f "$tmp_file"
  log "ERROR: snapshot ($size bytes) has no sha256 trailer: truncated or not an etcd snapshot; no snapshot was kept"
  exit 1
fi
want=$(tail -c 32 "$tmp_file" | od -An -v -tx1 | tr -d ' \n')
got=$(head -c $((size - 32)) "$tmp_file" | sha256sum | cut -d ' ' -f 1)
if [ "$want" != "$got" ]; then
  rm -f "$tmp_file"
  log "ERROR: snapshot sha256 $got does not match its trailer $want: corrupted; no snapshot was kept"
  exit 1
fi
log "sha256 trailer matches ($size bytes)"
final="$backup_dir/etcd-snapshot-$(date -u +%Y%m%dT%H%M%SZ).db"
if [ -e "$final" ]; then
  log "ERROR: $final already exists, not overwriting it"
  exit 1
fi
chmod 0600 "$tmp_file"
mv "$tmp_file" "$final"
log "wrote $final"
# retention: only files named like the snapshots above are considered
pattern=${shArg(ETCD_SNAPSHOT_NAME_GLOB)}
max_age_days=${days ?? 0}
keep_count=${count ?? 0}
now=$(date +%s)
candidates=$(find "$backup_dir" -maxdepth 1 -type f -name "$pattern" -exec stat -c '%Y %n' {} + | sort -k1,1nr -k2,2r)
rank=1 # the snapshot just written counts as the newest and is never pruned
while read -r mtime file; do
  [ -n "$file" ] || continue
  [ "$file" != "$final" ] || continue
  rank=$((rank + 1))
  reason=""
  if [ "$keep_count" -gt 0 ] && [ "$rank" -gt "$keep_count" ]; then
    reason="beyond the newest $keep_count"
  fi
  if [ "$max_age_days" -gt 0 ] && [ $((now - mtime)) -gt $((max_age_days * 86400)) ]; then
    reason="older than $max_age_days days"
  fi
  if [ -n "$reason" ]; then
    log "pruning $file ($reason)"
    rm -f -- "$file"
  fi
done <<EOF
$candidates
EOF
log "done"
# stdout carries exactly one line: the snapshot's path (progress goes to stderr)
printf '%s\n' "$final"`;
}

/**
 * Step 3 alone, for a container with a POSIX shell (busybox sh, bash, dash): check the sha256
 * trailer (a mismatch deletes the temporary file and exits 1), chmod 0600, rename the verified
 * temporary file to `etcd-snapshot-<UTC timestamp>.db`, prune by age and/or count.
 * Needs date, stat, head, tail, od, tr, sha256sum, cut, chmod, mv, find, sort, rm (busybox
 * and GNU coreutils have them).
 */
export function renderEtcdBackupFinishScript(
  opts: EtcdBackupScriptOptions | ResolvedEtcdBackupOptions = {},
  where?: string,
): string {
  const o = resolved(opts, where);
  return `# kube-upkeep etcd backup: finish step (rename and retention)
${preamble(o, PORTABLE_STRICT)}
${finishBody(o)}
`;
}

/**
 * The whole backup as one self-contained bash script (runs with `bash -s` or `bash -c`):
 * snapshot, verify (a failing verify deletes the temporary file and exits 1: no final file),
 * finish. Progress goes to stderr; stdout is exactly one line, the new snapshot's path (for
 * callers such as the Pulumi pre-upgrade snapshot). The snapshot and verify lines are exactly {@link etcdSnapshotCommand} and
 * {@link etcdVerifyCommand}, quoted; the rest is {@link renderEtcdBackupFinishScript}'s body.
 */
export function renderEtcdBackupScript(
  opts: EtcdBackupScriptOptions = {},
  where = "renderEtcdBackupScript",
): string {
  const o = resolveEtcdBackupOptions(opts, where);
  const snapshot = etcdSnapshotCommand(o, where).map(shArg).join(" ");
  const verify = etcdVerifyCommand(o, where).map(shArg).join(" ");
  return String.raw`#!/usr/bin/env bash
# kube-upkeep etcd backup: snapshot, verify, rename, retention
${preamble(o)}
mkdir -p "$backup_dir"
rm -f "$tmp_file" "$tmp_file.part"
log ${shArg(`saving a snapshot of ${o.endpoint} to ${o.tempFile}`)}
${snapshot} >&2
log ${shArg(`verifying ${o.tempFile} with etcdutl snapshot status`)}
if ! status=$(${verify}); then
  rm -f "$tmp_file"
  log "ERROR: snapshot verification failed; no snapshot was kept"
  exit 1
fi
log "snapshot status: $status"
${finishBody(o)}
`;
}
