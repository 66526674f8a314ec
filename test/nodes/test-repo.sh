#!/usr/bin/env bash
# Proves the pkgs.k8s.io-shaped repository with the real apt, isolated from the host's sources:
# the install guide's keyring + signed-by set-up, apt-get update, apt-cache madison, apt-get
# download, one repository per minor, and that a tampered InRelease / Release fails signature
# verification. Then, if the node rootfs is cached, a real `apt-get install` of FROM and an upgrade
# to TO by switching the sources entry, in a throwaway overlay of the node rootfs (chroot in a
# private mount namespace: nothing stays mounted).
#
# Usage: test/nodes/test-repo.sh   (root; builds the repository if needed; ~30 s warm)
# shellcheck disable=SC2015 # `check && ok ... || bad ...`: ok always succeeds
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_TAG=nodes-repo-test # the log prefix (build-common.sh)
export BUILD_TAG
# shellcheck source=test/nodes/common.sh
. "$here/common.sh"

FROM="$NODES_FROM_VERSION" TO="$KUBERNETES_VERSION"
FROM_M=$(minor_of "$FROM") TO_M=$(minor_of "$TO")
FROM_V="${FROM#v}-1.1" TO_V="${TO#v}-1.1"
fails=0
ok() { log "ok: $*"; }
bad() { log "FAIL: $*"; fails=$((fails + 1)); }

