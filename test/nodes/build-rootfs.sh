#!/usr/bin/env bash
# Builds the real nodes' base root filesystem once and caches it, keyed by its package list:
# $KU_CACHE/nodes/rootfs/<key>/ (Debian bookworm by debootstrap, then containerd, runc, the CNI
# plugins and kubeadm's preflight tools by apt in a chroot). Nodes boot it read-only as the lower
# layer of an overlay; kubeadm / kubelet / kubectl never live here, they come from the harness's
# package repository. Prints the rootfs path on stdout.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KU_CACHE="${KU_CACHE:-$HOME/.cache/kube-upkeep}"
BUILD_TAG=rootfs # used by build-common.sh's log
export BUILD_TAG
# shellcheck source=test/cluster/build-common.sh
. "$here/../cluster/build-common.sh"

SUITE=bookworm
MIRROR="${KU_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# debootstrap: what a minimal machine with systemd, sshd and the official install guide's tools has
BASE=systemd,systemd-sysv,dbus,openssh-server,iproute2,ca-certificates,gnupg,curl,procps
# then: the container runtime and what kubeadm's preflight and kube-proxy want on a node
RUNTIME="containerd runc containernetworking-plugins iptables conntrack socat ethtool ebtables kmod"
key=$(printf '%s\n' "$SUITE" "$BASE" "$RUNTIME" "$(sha256sum < "${BASH_SOURCE[0]}")" | sha256sum | cut -c1-12)
ROOT="$KU_CACHE/nodes/rootfs/$SUITE-$key"
if [ -f "$ROOT/.complete" ]; then log "rootfs $SUITE-$key: cached"; echo "$ROOT"; exit 0; fi

mkdir -p "$KU_CACHE/nodes/rootfs"
take_lock "$KU_CACHE/nodes/rootfs/.lock" 8
[ -f "$ROOT/.complete" ] && { echo "$ROOT"; exit 0; }
need() { command -v "$1" >/dev/null || { log "installing $2 on the host"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need debootstrap debootstrap
rm -rf "$ROOT.tmp"
timed "debootstrap $SUITE (minbase + $BASE)" \
  debootstrap --variant=minbase --include="$BASE" "$SUITE" "$ROOT.tmp" "$MIRROR" >"$KU_CACHE/nodes/rootfs/debootstrap.log" 2>&1 \
  || { tail -20 "$KU_CACHE/nodes/rootfs/debootstrap.log" >&2; exit 1; }

# apt in a chroot, in a private mount namespace (nothing stays mounted on the host), with a
# policy-rc.d that keeps packages from starting their services here.
in_root() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  unshare --mount --propagation private bash -c '
    set -e; r=$1; shift
    mount --bind /proc "$r/proc"; mount --rbind /dev "$r/dev"; mount --bind /sys "$r/sys"
    exec chroot "$r" "$@"' _ "$ROOT.tmp" "$@"
}
printf '#!/bin/sh\nexit 101\n' > "$ROOT.tmp/usr/sbin/policy-rc.d"; chmod 755 "$ROOT.tmp/usr/sbin/policy-rc.d"
# shellcheck disable=SC2086 # RUNTIME is a word list
timed "apt-get install $RUNTIME" in_root env DEBIAN_FRONTEND=noninteractive sh -c \
  "apt-get update -qq && apt-get install -y -qq --no-install-recommends $RUNTIME >/dev/null && apt-get clean"
rm -f "$ROOT.tmp/usr/sbin/policy-rc.d" "$ROOT.tmp"/etc/ssh/ssh_host_*
# Nodes reach only the harness's package repository: no Debian sources (each node's apt would
# otherwise wait on a mirror it cannot reach).
rm -f "$ROOT.tmp/etc/apt/sources.list" "$ROOT.tmp"/etc/apt/sources.list.d/*
echo "$SUITE $BASE $RUNTIME" > "$ROOT.tmp/.complete"
mv "$ROOT.tmp" "$ROOT"
log "rootfs ready: $ROOT ($(du -sh "$ROOT" | cut -f1))"
echo "$ROOT"
