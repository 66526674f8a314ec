#!/bin/sh
# kube-upkeep node rollback to v1.34.4 (worker, apt).
# Rendered by kube-upkeep: every value below was validated and quoted.
set -eu

PREVIOUS=v1.34.4
PKG_VERSION=1.34.4-\*
KUBELET_DIR=/var/lib/kubelet
KUBEADM_TMP=/etc/kubernetes/tmp
SAVE=.kube-upkeep-v1.34.4.save

log() { printf 'kube-upkeep: %s\n' "$*" >&2; }
fail() { log "$*"; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

# Nothing to do when a previous run finished (the kubelet is the last thing changed).
kubelet_version=$(kubelet --version 2>/dev/null || true)
kubeadm_version=$(kubeadm version -o short 2>/dev/null || true)
if [ "${kubelet_version##* }" = "$PREVIOUS" ] &&
  [ "$kubeadm_version" = "$PREVIOUS" ]; then
  log "already at $PREVIOUS: nothing to do"
  exit 0
fi
log "kubelet at ${kubelet_version##* }, kubeadm at ${kubeadm_version:-(none)}: rolling back to $PREVIOUS"

# 1. The package repository of v1.34: the files the upgrade replaced, as they were.
APT_SL=/etc/apt/sources.list
APT_SP=/etc/apt/sources.list.d/
if command -v apt-config >/dev/null 2>&1; then
  eval "$(apt-config shell APT_SL Dir::Etc::sourcelist/f APT_SP Dir::Etc::sourceparts/d)"
fi
set -- "$APT_SL" "$APT_SP"*.list
restored=0
for f in "$@"; do
  saved="$f.kube-upkeep-v1.34.save"
  [ -f "$saved" ] || continue
  if cmp -s "$saved" "$f"; then continue; fi
  as_root cp -p "$saved" "$f"
  log "package repository: $f restored from $saved"
  restored=1
done
# Package repository (auto: pkgs.k8s.io-shaped entries of another minor move to v1.34); the old file is kept
# as <file>.kube-upkeep-<from>.save (kubernetes.io/docs/tasks/administer-cluster/kubeadm/change-package-repository/).
REPO_MINOR=v1.34
APT_SHAPE='^[[:space:]]*deb(-src)?[[:space:]].*/core:/stable:/v[0-9]+[.][0-9]+/deb/'
APT_TARGET='/core:/stable:/v1[.]34/deb/'
# Where apt reads its sources: the node's own apt configuration (apt-config), else the defaults.
# shellcheck disable=SC2034 # not every script reads every one of them
ku_apt_dirs() {
  APT_SL=/etc/apt/sources.list
  APT_SP=/etc/apt/sources.list.d/
  APT_ETC=/etc/apt/
  if command -v apt-config >/dev/null 2>&1; then
    eval "$(apt-config shell APT_SL Dir::Etc::sourcelist/f APT_SP Dir::Etc::sourceparts/d APT_ETC Dir::Etc/d)"
  fi
}
# stdin -> stdout: pkgs.k8s.io-shaped entries moved to $REPO_MINOR, signed by keyring $1.
ku_apt_rewrite() {
  case $1 in *'#'* | *'&'* | *\\*) log "package repository: keyring path $1 cannot be written into an entry"; return 1 ;; esac
  sed -E -e "\\#$APT_SHAPE#s#/core:/stable:/v[0-9]+[.][0-9]+/deb/#/core:/stable:/$REPO_MINOR/deb/#g" \
    -e "\\#$APT_SHAPE#s#signed-by=[^] ]*#signed-by=$1#"
}
# The base URL (up to .../core:/stable:/) of the first pkgs.k8s.io-shaped entry of file $1.
ku_apt_base() {
  grep -E "$APT_SHAPE" "$1" | sed -nE 's#.*[[:space:]]([A-Za-z0-9+.-]+://[^[:space:]]*/core:/stable:/)v[0-9]+[.][0-9]+/deb/.*#\1#p' | head -n 1
}
# Downloads $1 to $2 (curl, else wget).
ku_fetch() {
  if command -v curl >/dev/null 2>&1; then
    # bounded: a host that drops the packets must not hold the roll for curl's default 5 min
    curl -fsSL --connect-timeout 20 --max-time 120 --retry 2 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 20 -t 2 -O "$2" "$1"
  else
    log "neither curl nor wget on the node: cannot download $1"
    return 1
  fi
}
# The OpenPGP key at URL $1 as a binary keyring in file $2 (gpg --dearmor, as the install guide).
ku_keyring() {
  ku_k=$(mktemp -d "${TMPDIR:-/tmp}/kube-upkeep-key.XXXXXX") || return 1
  if ! ku_fetch "$1" "$ku_k/key"; then
    rm -rf "$ku_k"
    return 1
  fi
  if grep -q 'BEGIN PGP PUBLIC KEY BLOCK' "$ku_k/key"; then
    if ! command -v gpg >/dev/null 2>&1; then
      log "gpg is missing: cannot dearmor the key from $1 (apt-get install gpg)"
      rm -rf "$ku_k"
      return 1
    fi
    if ! gpg --homedir "$ku_k" --batch --dearmor <"$ku_k/key" >"$2"; then
      rm -rf "$ku_k"
      return 1
    fi
  else
    cp "$ku_k/key" "$2"
  fi
  rm -rf "$ku_k"
  [ -s "$2" ]
}
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
ku_apt_dirs
KEYRING="${APT_ETC}keyrings/kubernetes-apt-keyring-$REPO_MINOR.gpg"
# The target's key into $KEYRING (kept when it is there: a re-run does not fetch it again).
ku_install_keyring() {
  if [ -s "$KEYRING" ]; then return 0; fi
  ku_tmp
  if ! ku_keyring "$1" "$KU_TMP/keyring.gpg"; then
    log "package repository: could not get the key of $REPO_MINOR from $1; the sources are unchanged"
    exit 1
  fi
  as_root mkdir -p -m 755 "${KEYRING%/*}"
  as_root tee "$KEYRING.kube-upkeep-new" <"$KU_TMP/keyring.gpg" >/dev/null
  as_root chmod 644 "$KEYRING.kube-upkeep-new"
  as_root mv -f "$KEYRING.kube-upkeep-new" "$KEYRING"
  log "package repository: key of $REPO_MINOR from $1 in $KEYRING"
}
repo_seen=0
for f in "$APT_SL" "$APT_SP"*.list; do
  [ -f "$f" ] || continue
  grep -Eq "$APT_SHAPE" "$f" || continue
  repo_seen=1
  grep -E "$APT_SHAPE" "$f" | grep -Evq "$APT_TARGET" || continue
  ku_from=$(ku_minor_of "$f")
  ku_install_keyring "$(ku_apt_base "$f")$REPO_MINOR/deb/Release.key"
  ku_tmp
  ku_apt_rewrite "$KEYRING" <"$f" >"$KU_TMP/new"
  ku_replace "$f" "$KU_TMP/new" "$ku_from"
  log "package repository: $f moved from $ku_from to $REPO_MINOR"
  repo_changed=1
