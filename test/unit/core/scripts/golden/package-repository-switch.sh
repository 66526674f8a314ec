#!/usr/bin/env bash
# golden-file frame: the definitions the rendered lines expect
set -euo pipefail
as_root() { "$@"; }
KU_TMP=$(mktemp -d)
log() { printf '%s\n' "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }
# Package repository (kube-upkeep's entry to v1.35); the old file is kept
# as <file>.kube-upkeep-<from>.save (kubernetes.io/docs/tasks/administer-cluster/kubeadm/change-package-repository/).
REPO_MINOR=v1.35
YUM_REPOS=/etc/yum.repos.d
REPO_URL=http://10.0.0.1:8080/core:/stable:/v1.35/rpm/
# The minor (vX.Y) of the first entry of file $1 that names one, else before-$REPO_MINOR.
ku_minor_of() {
  ku_m=$(sed -nE 's|^[^#]*/(v[0-9]+[.][0-9]+)/.*|\1|p' "$1" 2>/dev/null | head -n 1)
  printf '%s\n' "${ku_m:-before-$REPO_MINOR}"
}
# Replaces file $1 by file $2 (atomically, mode 644), after keeping a copy of it as $1.kube-upkeep-$3.save once.
ku_replace() {
  if [ -f "$1" ] && [ ! -e "$1.kube-upkeep-$3.save" ]; then
    as_root cp -p "$1" "$1.kube-upkeep-$3.save"
    log "package repository: the previous $1 is kept as $1.kube-upkeep-$3.save"
  fi
  as_root tee "$1.kube-upkeep-new.save" <"$2" >/dev/null
  as_root chmod 644 "$1.kube-upkeep-new.save"
  as_root mv -f "$1.kube-upkeep-new.save" "$1"
}
# A private temp dir in $KU_TMP, made when first needed (removed at exit).
ku_tmp() {
  if [ -z "${KU_TMP:-}" ]; then
    KU_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kube-upkeep-upgrade.XXXXXX")
    trap 'rm -rf "$KU_TMP"' EXIT
  fi
}
repo_changed=0
ku_repo="$YUM_REPOS/kubernetes.repo"
ku_tmp
printf '%s\n' '[kubernetes]' 'name=Kubernetes' "baseurl=${REPO_URL}" 'enabled=1' 'gpgcheck=1' "gpgkey=${REPO_URL}repodata/repomd.xml.key" 'exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni' >"$KU_TMP/new"
if [ -f "$ku_repo" ] && cmp -s "$ku_repo" "$KU_TMP/new"; then
  log "package repository: $ku_repo already points at $REPO_URL"
else
  ku_replace "$ku_repo" "$KU_TMP/new" "$(ku_minor_of "$ku_repo")"
  log "package repository: $ku_repo points at $REPO_URL"
  repo_changed=1
fi
echo "$repo_changed"
