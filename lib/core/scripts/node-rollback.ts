/**
 * The rollback of one node to the version it ran before an upgrade, rendered from typed options
 * (the field guide's "upgrade rollback scenario"). docs/backup-restore.md ("Rollback") has the
 * procedure, what it restores and what it cannot.
 */
import { ProblemCollector, ValidationError } from "../errors";
import {
  asRootFunction,
  KUBELET_KEPT_FILES,
  kubeletSaveSuffix,
  resolvePackageSettings,
  type NodeUpgradeScriptOptions,
} from "./node-upgrade";
import { renderRepositorySwitch, repositoryMinor } from "./package-repository";
import {
  ETCD_RESTORE_DEFAULTS,
  renderEtcdRestoreScript,
  type EtcdRestoreScriptOptions,
} from "./etcd-restore";
import { shArg, shq, validateAbsolutePath } from "./shell";

export interface NodeRollbackScriptOptions extends Omit<
  NodeUpgradeScriptOptions,
  "targetVersion" | "mode" | "kubeadmFlags"
> {
  /** The version the node goes back to (its version before the upgrade), "v1.34.4". */
  readonly previousVersion: string;
  /**
   * `worker`: packages, kubelet configuration, kubelet restart. `control-plane`: also the static
   * pod manifests kubeadm backed up before it rewrote them, and `etcdSnapshot` when given.
   */
  readonly role: "worker" | "control-plane";
  /**
   * Control plane: the kubeadm backup to restore the manifests from.
   * @default the newest /etc/kubernetes/tmp/kubeadm-backup-manifests-* whose kube-apiserver.yaml
   *   runs previousVersion
   */
  readonly manifestBackupDir?: string;
  /** @default "/etc/kubernetes/manifests" */
  readonly manifestsDir?: string;
  /**
   * Control plane: restore this pre-upgrade etcd snapshot after the manifests (the rendered etcd
   * restore, {@link renderEtcdRestoreScript}). Everything written to the cluster after the
   * snapshot is lost. Skipped when the etcd manifest already uses `dataDir` (a re-run).
   */
  readonly etcdSnapshot?: EtcdRestoreScriptOptions;
}

const WHERE = "renderNodeRollbackScript";
const DELIMITER = "KU_ETCD_RESTORE_EOF";

/** Renders the POSIX sh script that rolls one node back. Throws ValidationErrors (every problem). */
export function renderNodeRollbackScript(opts: NodeRollbackScriptOptions): string {
  const problems = new ProblemCollector();
  const { previousVersion, role, manifestBackupDir, manifestsDir, etcdSnapshot } = opts;
  const pkg = problems.collect(
    () => resolvePackageSettings(WHERE, { ...opts, targetVersion: previousVersion }),
    (e) =>
      e.field === "targetVersion"
        ? new ValidationError(WHERE, "previousVersion", e.value, e.problem, e.fix)
        : e,
  );
  if (role !== "worker" && role !== "control-plane")
    problems.add(
      new ValidationError(WHERE, "role", role, "unknown role", 'use "worker" or "control-plane"'),
    );
  const path = (field: string, value: string | undefined, dflt: string) =>
    value === undefined ? dflt : problems.collect(() => validateAbsolutePath(WHERE, field, value));
  const manifests = path("manifestsDir", manifestsDir, "/etc/kubernetes/manifests");
  const backup = path("manifestBackupDir", manifestBackupDir, "");
  if (role === "worker")
    for (const [field, v] of [
      ["manifestBackupDir", manifestBackupDir],
      ["etcdSnapshot", etcdSnapshot],
    ] as const)
      if (v !== undefined)
        problems.add(
          new ValidationError(
            WHERE,
            field,
            v,
            "is for control-plane nodes only",
            'leave it unset for a worker, or set role: "control-plane"',
          ),
        );
  const restore =
    etcdSnapshot === undefined
      ? undefined
      : problems.collect(
          () => renderEtcdRestoreScript(etcdSnapshot, WHERE),
          (e) => new ValidationError(WHERE, `etcdSnapshot.${e.field}`, e.value, e.problem, e.fix),
        );
  problems.throwIfAny();
  const s = pkg!;
  const cp = role === "control-plane";
  const restoreDataDir = etcdSnapshot?.dataDir ?? ETCD_RESTORE_DEFAULTS.dataDir;
  if (restore !== undefined && restore.split("\n").includes(DELIMITER))
    throw new ValidationError(WHERE, "etcdSnapshot", DELIMITER, "ends the embedded script", "");
  return [
    header(s, role, cp ? manifests! : undefined),
    cp ? findBackup(backup!) : "",
    alreadyDone(cp, restore !== undefined, restoreDataDir),
    repository(s),
    packages(s),
    cp ? restoreManifests() : "",
    // before the kubelet restart: a kubelet that just started may not stop the static pods within
    // the restore's wait (seen on cp1: etcd kept running on the old data, the API server on top)
    restore === undefined ? "" : etcdRestore(restore),
    kubeletConfig(),
    cp ? apiServerWait() : "",
    check(),
  ]
    .filter((part) => part !== "")
    .join("\n");
}

