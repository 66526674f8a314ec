#!/bin/sh
# kube-upkeep preflight of node w-1 for the upgrade to v1.35.4 (apt).
# Changes nothing on the node: everything it sets up lives in a temp dir, removed at exit.
# Rendered by kube-upkeep: every value below was validated and quoted.
set -u

NODE=w-1
TARGET=v1.35.4
PKG_VERSION=1.35.4-\*
KUBELET_CONFIG=/var/lib/kubelet/config.yaml
MIN_FREE_MIB=2048
HOST_ROOT=''
FAILED=0

log() { printf 'kube-upkeep preflight: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
ok() { printf 'kube-upkeep preflight: node %s: ok %s: %s\n' "$NODE" "$1" "$2"; }
fail() {
  FAILED=$((FAILED + 1))
  printf 'kube-upkeep preflight: node %s: FAIL %s: %s. Fix: %s\n' "$NODE" "$1" "$2" "$3" >&2
}
summary() {
  if [ "$FAILED" -gt 0 ]; then
    printf 'kube-upkeep preflight: node %s: %s check(s) failed for the upgrade to %s; nothing was changed and the node was not drained\n' "$NODE" "$FAILED" "$TARGET" >&2
    exit 1
  fi
  printf 'kube-upkeep preflight: node %s: ready for the upgrade to %s\n' "$NODE" "$TARGET"
  exit 0
}

# A node already at the target is skipped by the upgrade script: nothing to check.
kubelet_version=$(kubelet --version 2>/dev/null || true)
if [ "${kubelet_version##* }" = "$TARGET" ]; then
  ok upgrade "kubelet already at $TARGET: nothing to check (the upgrade leaves this node alone)"
  exit 0
fi
if ! as_root true >/dev/null 2>&1; then
  fail root "cannot run commands as root (sudo -n)" 'connect as root, or let the SSH user run sudo -n without a password (script.sudo)'
  summary
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/kube-upkeep-preflight.XXXXXX") || {
  fail tmp "cannot create a temp dir" "check that ${TMPDIR:-/tmp} is writable"
  summary
}
trap 'as_root rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP

# The kubelet configuration (read once; missing: the kubelet's defaults apply).
if kcfg=$(as_root cat "$KUBELET_CONFIG" 2>/dev/null); then
  kcfg_note=""
else
  kcfg=""
  kcfg_note=" (there is no $KUBELET_CONFIG: the kubelet defaults apply)"
fi
# true when the kubelet configuration sets top-level key $1 to false
kubelet_false() {
  printf '%s\n' "$kcfg" | grep -Eq "^$1:[[:space:]]*(false|False|FALSE)[[:space:]]*(#.*)?\$"
}

# packages: kubeadm, kubelet, kubectl 1.35.4-* in the repository the upgrade will use.
REPO_MINOR=v1.35
APT_SHAPE='^[[:space:]]*deb(-src)?[[:space:]].*/core:/stable:/v[0-9]+[.][0-9]+/deb/'
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
PROBE_OK=1
ku_apt_dirs
mkdir -p "$T/parts" "$T/lists/partial"
: >"$T/sources.list"
# apt's download sandbox (user _apt) reads the keyring and writes the lists
chmod 755 "$T" "$T/lists" "$T/parts"
if id _apt >/dev/null 2>&1; then as_root chown _apt "$T/lists/partial" 2>/dev/null || true; fi
PROBE_SL="$T/sources.list"
PROBE_SP="$T/parts/"
PROBE_LISTS="$T/lists"
PROBE_DESC=""
PROBE_KEY=""
for f in "$APT_SL" "$APT_SP"*.list; do
  [ -f "$f" ] || continue
  grep -Eq "$APT_SHAPE" "$f" || continue
  ku_base=$(ku_apt_base "$f")
  [ -n "$PROBE_KEY" ] || PROBE_KEY="${ku_base}$REPO_MINOR/deb/Release.key"
  grep -E "$APT_SHAPE" "$f" | ku_apt_rewrite "$T/keyring.gpg" >"$T/parts/${f##*/}"
  PROBE_DESC="${PROBE_DESC:+$PROBE_DESC, }${ku_base}$REPO_MINOR/deb/ (from $f)"
done
if [ -z "$PROBE_DESC" ]; then
  # no repository of kube-upkeep's: the node's own sources, as the upgrade will use them
  PROBE_SL="$APT_SL"
  PROBE_SP="$APT_SP"
  PROBE_DESC="the node's apt sources ($APT_SL, $APT_SP; no pkgs.k8s.io-shaped entry to move)"
elif ! ku_keyring "$PROBE_KEY" "$T/keyring.gpg"; then
  fail package-repository "cannot download the key of $REPO_MINOR from $PROBE_KEY" 'check that the node reaches it (DNS, proxy, firewall), or set script.packageRepository to a mirror'\''s URL, or to false to leave the sources alone'
  PROBE_OK=0