out=$(bash "$here/build-repo.sh")
REPO=$(sed -n 's/^repo=//p' <<<"$out")
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$port"
T=$(mktemp -d /tmp/ku-repo-test.XXXXXX)
chmod 755 "$T" # apt's downloads run as _apt
cleanup() {
  bash "$here/serve-repo.sh" stop 127.0.0.1 "$port" >/dev/null 2>&1 || true
  bash "$here/serve-repo.sh" stop 127.0.0.1 "$tport" >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
bash "$here/serve-repo.sh" start 127.0.0.1 "$port" "$REPO"

# The install guide's keyring, made the way it says (curl Release.key | gpg --dearmor).
mkdir -p "$T/keyrings" "$T/gnupg" "$T/empty"; chmod 700 "$T/gnupg"
curl -fsSL "$BASE/core:/stable:/$TO_M/deb/Release.key" | GNUPGHOME="$T/gnupg" gpg --batch --dearmor -o "$T/keyrings/kubernetes-apt-keyring.gpg"
chmod 644 "$T/keyrings/kubernetes-apt-keyring.gpg"
GNUPGHOME="$T/gnupg" gpgconf --kill gpg-agent 2>/dev/null || true
cmp -s "$T/keyrings/kubernetes-apt-keyring.gpg" "$NODES_CACHE/kubernetes-apt-keyring.gpg" \
  && ok "dearmored Release.key = build-repo.sh's keyring" || bad "dearmored Release.key differs from $NODES_CACHE/kubernetes-apt-keyring.gpg"

# apt with its own sources, lists and cache: the host's apt configuration stays out of it.
sources() { # sources <base> <minor...>
  local b="$1"; shift
  : > "$T/sources.list"
  for m in "$@"; do
    echo "deb [signed-by=$T/keyrings/kubernetes-apt-keyring.gpg] $b/core:/stable:/$m/deb/ /" >> "$T/sources.list"
  done
  rm -rf "$T/lists" "$T/cache"; mkdir -p "$T/lists/partial" "$T/cache/archives/partial"
}
APTOPTS=(-o "Dir::Etc::SourceList=$T/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o "Dir::State::Lists=$T/lists" -o "Dir::Cache=$T/cache" -o "Dir::Etc::PreferencesParts=$T/empty")
aptget() { apt-get "${APTOPTS[@]}" "$@"; }
aptcache() { apt-cache "${APTOPTS[@]}" "$@"; }
madison() { aptcache madison "$1" | awk -F' [|] ' '{ gsub(/ /, "", $2); print $2 }' | sort | tr '\n' ' ' | sed 's/ $//'; }

# 1. TO's repository: update, madison, download
sources "$BASE" "$TO_M"
t0=$(date +%s)
aptget update > "$T/update.log" 2>&1 && ok "apt-get update from $BASE/core:/stable:/$TO_M/deb/ ($(( $(date +%s) - t0 ))s)" \
  || { cat "$T/update.log" >&2; bad "apt-get update ($TO_M)"; }
grep -q "InRelease" "$T/update.log" && ok "apt fetched InRelease" || bad "apt did not fetch InRelease: $(cat "$T/update.log")"
log "apt-cache madison kubeadm:"; aptcache madison kubeadm >&2
for p in kubeadm kubelet kubectl; do
  [ "$(madison "$p")" = "$TO_V" ] && ok "madison $p = $TO_V" || bad "madison $p: '$(madison "$p")', want $TO_V"
done
grep -q "release o=obs://build.opensuse.org/isv:kubernetes:core:stable:$TO_M/deb,l=isv:kubernetes:core:stable:$TO_M" <<<"$(aptcache policy 2>&1)" \
  && ok "apt-cache policy shows pkgs.k8s.io's origin and label" || bad "apt-cache policy: $(aptcache policy)"
( cd "$T" && aptget download "kubeadm=$TO_V" > "$T/download.log" 2>&1 ) \
  && ok "apt-get download kubeadm=$TO_V" || { cat "$T/download.log" >&2; bad "apt-get download kubeadm=$TO_V"; }
deb="$T/kubeadm_${TO_V}_amd64.deb"
if [ -f "$deb" ]; then
  [ "$(dpkg-deb -f "$deb" Version)" = "$TO_V" ] && ok "downloaded deb has Version $TO_V" || bad "deb version $(dpkg-deb -f "$deb" Version)"
  grep -q './usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf$' <<<"$(dpkg-deb -c "$deb")" \
    && ok "kubeadm deb ships /usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf" || bad "no 10-kubeadm.conf in the kubeadm deb"
  dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/kubeadm > "$T/kubeadm" && chmod +x "$T/kubeadm"
  [ "$("$T/kubeadm" version -o short)" = "$TO" ] && ok "kubeadm in the deb says $TO" || bad "kubeadm version: $("$T/kubeadm" version -o short)"
else
  bad "no $deb"
fi

# 2. FROM's repository alone: only FROM's packages (a node at FROM cannot install TO before its
#    sources entry is switched: the point of issue 10, item 6)
sources "$BASE" "$FROM_M"
aptget update > "$T/update.log" 2>&1 || { cat "$T/update.log" >&2; bad "apt-get update ($FROM_M)"; }
for p in kubeadm kubelet; do
  [ "$(madison "$p")" = "$FROM_V" ] && ok "$FROM_M: madison $p = $FROM_V" || bad "$FROM_M: madison $p: '$(madison "$p")', want $FROM_V"
done
if [ -x "$BIN/kubectl-$FROM" ]; then
  [ "$(madison kubectl)" = "$FROM_V" ] && ok "$FROM_M: madison kubectl = $FROM_V" || bad "$FROM_M: madison kubectl: '$(madison kubectl)'"
else
  [ -z "$(madison kubectl)" ] && ok "$FROM_M: no kubectl (kubectl-$FROM is not built; README.md)" || bad "$FROM_M: kubectl '$(madison kubectl)'"
fi

# 3. both entries (the switch keeps the old one for rollback): both versions visible
sources "$BASE" "$FROM_M" "$TO_M"
aptget update > "$T/update.log" 2>&1 || { cat "$T/update.log" >&2; bad "apt-get update ($FROM_M + $TO_M)"; }
[ "$(madison kubeadm)" = "$FROM_V $TO_V" ] && ok "$FROM_M + $TO_M: madison kubeadm = $FROM_V $TO_V" \
  || bad "$FROM_M + $TO_M: madison kubeadm '$(madison kubeadm)'"

# 4. tampering: a copy of TO's metadata (no debs: apt-get update needs none), served elsewhere
TR="$T/tampered"
tamper_copy() {
  rm -rf "$TR"; mkdir -p "$TR/core:/stable:/$TO_M/deb"
  cp "$REPO/core:/stable:/$TO_M/deb/"{InRelease,Release,Release.gpg,Release.key,Packages,Packages.gz} "$TR/core:/stable:/$TO_M/deb/"
}
tamper_copy
bash "$here/serve-repo.sh" start 127.0.0.1 "$tport" "$TR"
TB="http://127.0.0.1:$tport"
expect_rejected() { # expect_rejected <what>
  sources "$TB" "$TO_M"
  if aptget update > "$T/update.log" 2>&1 && [ -n "$(madison kubeadm)" ]; then
    cat "$T/update.log" >&2; bad "$1: apt accepted it"
  elif grep -Eq 'BADSIG|signatures were invalid|NO_PUBKEY' "$T/update.log" && [ -z "$(madison kubeadm)" ]; then
    ok "$1: rejected ($(grep -Eo 'BADSIG [0-9A-F]+|NO_PUBKEY [0-9A-F]+' "$T/update.log" | head -1); no kubeadm known)"
  else
    cat "$T/update.log" >&2; bad "$1: failed, but not on the signature"
  fi
}
# control: the untouched copy is accepted
sources "$TB" "$TO_M"
aptget update > "$T/update.log" 2>&1 && [ "$(madison kubeadm)" = "$TO_V" ] && ok "untouched copy on :$tport accepted" \
  || { cat "$T/update.log" >&2; bad "untouched copy rejected"; }
# InRelease with one byte of a hash changed in its signed text
f="$TR/core:/stable:/$TO_M/deb/InRelease"
awk '!d && /^ [0-9a-f]+ +[0-9]+ Packages$/ { c = substr($0, 2, 1); $0 = " " (c == "0" ? "1" : "0") substr($0, 3); d = 1 } { print }' "$f" > "$f.new"
mv "$f.new" "$f"
cmp -s "$TR/core:/stable:/$TO_M/deb/InRelease" "$REPO/core:/stable:/$TO_M/deb/InRelease" && bad "InRelease was not modified"
expect_rejected "tampered InRelease"
# no InRelease, Release edited after signing (apt falls back to Release + Release.gpg)
tamper_copy
rm "$TR/core:/stable:/$TO_M/deb/InRelease"
sed -i 's/^Label: .*/Label: tampered/' "$TR/core:/stable:/$TO_M/deb/Release"
expect_rejected "tampered Release (Release.gpg)"
# a keyring without the repository's key
tamper_copy
GNUPGHOME="$T/gnupg" gpg --batch --quiet --passphrase '' --quick-generate-key "other <other@example.invalid>" rsa2048 sign never 2>/dev/null
GNUPGHOME="$T/gnupg" gpg --batch --export "other@example.invalid" > "$T/keyrings/kubernetes-apt-keyring.gpg"
GNUPGHOME="$T/gnupg" gpgconf --kill gpg-agent 2>/dev/null || true
expect_rejected "a keyring with another key"
cp "$NODES_CACHE/kubernetes-apt-keyring.gpg" "$T/keyrings/kubernetes-apt-keyring.gpg"
bash "$here/serve-repo.sh" stop 127.0.0.1 "$tport"

# 5. install FROM, then upgrade to TO by switching the sources entry, in the node rootfs
ROOTFS="${KU_NODES_ROOTFS:-}"
if [ -z "$ROOTFS" ]; then ROOTFS=$(find "$NODES_CACHE/rootfs" -mindepth 2 -maxdepth 2 -name .complete -printf '%h\n' 2>/dev/null | sed -n 1p); fi
if [ -n "$ROOTFS" ] && [ -d "$ROOTFS/usr" ]; then
  mkdir -p "$T/ov/upper" "$T/ov/work" "$T/ov/merged"
  # shellcheck disable=SC2016 # expanded by the inner bash
  unshare --mount --propagation private bash -c '
    set -e
    lower=$1 ov=$2 port=$3 keyring=$4 from_m=$5 from_v=$6 to_m=$7 to_v=$8; m=$ov/merged
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$ov/upper,workdir=$ov/work" "$m"
    mount --bind /proc "$m/proc"; mount --rbind /dev "$m/dev"
    mkdir -p "$m/etc/apt/keyrings"; cp "$keyring" "$m/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
    printf "#!/bin/sh\nexit 101\n" > "$m/usr/sbin/policy-rc.d"; chmod 755 "$m/usr/sbin/policy-rc.d"
    src() { echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] http://127.0.0.1:$port/core:/stable:/$1/deb/ /" > "$m/etc/apt/sources.list.d/kubernetes.list"; }
    in_root() { chroot "$m" env DEBIAN_FRONTEND=noninteractive "$@"; }
    src "$from_m"
    in_root apt-get update -qq
    t0=$(date +%s)
    in_root apt-get install -y -q "kubeadm=$from_v" "kubelet=$from_v" > "$ov/install.log" 2>&1 || { cat "$ov/install.log" >&2; exit 1; }
    echo "install-seconds $(( $(date +%s) - t0 ))"
    echo "installed $(in_root dpkg-query -W -f "\${Package}=\${Version} " kubeadm kubelet)"
    grep -E "^(The following NEW|  )" "$ov/install.log" | tr -s " \n" " " | sed "s/^/new-packages /"; echo
    echo "enabled $(in_root systemctl is-enabled kubelet.service 2>&1 || true)"
    echo "unit $(ls "$m/usr/lib/systemd/system/kubelet.service" "$m/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf" | wc -l)"
    echo "kubelet $(in_root kubelet --version)"
    in_root apt-mark hold kubeadm kubelet >/dev/null
    src "$to_m"
    in_root apt-get update -qq
    echo "candidate-after-switch $(in_root apt-cache policy kubeadm | sed -n "s/^ *Candidate: //p")"
    in_root apt-mark unhold kubeadm kubelet >/dev/null
    in_root apt-get install -y -q "kubeadm=$to_v" "kubelet=$to_v" > "$ov/upgrade.log" 2>&1 || { cat "$ov/upgrade.log" >&2; exit 1; }
    echo "upgraded $(in_root dpkg-query -W -f "\${Package}=\${Version} " kubeadm kubelet)"
    echo "enabled-after-upgrade $(in_root systemctl is-enabled kubelet.service 2>&1 || true)"
    echo "kubeadm-after-upgrade $(in_root kubeadm version -o short)"
    in_root apt-get remove -y -q kubelet > "$ov/remove.log" 2>&1 || { cat "$ov/remove.log" >&2; exit 1; }
    echo "after-remove $(ls "$m/etc/systemd/system/multi-user.target.wants/kubelet.service" 2>/dev/null || echo no-wants-link)"
  ' _ "$ROOTFS" "$T/ov" "$port" "$NODES_CACHE/kubernetes-apt-keyring.gpg" "$FROM_M" "$FROM_V" "$TO_M" "$TO_V" > "$T/node.out" 2> "$T/node.err" \
    || { cat "$T/node.err" >&2; bad "apt-get install / upgrade in the node rootfs"; }
  cat "$T/node.out" >&2
  chk() { grep -qx "$1" "$T/node.out" && ok "node rootfs: $1" || bad "node rootfs: want '$1'"; }
  chk "installed kubeadm=$FROM_V kubelet=$FROM_V "
  chk "new-packages The following NEW packages will be installed: kubeadm kubelet "
  chk "enabled enabled"
  chk "unit 2"
  chk "kubelet Kubernetes $FROM"
  chk "candidate-after-switch $TO_V"
  chk "upgraded kubeadm=$TO_V kubelet=$TO_V "
  chk "enabled-after-upgrade enabled"
  chk "kubeadm-after-upgrade $TO"
  chk "after-remove no-wants-link"
else
  log "skip: no cached node rootfs (test/nodes/build-rootfs.sh) for the install / upgrade check"
fi

if [ "$fails" -eq 0 ]; then log "all repository checks passed"; else log "$fails repository check(s) failed"; exit 1; fi
