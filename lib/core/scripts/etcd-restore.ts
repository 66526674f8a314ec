/**
 * The etcd snapshot restore of a kubeadm control-plane node, rendered from typed options.
 *
 * The field guide's restore, step by step, as one bash script (`bash -s` / `bash -c` on the
 * node, as root):
 *
 *  1. preflight  the snapshot exists and `etcdutl snapshot status` reads it; the new data
 *                directory does not exist yet; the etcd manifest names the current data
 *                directory exactly once in `--data-dir=`;
 *  2. stop       move every static pod manifest (etcd, kube-apiserver, ...) out of the manifests
 *                directory into a stash directory, wait longer than the kubelet's 20 s
 *                fileCheckFrequency, so the kubelet stops etcd and the API server;
 *  3. restore    `etcdutl snapshot restore <snapshot> --data-dir <new>` ({@link etcdRestoreCommand};
 *                etcd 3.6 removed `etcdctl snapshot restore`), with the member's name, peer URL,
 *                initial cluster and token when given (HA: one cluster description renders each
 *                member's script, {@link renderHaEtcdRestoreScripts});
 *  4. switch     in the stashed etcd manifest, replace the old data directory by the new one in
 *                `--data-dir=`, the volume's `mountPath:` and the hostPath `path:` (the guide
 *                only edits --data-dir; without the hostPath the restored data would not be
 *                mounted); the untouched manifest is kept next to the stash as a backup;
 *  5. start      move the manifests back;
 *  6. wait       `etcdctl endpoint health` ({@link etcdHealthCommand}) until it succeeds or
 *                `healthTimeoutSeconds` pass, then print `member list`.
 *
 * The old data directory is never touched (it is the way back: restore the backed-up manifest).
 * Any failure between steps 2 and 5 moves the original manifests back (EXIT/TERM trap) and
 * removes a half-written new data directory. Every value is validated and quoted (shell.ts).
 *
 * `rootfs` runs the script from a container with the host's / mounted there: file operations
 * use `<rootfs><path>`, while the manifest keeps the host's own paths.
 */
import { ValidationError } from "../errors";
import { ETCD_BACKUP_DEFAULTS } from "./etcd-backup";
import {
  pathWithin,
  shArg,
  validateAbsolutePath,
  validateCommand,
  validateDnsName,
  validateFileName,
  validateInteger,
  validateUrl,
} from "./shell";
import { renderStaticPodManifestSteps, validateStashDir } from "./static-pod-manifests";

/** One etcd member as the initial cluster lists it. */
export interface EtcdMember {
  /** Member name (`--name`; kubeadm uses the node name). */
  readonly name: string;
  /** Peer URL (`--initial-advertise-peer-urls`), e.g. https://10.0.0.11:2380. */
  readonly peerUrl: string;
}