else
  chmod 644 "$T/keyring.gpg"
fi
# apt-get / apt-cache on the probe's sources and lists (the node's lists when PROBE_LISTS is empty)
ku_apt() {
  ku_cmd=$1
  shift
  if [ -n "$PROBE_LISTS" ]; then
    as_root "$ku_cmd" -o "Dir::Etc::SourceList=$PROBE_SL" -o "Dir::Etc::SourceParts=$PROBE_SP" \
      -o "Dir::State::Lists=$PROBE_LISTS" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
  else
    "$ku_cmd" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= "$@"
  fi
}
if [ "$PROBE_OK" = 1 ] && [ -n "$PROBE_LISTS" ]; then
  if ! ku_apt apt-get -q update >"$T/update.log" 2>&1 </dev/null; then
    fail package-index "apt-get update of $PROBE_DESC failed: $(grep -E '^(E|W|Err):' "$T/update.log" | head -n 3 | tr '\n' ' ')" 'fix the repository or the node'\''s network, or set script.packageRepository'
    PROBE_OK=0
  fi
fi
ku_versions() {
  ku_apt apt-cache madison "$1" 2>/dev/null </dev/null | awk -F'|' 'NF >= 3 { gsub(/[[:space:]]/, "", $2); print $2 }'
}
if [ "$PROBE_OK" = 1 ]; then
  for p in kubeadm kubelet kubectl; do
    ku_versions "$p" >"$T/versions-$p" 2>/dev/null || true
    found=""
    while read -r v; do
      v=${v#*:}
      # shellcheck disable=SC2254 # PKG_VERSION is a pattern (1.35.4-*)
      case "$v" in $PKG_VERSION) found=$v ;; esac
    done <"$T/versions-$p"
    if [ -n "$found" ]; then
      ok packages "$p $found in $PROBE_DESC"
    else
      have=$(head -n 5 "$T/versions-$p" | tr '\n' ' ')
      fail packages "$p $PKG_VERSION is not in $PROBE_DESC (versions there: ${have:-none})" "publish $p $PKG_VERSION there, give a script.packageVersion the repository has, or point script.packageRepository at a repository that has it"
    fi
  done
fi

# cgroup: kubelet >= 1.35 refuses to start on cgroup v1 unless failCgroupV1: false (KEP-5573).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  ok cgroup "cgroup v2"
elif kubelet_false failCgroupV1; then
  fail cgroup "cgroup v1 with failCgroupV1: false in $KUBELET_CONFIG: kubelet $TARGET starts, but kubeadm upgrade $TARGET fails its SystemVerification preflight on cgroup v1 unless told to skip it" "add --ignore-preflight-errors=SystemVerification to script.kubeadmFlags (kubeadm asks for this explicit choice), or move the node to cgroup v2"
else
  fail cgroup "the node has cgroup v1 only, and kubelet $TARGET does not start on cgroup v1 unless its configuration sets failCgroupV1: false; $KUBELET_CONFIG does not${kcfg_note}" "move the node to cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line, reboot), or set failCgroupV1: false in the cluster's KubeletConfiguration (the kubelet-config ConfigMap in kube-system, which kubeadm upgrade node writes to $KUBELET_CONFIG), or turn this check off (preflight.checks.cgroup: false)"
fi