type Settings = ReturnType<typeof resolvePackageSettings>;

function header(s: Settings, role: string, manifestsDir: string | undefined): string {
  const previous = s.target;
  return `#!/bin/sh
# kube-upkeep node rollback to ${previous.text} (${role}, ${s.pm}).
# Rendered by kube-upkeep: every value below was validated and quoted.
set -eu

PREVIOUS=${shq(previous.text)}
PKG_VERSION=${shq(s.pkgVersion)}
KUBELET_DIR=${shq(`${s.hostRoot}/var/lib/kubelet`)}
KUBEADM_TMP=${shq(`${s.hostRoot}/etc/kubernetes/tmp`)}
SAVE=${shq(kubeletSaveSuffix(previous.text))}
${manifestsDir === undefined ? "" : `MANIFESTS=${shq(manifestsDir)}\nADMIN_CONF=${shq(`${s.hostRoot}/etc/kubernetes/admin.conf`)}\nAPI_WAIT_SECONDS=300\n`}
log() { printf 'kube-upkeep: %s\\n' "$*" >&2; }
fail() { log "$*"; exit 1; }
${asRootFunction(s.sudo)}
`;
}

/** Control plane: the kubeadm manifest backup of the previous version, into $BACKUP. */
function findBackup(dir: string): string {
  return String.raw`# The static pod manifests kubeadm backed up before it rewrote them (upgrade apply / node).
BACKUP=${shq(dir)}
if [ -z "$BACKUP" ]; then
  # kubeadm-backup-manifests-<date>-<time>: the glob sorts them oldest first; the last match wins
  for d in "$KUBEADM_TMP"/kubeadm-backup-manifests-*; do
    if grep -Eq "image: .*/kube-apiserver:$PREVIOUS\$" "$d/kube-apiserver.yaml" 2>/dev/null; then
      BACKUP=$d
    fi
  done
  [ -n "$BACKUP" ] || fail "no kubeadm manifest backup of $PREVIOUS in $KUBEADM_TMP (kubeadm-backup-manifests-*/kube-apiserver.yaml with image kube-apiserver:$PREVIOUS); give manifestBackupDir"
fi
[ -f "$BACKUP/kube-apiserver.yaml" ] || fail "$BACKUP has no kube-apiserver.yaml: not a kubeadm manifest backup"
grep -Eq "image: .*/kube-apiserver:$PREVIOUS\$" "$BACKUP/kube-apiserver.yaml" ||
  fail "$BACKUP/kube-apiserver.yaml does not run kube-apiserver:$PREVIOUS: $(grep -E 'image:' "$BACKUP/kube-apiserver.yaml" | head -n 1)"
log "manifest backup: $BACKUP"
`;
}