/** Options of the etcd restore script. Every path must be absolute and normalized. */
export interface EtcdRestoreScriptOptions {
  /** The snapshot file to restore (a file the backup wrote, copied to this node). */
  readonly snapshot: string;
  /**
   * The NEW data directory etcdutl restores into. Must not exist yet: restoring never
   * overwrites a data directory.
   *
   * @default "/var/lib/etcd-restore" (the field guide's)
   */
  readonly dataDir?: string;
  /**
   * The data directory the etcd manifest uses now (`--data-dir=` and the hostPath volume).
   *
   * @default "/var/lib/etcd" (kubeadm)
   */
  readonly currentDataDir?: string;
  /**
   * This member's name. With `initialCluster`, restores the membership the way the cluster
   * should look (the guide's `--name` / `--initial-cluster` / `--initial-advertise-peer-urls`).
   * For a kubeadm node: the node name (`--name=` in etcd.yaml).
   *
   * @default - etcdutl's default member "default" with peer URL http://localhost:2380
   */
  readonly name?: string;
  /**
   * Every member of the restored cluster, this one included (single control plane: just this
   * one, e.g. `[{ name: "master", peerUrl: "https://10.0.0.11:2380" }]`). Required with `name`.
   *
   * @default - none (see `name`)
   */
  readonly initialCluster?: readonly EtcdMember[];
  /**
   * `--initial-cluster-token` of the restored cluster: give a new one per restore so members of
   * the old cluster can never join the new one by mistake.
   *
   * @default - etcdutl's default ("etcd-cluster")
   */
  readonly initialClusterToken?: string;
  /** @default "/etc/kubernetes/manifests" */
  readonly manifestsDir?: string;
  /**
   * File name of the etcd manifest inside `manifestsDir`.
   *
   * @default "etcd.yaml"
   */
  readonly etcdManifest?: string;
  /**
   * Where the manifests wait while etcd is stopped: a `kube-upkeep-restore.XXXXXX` directory is
   * created inside it, and the unedited etcd manifest is kept there as
   * `etcd.yaml.before-restore-<UTC timestamp>`. Must be outside `manifestsDir`.
   *
   * @default "/etc/kubernetes/tmp"
   */
  readonly stashDir?: string;
  /**
   * Host root for file operations (a container with the host's / mounted there).
   *
   * @default - none: the script runs on the host
   */
  readonly rootfs?: string;
  /**
   * Seconds to wait after moving the manifests out (the kubelet looks every 20 s). Lower only
   * in tests.
   *
   * @default 30
   */
  readonly restartWaitSeconds?: number;
  /**
   * Seconds to wait for `etcdctl endpoint health` after the manifests are back. HA: every
   * member waits for quorum, so run all members' scripts within this time of each other.
   *
   * @default 300
   */
  readonly healthTimeoutSeconds?: number;
  /**
   * Client URL of this member for the health check.
   *
   * @default "https://127.0.0.1:2379"
   */
  readonly endpoint?: string;
  /** @default "/etc/kubernetes/pki/etcd/ca.crt" */
  readonly cacert?: string;
  /** @default "/etc/kubernetes/pki/etcd/server.crt" */
  readonly cert?: string;
  /** @default "/etc/kubernetes/pki/etcd/server.key" */
  readonly key?: string;
  /** @default "etcdutl" */
  readonly etcdutl?: string;
  /** @default "etcdctl" */
  readonly etcdctl?: string;
}

/** Options with every default filled in, validated. Paths as the host sees them. */
export interface ResolvedEtcdRestoreOptions {
  readonly snapshot: string;
  readonly dataDir: string;
  readonly currentDataDir: string;
  readonly name?: string;
  readonly initialCluster?: readonly EtcdMember[];
  readonly initialClusterToken?: string;
  readonly manifestsDir: string;
  readonly etcdManifest: string;
  readonly stashDir: string;
  readonly rootfs?: string;
  readonly restartWaitSeconds: number;
  readonly healthTimeoutSeconds: number;
  readonly endpoint: string;
  readonly cacert: string;
  readonly cert: string;
  readonly key: string;
  readonly etcdutl: string;
  readonly etcdctl: string;
}

export const ETCD_RESTORE_DEFAULTS = {
  dataDir: "/var/lib/etcd-restore",
  currentDataDir: "/var/lib/etcd",
  manifestsDir: "/etc/kubernetes/manifests",
  etcdManifest: "etcd.yaml",
  stashDir: "/etc/kubernetes/tmp",
  restartWaitSeconds: 30,
  healthTimeoutSeconds: 300,
  endpoint: ETCD_BACKUP_DEFAULTS.endpoint,
  cacert: ETCD_BACKUP_DEFAULTS.cacert,
  cert: ETCD_BACKUP_DEFAULTS.cert,
  key: ETCD_BACKUP_DEFAULTS.key,
  etcdutl: ETCD_BACKUP_DEFAULTS.etcdutl,
  etcdctl: ETCD_BACKUP_DEFAULTS.etcdctl,
} as const;

/** An etcd initial-cluster token: letters, digits, . _ - (at most 128). */
function validateToken(where: string, value: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(value))
    throw new ValidationError(
      where,
      "initialClusterToken",
      value,
      "not a plain token",
      "use letters, digits and . _ - (at most 128), e.g. etcd-restore-20260101",
    );
  return value;
}