done
if [ "$repo_seen" = 0 ]; then
  log "package repository: no pkgs.k8s.io-shaped entry (.../core:/stable:/vX.Y/deb/) in $APT_SL or $APT_SP*.list: sources left as they are"
elif [ "$repo_changed" = 0 ]; then
  log "package repository: already at $REPO_MINOR"
fi
index_updated=0
if [ "$repo_changed" = 1 ] || [ "$restored" = 1 ]; then
  as_root apt-get update
  index_updated=1
fi
if [ "$index_updated" = 0 ]; then as_root apt-get update; fi

# 2. kubeadm, kubelet and kubectl at $PREVIOUS.
as_root apt-mark unhold kubeadm kubelet kubectl
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades "kubeadm=$PKG_VERSION" "kubelet=$PKG_VERSION" "kubectl=$PKG_VERSION"
as_root apt-mark hold kubeadm kubelet kubectl
kubeadm_version=$(kubeadm version -o short)
[ "$kubeadm_version" = "$PREVIOUS" ] || fail "kubeadm reports $kubeadm_version after the downgrade, expected $PREVIOUS"

# 5. The kubelet configuration of $PREVIOUS: the copy the upgrade kept (<file>$SAVE), else the
#    newest one kubeadm backed up before it wrote the new one; then a restart.
for f in config.yaml kubeadm-flags.env; do
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

# Check.
kubelet_version=$(kubelet --version)
[ "${kubelet_version##* }" = "$PREVIOUS" ] || fail "kubelet reports ${kubelet_version##* } after the rollback, expected $PREVIOUS"
log "node rolled back to $PREVIOUS"