# disk: MIN_FREE_MIB free on each filesystem the upgrade writes to (one line per filesystem).
ku_mounts=" "
# $1 path, $2 what it holds; sets ku_free (MiB) and ku_mnt, returns 1 when df cannot tell
ku_df() {
  ku_p=$1
  while [ ! -e "$ku_p" ] && [ "$ku_p" != / ] && [ -n "$ku_p" ]; do ku_p=$(dirname "$ku_p"); done
  ku_line=$(df -Pk "$ku_p" 2>/dev/null | awk 'NR == 2 { print $4, $6 }')
  [ -n "$ku_line" ] || return 1
  ku_free=$((${ku_line%% *} / 1024))
  ku_mnt=${ku_line#* }
}
ku_disk() {
  if ! ku_df "$1"; then
    fail disk "df cannot read the filesystem of $1 ($2)" "check the mount"
    return
  fi
  case $ku_mounts in *" $ku_mnt "*) return ;; esac
  ku_mounts="$ku_mounts$ku_mnt "
  if [ "$ku_free" -lt "$MIN_FREE_MIB" ]; then
    fail disk "only $ku_free MiB free on $ku_mnt ($2: $1), less than $MIN_FREE_MIB MiB" "free space there (apt-get clean / dnf clean packages, crictl rmi --prune, old logs), or lower preflight.minFreeDiskMiB"
  else
    ok disk "$ku_free MiB free on $ku_mnt ($2)"
  fi
}
ku_croot=$(awk -F'"' '/^[[:space:]]*\[/ { exit } /^[[:space:]]*root[[:space:]]*=/ { print $2; exit }' /etc/containerd/config.toml 2>/dev/null)
ku_disk /var/cache/apt/archives "package downloads"
ku_disk /usr/bin "package files"
ku_disk /var/lib/kubelet "kubelet"
ku_disk "$HOST_ROOT${ku_croot:-/var/lib/containerd}" "container images"
# kubeadm upgrade copies the local etcd data to /etc/kubernetes/tmp before it upgrades etcd
if [ -d /var/lib/etcd/member ]; then
  ku_etcd_kib=$(as_root du -sk /var/lib/etcd 2>/dev/null | awk '{ print $1 }')
  ku_etcd_mib=$((${ku_etcd_kib:-0} / 1024))
  ku_need=$((ku_etcd_mib + MIN_FREE_MIB))
  if ! ku_df /etc/kubernetes/tmp; then
    fail disk "df cannot read the filesystem of /etc/kubernetes" "check the mount"
  elif [ "$ku_free" -lt "$ku_need" ]; then
    fail disk "kubeadm upgrade copies the etcd data (/var/lib/etcd, $ku_etcd_mib MiB) to /etc/kubernetes/tmp first: $ku_free MiB free on $ku_mnt, $ku_need MiB wanted (the copy plus $MIN_FREE_MIB MiB)" "free space on $ku_mnt, e.g. remove old /etc/kubernetes/tmp/kubeadm-backup-* directories (keep the newest), or lower preflight.minFreeDiskMiB"
  else
    ok disk "$ku_free MiB free on $ku_mnt for kubeadm's copy of the etcd data ($ku_etcd_mib MiB)"
  fi
fi

# swap: the kubelet does not start with swap on unless failSwapOn: false.
ku_swaps=0
if [ -r /proc/swaps ]; then ku_swaps=$(awk 'NR > 1 && NF > 0 { n++ } END { print n + 0 }' /proc/swaps); fi
if [ "$ku_swaps" -eq 0 ]; then
  ok swap "no swap active"
elif kubelet_false failSwapOn; then
  ok swap "$ku_swaps swap area(s) active, allowed by failSwapOn: false in $KUBELET_CONFIG"
else
  fail swap "$ku_swaps swap area(s) active (/proc/swaps) and $KUBELET_CONFIG does not set failSwapOn: false${kcfg_note}: the kubelet would not start" "turn swap off (swapoff -a, and remove it from /etc/fstab), or allow it with failSwapOn: false (and memorySwap.swapBehavior) in the cluster's KubeletConfiguration, or turn this check off (preflight.checks.swap: false)"
fi

# containerRuntime: the runtime the kubelet uses answers.
ku_endpoint=$(printf '%s\n' "$kcfg" | sed -nE 's/^containerRuntimeEndpoint:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' | head -n 1)
if [ -z "$ku_endpoint" ]; then
  ku_endpoint=$(sed -nE 's/.*--container-runtime-endpoint[= ]"?([^" ]+).*/\1/p' /var/lib/kubelet/kubeadm-flags.env 2>/dev/null | head -n 1)
fi
ku_endpoint=${ku_endpoint:-unix:///var/run/containerd/containerd.sock}
ku_socket="$HOST_ROOT${ku_endpoint#unix://}"
if command -v crictl >/dev/null 2>&1; then
  if as_root crictl --runtime-endpoint "$ku_endpoint" --timeout 10s info >/dev/null 2>"$T/crictl.err" </dev/null; then
    ok containerRuntime "crictl info answers on $ku_endpoint"
  else
    fail containerRuntime "crictl info on $ku_endpoint failed: $(head -n 2 "$T/crictl.err" | tr '\n' ' ')" "start the container runtime (systemctl status containerd), or fix the kubelet's containerRuntimeEndpoint"
  fi
elif [ -S "$ku_socket" ]; then
  case $ku_socket in
    *containerd*)
      if command -v ctr >/dev/null 2>&1; then
        if as_root ctr --address "$ku_socket" version >/dev/null 2>"$T/ctr.err" </dev/null; then
          ok containerRuntime "ctr version answers on $ku_socket (no crictl)"
        else
          fail containerRuntime "ctr version on $ku_socket failed: $(head -n 2 "$T/ctr.err" | tr '\n' ' ')" "start containerd (systemctl status containerd)"
        fi
      else
        ok containerRuntime "CRI socket $ku_socket exists (neither crictl nor ctr to ask it)"
      fi
      ;;
    *) ok containerRuntime "CRI socket $ku_socket exists (no crictl to ask it)" ;;
  esac
else
  fail containerRuntime "no CRI socket at $ku_socket and no crictl to ask the runtime" "start the container runtime (systemctl start containerd), or install crictl (cri-tools)"
fi

summary