function validateMembers(
  where: string,
  field: string,
  members: readonly EtcdMember[] | undefined,
): EtcdMember[] {
  if (!Array.isArray(members) || members.length === 0)
    throw new ValidationError(
      where,
      field,
      members,
      "no members",
      'list every member, e.g. [{ name: "master-1", peerUrl: "https://10.0.0.11:2380" }]',
    );
  const names = new Set<string>();
  const urls = new Set<string>();
  return members.map((m, i) => {
    if (m === null || typeof m !== "object")
      throw new ValidationError(
        where,
        `${field}[${i}]`,
        m,
        "not a member",
        "give { name, peerUrl }",
      );
    const name = validateDnsName(where, `${field}[${i}].name`, m.name);
    const peerUrl = validateUrl(where, `${field}[${i}].peerUrl`, m.peerUrl).replace(/\/$/, "");
    if (names.has(name))
      throw new ValidationError(
        where,
        `${field}[${i}].name`,
        name,
        "listed twice",
        "give each member a distinct name",
      );
    if (urls.has(peerUrl))
      throw new ValidationError(
        where,
        `${field}[${i}].peerUrl`,
        peerUrl,
        "used by two members",
        "give each member its own peer URL",
      );
    names.add(name);
    urls.add(peerUrl);
    return { name, peerUrl };
  });
}

/** Validates the options and fills in defaults; `where` names the caller in error messages. */
export function resolveEtcdRestoreOptions(
  opts: EtcdRestoreScriptOptions,
  where = "renderEtcdRestoreScript",
): ResolvedEtcdRestoreOptions {
  const d = ETCD_RESTORE_DEFAULTS;
  if (opts === null || typeof opts !== "object" || opts.snapshot === undefined)
    throw new ValidationError(
      where,
      "snapshot",
      opts?.snapshot,
      "no snapshot given",
      "give the snapshot file to restore, e.g. /var/backups/etcd/etcd-snapshot-20260101T020000Z.db",
    );
  const snapshot = validateAbsolutePath(where, "snapshot", opts.snapshot);
  const dataDir = validateAbsolutePath(where, "dataDir", opts.dataDir ?? d.dataDir);
  const currentDataDir = validateAbsolutePath(
    where,
    "currentDataDir",
    opts.currentDataDir ?? d.currentDataDir,
  );
  for (const [field, dir] of [
    ["dataDir", dataDir],
    ["currentDataDir", currentDataDir],
  ] as const)
    if (dir === "/")
      throw new ValidationError(
        where,
        field,
        dir,
        "the root directory cannot be a data directory",
        field === "dataDir"
          ? "give a new directory such as /var/lib/etcd-restore"
          : "give the directory etcd's manifest names in --data-dir=, such as /var/lib/etcd",
      );
  if (pathWithin(dataDir, currentDataDir) || pathWithin(currentDataDir, dataDir)) {
    // name the setting the caller gave (the other one is the default)
    const given = opts.dataDir === undefined && opts.currentDataDir !== undefined;
    throw new ValidationError(
      where,
      given ? "currentDataDir" : "dataDir",
      given ? currentDataDir : dataDir,
      given
        ? `overlaps the data directory ${dataDir} the snapshot is restored into`
        : `overlaps the current data directory ${currentDataDir}`,
      "restore into a new directory next to the current one, such as /var/lib/etcd-restore (the old one stays as the way back)",
    );
  }
  const manifestsDir = validateAbsolutePath(
    where,
    "manifestsDir",
    opts.manifestsDir ?? d.manifestsDir,
  );
  // the restore moves every manifest out of this directory and back
  if (manifestsDir === "/")
    throw new ValidationError(
      where,
      "manifestsDir",
      manifestsDir,
      "the root directory cannot be the static pod manifests directory",
      "give the kubelet's staticPodPath, such as /etc/kubernetes/manifests",
    );
  const etcdManifest = validateFileName(where, "etcdManifest", opts.etcdManifest ?? d.etcdManifest);
  // the kubelet ignores hidden files in the manifests directory (and the stash moves `*`)
  if (etcdManifest.startsWith("."))
    throw new ValidationError(
      where,
      "etcdManifest",
      etcdManifest,
      "is a hidden file, which the kubelet never runs as a static pod",
      "give the file name of etcd's static pod manifest, e.g. etcd.yaml",
    );
  const stashDir = validateStashDir(where, opts.stashDir ?? d.stashDir, manifestsDir);
  let rootfs: string | undefined;
  if (opts.rootfs !== undefined) {
    rootfs = validateAbsolutePath(where, "rootfs", opts.rootfs);
    if (rootfs === "/") rootfs = undefined;
  }
  let name: string | undefined;
  let initialCluster: EtcdMember[] | undefined;
  if (opts.name !== undefined || opts.initialCluster !== undefined) {
    if (opts.name === undefined)
      throw new ValidationError(
        where,
        "name",
        opts.name,
        "initialCluster is given but not this member's name",
        "set name to this member's entry in initialCluster (kubeadm: the node name)",
      );
    name = validateDnsName(where, "name", opts.name);
    if (opts.initialCluster === undefined)
      throw new ValidationError(
        where,
        "initialCluster",
        opts.initialCluster,
        "name is given but not the initial cluster",
        `list every member, this one included, e.g. [{ name: ${JSON.stringify(name)}, peerUrl: "https://10.0.0.11:2380" }]`,
      );
    initialCluster = validateMembers(where, "initialCluster", opts.initialCluster);
    if (!initialCluster.some((m) => m.name === name))
      throw new ValidationError(
        where,
        "name",
        name,
        `not among the initialCluster members (${initialCluster.map((m) => m.name).join(", ")})`,
        "use this member's name as listed in initialCluster",
      );
  }
  const initialClusterToken =
    opts.initialClusterToken === undefined
      ? undefined
      : validateToken(where, opts.initialClusterToken);
  return {
    snapshot,
    dataDir,
    currentDataDir,
    name,
    initialCluster,
    initialClusterToken,
    manifestsDir,
    etcdManifest,
    stashDir,
    rootfs,
    restartWaitSeconds: validateInteger(
      where,
      "restartWaitSeconds",
      opts.restartWaitSeconds ?? d.restartWaitSeconds,
      0,
      3600,
    ),
    healthTimeoutSeconds: validateInteger(
      where,
      "healthTimeoutSeconds",
      opts.healthTimeoutSeconds ?? d.healthTimeoutSeconds,
      1,
      86400,
    ),
    endpoint: validateUrl(where, "endpoint", opts.endpoint ?? d.endpoint),
    cacert: validateAbsolutePath(where, "cacert", opts.cacert ?? d.cacert),
    cert: validateAbsolutePath(where, "cert", opts.cert ?? d.cert),
    key: validateAbsolutePath(where, "key", opts.key ?? d.key),
    etcdutl: validateCommand(where, "etcdutl", opts.etcdutl ?? d.etcdutl),
    etcdctl: validateCommand(where, "etcdctl", opts.etcdctl ?? d.etcdctl),
  };
}