function alreadyDone(cp: boolean, restore: boolean, dataDir: string): string {
  const conds = [
    '[ "${kubelet_version##* }" = "$PREVIOUS" ]',
    '[ "$kubeadm_version" = "$PREVIOUS" ]',
  ];
  if (cp)
    conds.push(
      'grep -Eq "image: .*/kube-apiserver:$PREVIOUS\\$" "$MANIFESTS/kube-apiserver.yaml" 2>/dev/null',
    );
  if (restore) conds.push(`grep -q -- ${shArg(`--data-dir=${dataDir}`)} "$MANIFESTS/etcd.yaml"`);
  return `# Nothing to do when a previous run finished (the kubelet is the last thing changed).
kubelet_version=$(kubelet --version 2>/dev/null || true)
kubeadm_version=$(kubeadm version -o short 2>/dev/null || true)
if ${conds.join(" &&\n  ")}; then
  log "already at $PREVIOUS: nothing to do"
  exit 0
fi
log "kubelet at \${kubelet_version##* }, kubeadm at \${kubeadm_version:-(none)}: rolling back to $PREVIOUS"
`;
}

/**
 * The package repository back at the previous minor: the files the upgrade kept as
 * `<file>.kube-upkeep-<minor>.save` are put back, then the upgrade's own switch (towards the
 * previous minor) handles whatever had no copy.
 */
function repository(s: Settings): string {
  const minor = repositoryMinor(s.target);
  const files =
    s.pm === "apt"
      ? String.raw`APT_SL=/etc/apt/sources.list
APT_SP=/etc/apt/sources.list.d/
if command -v apt-config >/dev/null 2>&1; then
  eval "$(apt-config shell APT_SL Dir::Etc::sourcelist/f APT_SP Dir::Etc::sourceparts/d)"
fi
set -- "$APT_SL" "$APT_SP"*.list`
      : `set -- ${shq(`${s.hostRoot}/etc/yum.repos.d`)}/*.repo`;
  // a URL: kube-upkeep owns kubernetes.list / kubernetes.repo, and the switch below rewrites it
  const restore =
    s.repo.kind !== "auto"
      ? "restored=0"
      : `# 1. The package repository of ${minor}: the files the upgrade replaced, as they were.
${files}
restored=0
for f in "$@"; do
  saved="$f.kube-upkeep-${minor}.save"
  [ -f "$saved" ] || continue
  if cmp -s "$saved" "$f"; then continue; fi
  as_root cp -p "$saved" "$f"
  log "package repository: $f restored from $saved"
  restored=1
done`;
  const refresh =
    s.pm === "apt"
      ? `index_updated=0
if [ "$repo_changed" = 1 ] || [ "$restored" = 1 ]; then
  as_root apt-get update
  index_updated=1
fi
${s.update ? 'if [ "$index_updated" = 0 ]; then as_root apt-get update; fi' : ""}`
      : `if [ "$repo_changed" = 1 ] || [ "$restored" = 1 ]; then as_root ${s.pm} clean expire-cache; fi`;
  return [restore, ...renderRepositorySwitch(s.repo, s.pm, s.target, s.hostRoot), refresh, ""].join(
    "\n",
  );
}

function packages(s: Settings): string {
  const pkgs = s.kubectl ? ["kubeadm", "kubelet", "kubectl"] : ["kubeadm", "kubelet"];
  const install =
    s.pm === "apt"
      ? `as_root apt-mark unhold ${pkgs.join(" ")}
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades ${pkgs.map((p) => `"${p}=$PKG_VERSION"`).join(" ")}
as_root apt-mark hold ${pkgs.join(" ")}`
      : `for p in ${pkgs.join(" ")}; do
  if [ "$(rpm -q --qf '%{VERSION}' "$p" 2>/dev/null || true)" = "\${PREVIOUS#v}" ]; then continue; fi
  as_root ${s.pm} downgrade -y "$p-$PKG_VERSION" --disableexcludes=kubernetes
done`;
  return `# 2. kubeadm, kubelet${s.kubectl ? " and kubectl" : ""} at $PREVIOUS.
${install}
kubeadm_version=$(kubeadm version -o short)
[ "$kubeadm_version" = "$PREVIOUS" ] || fail "kubeadm reports $kubeadm_version after the downgrade, expected $PREVIOUS"
`;
}

