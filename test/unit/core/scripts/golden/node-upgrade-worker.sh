#!/bin/sh
# kube-upkeep node upgrade to v1.35.4 (kubeadm upgrade node, dnf).
# Rendered by kube-upkeep: every value below was validated and quoted.
set -eu

TARGET=v1.35.4
PKG_VERSION=1.35.4-150500.1.1

log() { printf 'kube-upkeep: %s\n' "$*" >&2; }
as_root() { "$@"; }

# Skip everything when a previous run finished: the kubelet is the last thing upgraded.
kubelet_version=$(kubelet --version 2>/dev/null || true)
if [ "${kubelet_version##* }" = "$TARGET" ]; then
  log "kubelet already at $TARGET: nothing to do"
  exit 0
fi
log "kubelet at ${kubelet_version##* }, upgrading to $TARGET"

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
if [ "$repo_changed" = 1 ]; then
  log "package repository changed: expiring the dnf metadata cache"
  as_root dnf clean expire-cache
fi

# 1. kubeadm package (skipped when kubeadm is already at the target).
kubeadm_version=$(kubeadm version -o short 2>/dev/null || true)
if [ "$kubeadm_version" = "$TARGET" ]; then
  log "kubeadm already at $TARGET"
else
  as_root dnf install -y "kubeadm-$PKG_VERSION" --disableexcludes=kubernetes
  kubeadm_version=$(kubeadm version -o short)
  if [ "$kubeadm_version" != "$TARGET" ]; then
    log "kubeadm reports $kubeadm_version after the package upgrade, expected $TARGET"
    exit 1
  fi
fi

# Keep the kubelet's configuration of this version for a rollback (once; node-rollback.ts).
KUBELET_DIR=/var/lib/kubelet
from_version="${kubelet_version##* }"
case $from_version in
  v[0-9]*)
    for f in config.yaml kubeadm-flags.env; do
      if [ -f "$KUBELET_DIR/$f" ] && [ ! -e "$KUBELET_DIR/$f.kube-upkeep-$from_version.save" ]; then
        as_root cp -p "$KUBELET_DIR/$f" "$KUBELET_DIR/$f.kube-upkeep-$from_version.save"
      fi
    done
    ;;
esac

# 2. Other nodes: upgrade the local control-plane components / kubelet configuration.
log "kubeadm upgrade node"
as_root kubeadm upgrade node

# 3. kubelet, pinned to the same version.
as_root dnf install -y "kubelet-$PKG_VERSION" --disableexcludes=kubernetes

# 4. Restart the kubelet on the new binary.
as_root systemctl daemon-reload
as_root systemctl restart kubelet

# 5. Check.
kubelet_version=$(kubelet --version)
if [ "${kubelet_version##* }" != "$TARGET" ]; then
  log "kubelet reports ${kubelet_version##* } after the upgrade, expected $TARGET"
  exit 1
fi
log "node upgraded to $TARGET"