function hostPath(o: ResolvedEtcdRestoreOptions, p: string): string {
  return o.rootfs ? `${o.rootfs}${p}` : p;
}

/**
 * Step 3 as an argv array: `etcdutl snapshot restore <snapshot> --data-dir=<dataDir>` plus,
 * when set, `--name`, `--initial-cluster`, `--initial-advertise-peer-urls` and
 * `--initial-cluster-token`. Paths are host paths (`rootfs` prefixed).
 */
export function etcdRestoreCommand(
  opts: EtcdRestoreScriptOptions | ResolvedEtcdRestoreOptions,
  where?: string,
): string[] {
  const o = resolveEtcdRestoreOptions(opts, where);
  const argv = [
    o.etcdutl,
    "snapshot",
    "restore",
    hostPath(o, o.snapshot),
    `--data-dir=${hostPath(o, o.dataDir)}`,
  ];
  if (o.name && o.initialCluster) {
    const self = o.initialCluster.find((m) => m.name === o.name)!;
    argv.push(
      `--name=${o.name}`,
      `--initial-cluster=${o.initialCluster.map((m) => `${m.name}=${m.peerUrl}`).join(",")}`,
      `--initial-advertise-peer-urls=${self.peerUrl}`,
    );
  }
  if (o.initialClusterToken) argv.push(`--initial-cluster-token=${o.initialClusterToken}`);
  return argv;
}