/** Control plane: each manifest of $BACKUP replaces the current one (kept for an undo). */
function restoreManifests(): string {
  return String.raw`# 3. The static pod manifests of $PREVIOUS; the current ones are kept in $undo.
undo=$(as_root mktemp -d "$KUBEADM_TMP/kube-upkeep-rollback-from.XXXXXX")
stage=$(as_root mktemp -d "$KUBEADM_TMP/kube-upkeep-rollback-stage.XXXXXX")
for m in "$BACKUP"/*.yaml; do
  b=$(basename "$m")
  if [ -f "$MANIFESTS/$b" ]; then
    cmp -s "$m" "$MANIFESTS/$b" && continue
    as_root cp -p "$MANIFESTS/$b" "$undo/$b"
  fi
  # staged outside the manifests directory: the kubelet reads every file in it
  as_root cp -p "$m" "$stage/$b"
  as_root mv -f "$stage/$b" "$MANIFESTS/$b"
  log "manifest $b restored from $BACKUP"
done
as_root rmdir "$stage"
log "the manifests replaced are kept in $undo"
`;
}

function kubeletConfig(): string {
  return String.raw`# 5. The kubelet configuration of $PREVIOUS: the copy the upgrade kept (<file>$SAVE), else the
#    newest one kubeadm backed up before it wrote the new one; then a restart.
for f in ${KUBELET_KEPT_FILES}; do
  case $f in
    config.yaml) pattern=kubeadm-kubelet-config- ;;
    *) pattern=kubeadm-kubelet-env ;;
  esac
  src=""
  if [ -f "$KUBELET_DIR/$f$SAVE" ]; then
    src="$KUBELET_DIR/$f$SAVE"
  else
    # the newest by time: kubeadm-kubelet-env<random> names do not sort (kubeadm's names, no newlines)
    # shellcheck disable=SC2012
    src=$(ls -1t "$KUBEADM_TMP/$pattern"*/"$f" 2>/dev/null | head -n 1)
  fi
  if [ -n "$src" ]; then
    as_root cp -p "$src" "$KUBELET_DIR/$f"
    log "$KUBELET_DIR/$f restored from $src"
  else
    log "no $KUBELET_DIR/$f$SAVE nor a kubeadm backup of it in $KUBEADM_TMP: $KUBELET_DIR/$f is left as it is"
  fi
done
as_root systemctl daemon-reload
as_root systemctl restart kubelet
`;
}

function etcdRestore(script: string): string {
  return `# 4. The pre-upgrade etcd snapshot (the rendered etcd restore); the kubelet restart below then
#    makes its mirror pods follow the restored data (as the etcd restore docs advise).
restore_script=$(mktemp "\${TMPDIR:-/tmp}/kube-upkeep-etcd-restore.XXXXXX")
trap 'rm -f "$restore_script"; rm -rf "\${KU_TMP:-}"' EXIT
cat >"$restore_script" <<'${DELIMITER}'
${script}
${DELIMITER}
as_root bash "$restore_script"
`;
}

/**
 * Control plane: until the API server serves and authorizes kubernetes-admin again. A restarted
 * API server answers 403 until its authorizer's caches have synced (seen after the rollback on the
 * real nodes: NodeReadyWait's first read of the node was refused).
 */
function apiServerWait(): string {
  return String.raw`# 6. The API server serving again, as kubernetes-admin (a restarted one refuses until its
#    authorizer has synced).
if command -v kubectl >/dev/null 2>&1 && [ -f "$ADMIN_CONF" ]; then
  deadline=$(($(date +%s) + API_WAIT_SECONDS))
  until [ "$(as_root kubectl --kubeconfig="$ADMIN_CONF" auth can-i get nodes 2>/dev/null)" = yes ]; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "the API server did not serve kubernetes-admin within $API_WAIT_SECONDS s after the rollback (kubectl --kubeconfig=$ADMIN_CONF auth can-i get nodes)"
    sleep 2
  done
  log "the API server serves again (kubectl auth can-i get nodes: yes)"
else
  log "no kubectl or no $ADMIN_CONF on the node: not waiting for the API server"
fi
`;
}

function check(): string {
  return `# Check.
kubelet_version=$(kubelet --version)
[ "\${kubelet_version##* }" = "$PREVIOUS" ] || fail "kubelet reports \${kubelet_version##* } after the rollback, expected $PREVIOUS"
log "node rolled back to $PREVIOUS"
`;
}
