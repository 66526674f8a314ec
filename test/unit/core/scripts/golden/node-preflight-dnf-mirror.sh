#!/bin/sh
# kube-upkeep preflight of node w-2 for the upgrade to v1.35.4 (dnf).
# Changes nothing on the node: everything it sets up lives in a temp dir, removed at exit.
# Rendered by kube-upkeep: every value below was validated and quoted.
set -u

NODE=w-2
TARGET=v1.35.4
PKG_VERSION=1.35.4-\*
PM=dnf
KUBELET_CONFIG=/var/lib/kubelet/config.yaml
MIN_FREE_MIB=4096
HOST_ROOT=''
FAILED=0

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
YUM_REPOS=/etc/yum.repos.d
REPO_URL=http://10.0.0.1:8080/core:/stable:/v1.35/rpm/
PROBE_OK=1
mkdir -p "$T/repos" "$T/cache"
PROBE_REPOS="$T/repos"
PROBE_DESC=""
printf '%s\n' '[kubernetes]' 'name=Kubernetes' "baseurl=${REPO_URL}" 'enabled=1' 'gpgcheck=1' "gpgkey=${REPO_URL}repodata/repomd.xml.key" 'exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni' >"$T/repos/kubernetes.repo"
PROBE_DESC="$REPO_URL"
if [ -z "$PROBE_DESC" ]; then
  PROBE_REPOS="$YUM_REPOS"
  PROBE_DESC="the node's repositories ($YUM_REPOS)"
fi
ku_versions() {
  as_root "$PM" -q --setopt=reposdir="$PROBE_REPOS" --setopt=cachedir="$T/cache" --disableexcludes=all \
    list --showduplicates "$1" 2>>"$T/rpm.log" </dev/null | awk -v p="$1" 'index($1, p ".") == 1 { print $2 }'
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
ku_disk /var/cache/dnf "package downloads"
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