/** Step 6's probe as an argv array: `etcdctl --endpoints=... --cacert ... endpoint health`. */
export function etcdHealthCommand(
  opts: EtcdRestoreScriptOptions | ResolvedEtcdRestoreOptions,
  where?: string,
): string[] {
  const o = resolveEtcdRestoreOptions(opts, where);
  return [...etcdctlBase(o), "endpoint", "health"];
}

function etcdctlBase(o: ResolvedEtcdRestoreOptions): string[] {
  return [
    o.etcdctl,
    `--endpoints=${o.endpoint}`,
    `--cacert=${hostPath(o, o.cacert)}`,
    `--cert=${hostPath(o, o.cert)}`,
    `--key=${hostPath(o, o.key)}`,
  ];
}

/**
 * A bash function `switch_data_dir count|rewrite FILE` over `$old_dir` / `$new_dir`: counts (or
 * prints the file with them rewritten) the lines naming the data directory: `- --data-dir=DIR`,
 * `mountPath: DIR` and `path: DIR`, exact matches only, indentation kept.
 */
const SWITCH_DATA_DIR_FUNCTION = String.raw`switch_data_dir() {
  awk -v old="$old_dir" -v new="$new_dir" -v mode="$1" '
    {
      line = $0; indent = line; sub(/[^ ].*$/, "", indent); body = substr(line, length(indent) + 1)
      if (body == "- --data-dir=" old) { flags++; line = indent "- --data-dir=" new }
      else if (body == "mountPath: " old || body == "- mountPath: " old) { mounts++; sub(/mountPath: .*$/, "mountPath: " new, line) }
      else if (body == "path: " old) { paths++; line = indent "path: " new }
      if (mode == "rewrite") print line
    }
    END { if (mode == "count") print flags + 0, mounts + 0, paths + 0 }
  ' "$2"
}`;

/** Options of {@link renderEtcdDataDirSwitchScript}. */
export interface EtcdDataDirSwitchOptions {
  /** The file to edit: a static pod manifest, or any YAML listing etcd's `- --data-dir=` flag. */
  readonly manifest: string;
  /** @default "/var/lib/etcd" */
  readonly currentDataDir?: string;
  /** @default "/var/lib/etcd-restore" */
  readonly dataDir?: string;
}

/**
 * Step 4 alone, for a stopped etcd whose start command lives in a file: replace the data
 * directory in `--data-dir=`, `mountPath:` and `path:` lines of `manifest`, keeping the original
 * as `<manifest>.before-restore-<UTC timestamp>`. Fails, changing nothing, unless exactly one
 * `- --data-dir=<currentDataDir>` line is there. The full restore script does the same on the
 * stashed etcd manifest.
 */
export function renderEtcdDataDirSwitchScript(
  opts: EtcdDataDirSwitchOptions,
  where = "renderEtcdDataDirSwitchScript",
): string {
  const d = ETCD_RESTORE_DEFAULTS;
  const manifest = validateAbsolutePath(where, "manifest", opts?.manifest);
  const oldDir = validateAbsolutePath(
    where,
    "currentDataDir",
    opts.currentDataDir ?? d.currentDataDir,
  );
  const newDir = validateAbsolutePath(where, "dataDir", opts.dataDir ?? d.dataDir);
  if (oldDir === newDir)
    throw new ValidationError(
      where,
      "dataDir",
      newDir,
      "is the current data directory",
      "give the new directory the snapshot was restored into",
    );
  return String.raw`#!/usr/bin/env bash
# kube-upkeep etcd restore: switch etcd's data directory in its manifest
set -euo pipefail
manifest=${shArg(manifest)}
old_dir=${shArg(oldDir)}
new_dir=${shArg(newDir)}
log() { printf '%s etcd-restore: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
${SWITCH_DATA_DIR_FUNCTION}
[ -f "$manifest" ] || { log "ERROR: $manifest does not exist"; exit 1; }
read -r n_flags n_mounts n_paths <<EOF
$(switch_data_dir count "$manifest")
EOF
if [ "$n_flags" -ne 1 ]; then
  log "ERROR: $manifest has $n_flags lines '- --data-dir=$old_dir' (expected 1); nothing changed"
  exit 1
fi
backup="$manifest.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
cp -p "$manifest" "$backup"
switch_data_dir rewrite "$manifest" > "$manifest.kube-upkeep-new"
mv "$manifest.kube-upkeep-new" "$manifest"
log "switched $manifest from $old_dir to $new_dir ($n_flags --data-dir, $n_mounts mountPath, $n_paths hostPath lines); the original is $backup"
`;
}

/**
 * The whole restore of one member as a self-contained bash script (run as root on the node).
 * See the module comment for the steps.
 */
export function renderEtcdRestoreScript(
  opts: EtcdRestoreScriptOptions,
  where = "renderEtcdRestoreScript",
): string {
  const o = resolveEtcdRestoreOptions(opts, where);
  const q = (argv: string[]) => argv.map(shArg).join(" ");
  const restore = q(etcdRestoreCommand(o, where));
  const health = q(etcdHealthCommand(o, where));
  const memberList = q([...etcdctlBase(o), "member", "list", "-w", "table"]);
  const verify = q([o.etcdutl, "snapshot", "status", hostPath(o, o.snapshot), "-w", "json"]);
  const manifests = renderStaticPodManifestSteps(
    {
      stashPrefix: "kube-upkeep-restore",
      leftoverPrefixes: ["kube-upkeep-restore", "kube-upkeep-manifests"],
      context: "top-level",
      exitHandler: "on_exit",
    },
    where,
  );
  const steps = (lines: string[]) => lines.join("\n");
  return String.raw`#!/usr/bin/env bash
# kube-upkeep etcd restore${o.name ? ` of member ${o.name}` : ""}: stop static pods, restore, switch data dir, start, wait for health
set -euo pipefail
umask 077
snapshot=${shArg(hostPath(o, o.snapshot))}
data_dir=${shArg(hostPath(o, o.dataDir))}
old_dir=${shArg(o.currentDataDir)}
new_dir=${shArg(o.dataDir)}
manifests_dir=${shArg(hostPath(o, o.manifestsDir))}
etcd_manifest=${shArg(o.etcdManifest)}
stash_parent=${shArg(hostPath(o, o.stashDir))}
restart_wait=${o.restartWaitSeconds}
health_timeout=${o.healthTimeoutSeconds}
stash=""
created_data_dir=0
log() { printf '%s etcd-restore: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

${SWITCH_DATA_DIR_FUNCTION}

${steps(manifests.restoreFunction)}

on_exit() {
  status=$?
  if [ "$status" -ne 0 ] && [ "$created_data_dir" = 1 ] && [ -n "$stash" ]; then
    log "removing the incomplete $data_dir"
    rm -rf -- "$data_dir"
  fi
  restore_manifests
  exit "$status"
}

# 1. preflight
[ -f "$snapshot" ] || fail "snapshot $snapshot does not exist"
[ ! -e "$data_dir" ] || fail "$data_dir exists already; restore into a new directory (dataDir) or remove it first"
manifest="$manifests_dir/$etcd_manifest"
[ -f "$manifest" ] || fail "no etcd manifest at $manifest; is this a kubeadm control-plane node with local etcd?"
read -r n_flags n_mounts n_paths <<EOF
$(switch_data_dir count "$manifest")
EOF
[ "$n_flags" -eq 1 ] || fail "$manifest has $n_flags lines '- --data-dir=$old_dir' (expected 1); set currentDataDir to the data directory etcd uses now"
${steps(manifests.refuseLeftovers)}
log ${shArg("verifying the snapshot with etcdutl snapshot status")}
if ! status=$(${verify} 2>&1); then
  fail "$snapshot is not a readable etcd snapshot: $status"
fi
log "snapshot status: $status"

# 2. stop the static pods (etcd and everything that writes to it)
${steps(manifests.stash)}

# 3. restore into the new data directory
log "restoring $snapshot into $data_dir"
created_data_dir=1
if ! out=$(${restore} 2>&1); then
  fail "etcdutl snapshot restore failed: $out"
fi
printf '%s\n' "$out" >&2

# 4. switch etcd's data directory in the stashed manifest (the original is kept)
backup="$stash_parent/$etcd_manifest.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
cp -p "$stash/$etcd_manifest" "$backup"
switch_data_dir rewrite "$stash/$etcd_manifest" > "$stash/.$etcd_manifest.new"
mv "$stash/.$etcd_manifest.new" "$stash/$etcd_manifest"
log "switched $etcd_manifest from $old_dir to $new_dir ($n_flags --data-dir, $n_mounts mountPath, $n_paths hostPath lines); the original is $backup"

# 5. start: the manifests go back, the kubelet starts etcd on the restored data
${steps(manifests.unstash)}

# 6. wait for etcd to answer
log "waiting up to ${"${"}health_timeout}s for etcd to be healthy"
deadline=$(($(date +%s) + health_timeout))
until out=$(${health} 2>&1); do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    fail "etcd is not healthy after ${"${"}health_timeout}s: $out (the restored data is in $data_dir, the original manifest in $backup)"
  fi
  sleep 2
done
printf '%s\n' "$out" >&2
${memberList} >&2
log "done: etcd runs on $new_dir"
`;
}

/** One typed description of an HA etcd cluster to restore from one snapshot. */
export interface EtcdClusterRestoreOptions extends Omit<
  EtcdRestoreScriptOptions,
  "name" | "initialCluster" | "initialClusterToken" | "endpoint"
> {
  /** Every member: name (kubeadm: the node name) and peer URL, in the order to restore them. */
  readonly members: readonly (EtcdMember & {
    /**
     * This member's client URL for its own health check, as seen on its node.
     *
     * @default "https://127.0.0.1:2379"
     */
    readonly clientUrl?: string;
  })[];
  /**
   * `--initial-cluster-token` of the restored cluster, the same on every member. Required: a
   * new token keeps members of the old cluster out of the new one.
   */
  readonly initialClusterToken: string;
}

/** One member's part of an HA restore. */
export interface EtcdMemberRestore {
  readonly name: string;
  readonly peerUrl: string;
  /** The member's resolved options. */
  readonly options: ResolvedEtcdRestoreOptions;
  /** The member's `etcdutl snapshot restore` argv ({@link etcdRestoreCommand}). */
  readonly restoreCommand: string[];
  /** The member's full restore script ({@link renderEtcdRestoreScript}). */
  readonly script: string;
}

/**
 * HA: renders each member's restore from one cluster description, as the guide does by hand on
 * every node: the same snapshot, data directory, initial cluster and token everywhere, each
 * member's own `--name` and `--initial-advertise-peer-urls`. Run every script on its node (at
 * about the same time: each waits for quorum), with the same snapshot file copied to each.
 */
export function renderHaEtcdRestoreScripts(
  cluster: EtcdClusterRestoreOptions,
  where = "renderHaEtcdRestoreScripts",
): EtcdMemberRestore[] {
  if (cluster === null || typeof cluster !== "object")
    throw new ValidationError(
      where,
      "cluster",
      cluster,
      "not a cluster description",
      "give { snapshot, members, initialClusterToken }",
    );
  const members = validateMembers(where, "members", cluster.members);
  if (cluster.initialClusterToken === undefined)
    throw new ValidationError(
      where,
      "initialClusterToken",
      undefined,
      "an HA restore needs a cluster token",
      "give a new token for the restored cluster, e.g. etcd-restore-20260101",
    );
  validateToken(where, cluster.initialClusterToken);
  return members.map((m, i) => {
    const clientUrl = cluster.members[i].clientUrl;
    const opts: EtcdRestoreScriptOptions = {
      ...cluster,
      name: m.name,
      initialCluster: members,
      initialClusterToken: cluster.initialClusterToken,
      ...(clientUrl !== undefined ? { endpoint: clientUrl } : {}),
    };
    const memberWhere = `${where}: member ${m.name}`;
    const options = resolveEtcdRestoreOptions(opts, memberWhere);
    return {
      name: m.name,
      peerUrl: m.peerUrl,
      options,
      restoreCommand: etcdRestoreCommand(options, memberWhere),
      script: renderEtcdRestoreScript(opts, memberWhere),
    };
  });
}
