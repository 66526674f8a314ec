#!/usr/bin/env bash
# Proves the image archives of build-images.sh: `crane validate --tarball` for each, then a private
# containerd (Debian's, the nodes' version; its own root, state and socket under a temp dir, CRI
# off) imports every archive with `ctr -n k8s.io images import`, checks the names kubeadm asks for,
# and runs a few: `etcd --version`, `kube-apiserver --version`, kube-proxy's iptables, CoreDNS as
# its non-root user, pause. Then stops containerd and removes everything it made.
#
# Usage: test/nodes/test-images.sh [<name>:<tag> ...]   (default: every image build-images.sh makes)
# shellcheck disable=SC2015 # `check && ok ... || bad ...`: ok always succeeds
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_TAG=nodes-images-test # the log prefix (build-common.sh)
export BUILD_TAG
# shellcheck source=test/nodes/common.sh
. "$here/common.sh"

REGISTRY=registry.kube-upkeep.local
CRANE="$BIN/crane-$CRANE_VERSION"
fails=0
ok() { log "ok: $*"; }
bad() { log "FAIL: $*"; fails=$((fails + 1)); }

mapfile -t TARS < <(bash "$here/build-images.sh" "$@" | sed -n 's/^image=//p')
[ ${#TARS[@]} -gt 0 ] || die "build-images.sh gave no images"

# 1. crane reads each archive (its docker-save manifest.json) and checks every digest
if [ -x "$CRANE" ]; then
  for t in "${TARS[@]}"; do
    "$CRANE" validate --tarball "$t" >/dev/null 2>&1 && ok "crane validate --tarball ${t##*/}" || bad "crane validate --tarball $t: $("$CRANE" validate --tarball "$t" 2>&1 | tail -2)"
  done
else
  log "skip crane validate: no $CRANE (bash test/cluster/build.sh nodes)"
fi

# 2. a private containerd
need_tool containerd containerd
need_tool runc runc
T=$(mktemp -d /tmp/ku-images-test.XXXXXX)
SOCK="$T/containerd.sock" CPID=""
ctr_() { ctr --address "$SOCK" -n k8s.io "$@" </dev/null; }
cleanup() {
  set +e # best effort: every step runs
  local c
  if [ -n "$CPID" ] && kill -0 "$CPID" 2>/dev/null; then
    for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$c" >/dev/null 2>&1 || true; ctr_ containers rm "$c" >/dev/null 2>&1 || true; done
    kill "$CPID"; for _ in $(seq 50); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$CPID" 2>/dev/null; then kill -9 "$CPID"; fi
  fi
  # containerd's snapshot mounts, if a run left one
  grep -o " $T/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$T"
  # the cgroups `ctr run --cgroup /ku-images-test/...` made (empty once the tasks are gone)
  local d
  for d in /sys/fs/cgroup/*/ku-images-test; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}
trap cleanup EXIT
cat > "$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"
EOF
t0=$(date +%s)
containerd --config "$T/config.toml" > "$T/containerd.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do ctr_ version >/dev/null 2>&1 && break; kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
ctr_ version >/dev/null 2>&1 || { cat "$T/containerd.log" >&2; die "containerd did not start"; }
ok "private containerd $(containerd --version | awk '{print $3}') up in $(( $(date +%s) - t0 ))s (root $T/root)"

# 3. import, names
for t in "${TARS[@]}"; do
  t0=$(date +%s)
  out=$(ctr_ images import "$t" 2>&1) && ok "import ${t##*/} ($(( $(date +%s) - t0 ))s): $(tr '\n' ' ' <<<"$out")" || bad "import $t: $out"
done
names=$(ctr_ images ls -q)
for t in "${TARS[@]}"; do
  f="${t##*/}"; f="${f%.tar}"; ref="$REGISTRY/${f%%_*}:${f#*_}"
  grep -qx "$ref" <<<"$names" && ok "named $ref" || bad "no image $ref after import (have: $(tr '\n' ' ' <<<"$names"))"
done

# 4. run some (ctr run needs the image unpacked: import unpacks for the default snapshotter)
run() { # run <ref> <cmd...>: stdout+stderr of the command in a container of the image
  local ref="$1"; shift
  ctr_ run --rm --cgroup "/ku-images-test/c$RANDOM" "$ref" "ku-test-$RANDOM" "$@" 2>&1 </dev/null
}
has() { grep -qx "$REGISTRY/$1" <<<"$names"; }
while read -r img; do
  img="${img#"$REGISTRY"/}"
  case "$img" in
    etcd:*) out=$(run "$REGISTRY/$img" etcd --version) && grep -q "etcd Version: ${ETCD_VERSION#v}" <<<"$out" \
      && ok "$img: etcd --version: $(head -1 <<<"$out")" || bad "$img: etcd --version: $out"
      out=$(run "$REGISTRY/$img" etcdctl version) && ok "$img: $(head -1 <<<"$out")" || bad "$img: etcdctl version: $out";;
    kube-proxy:*) v=${img#*:}
      out=$(run "$REGISTRY/$img" kube-proxy --version) && [ "$out" = "Kubernetes $v" ] && ok "$img: kube-proxy --version = $out" || bad "$img: $out"
      out=$(run "$REGISTRY/$img" iptables --version) && grep -q 'nf_tables' <<<"$out" && ok "$img: $out" || bad "$img: iptables --version: $out"
      out=$(run "$REGISTRY/$img" iptables-legacy-save --version) && ok "$img: $out" || bad "$img: iptables-legacy-save: $out";;
    kube-*) n=${img%%:*} v=${img#*:}
      out=$(run "$REGISTRY/$img" "$n" --version) && [ "$out" = "Kubernetes $v" ] && ok "$img: $n --version = $out" || bad "$img: $out";;
    coredns:*) v=${img#*:}
      out=$(run "$REGISTRY/$img" /coredns -version) && grep -q "CoreDNS-${v#v}" <<<"$out" && ok "$img: $(head -1 <<<"$out")" || bad "$img: $out"
      # detached, as the image's user (65532): binds :53 through the file capability, keeps running
      c="ku-test-dns$RANDOM"
      printf '.:53 {\n  errors\n  hosts {\n    10.0.0.1 ku-test.local\n  }\n}\n' > "$T/Corefile"
      ctr_ run -d --cgroup "/ku-images-test/$c" --log-uri "file://$T/$c.log" \
        --mount "type=bind,src=$T/Corefile,dst=/etc/coredns/Corefile,options=rbind:ro" "$REGISTRY/$img" "$c" \
        /coredns -conf /etc/coredns/Corefile >/dev/null 2>&1 || true
      sleep 2
      st=$(ctr_ tasks ls | awk -v c="$c" '$1 == c { print $3 }')
      pid=$(ctr_ tasks ls | awk -v c="$c" '$1 == c { print $2 }')
      uid=$(awk '/^Uid:/ { print $2 }' "/proc/${pid:-0}/status" 2>/dev/null || true)
      [ "$st" = RUNNING ] && [ "$uid" = 65532 ] && ok "$img: runs as uid $uid and serves :53 ($(head -c 200 "$T/$c.log" 2>/dev/null | tr '\n' ' '))" \
        || bad "$img: status '$st' uid '$uid': $(cat "$T/$c.log" 2>/dev/null)"
      ctr_ tasks kill -s KILL "$c" >/dev/null 2>&1 || true
      for _ in $(seq 20); do grep -q "^$c " <<<"$(ctr_ tasks ls)" || break; ctr_ tasks rm "$c" >/dev/null 2>&1 || sleep 0.1; done
      ctr_ containers rm "$c" >/dev/null 2>&1 || true;;
    pause:*) out=$(run "$REGISTRY/$img" /pause -v) && grep -q "${NODES_PAUSE_VERSION}" <<<"$out" && ok "$img: /pause -v: $out" || bad "$img: /pause -v: $out";;
  esac
done <<<"$names"
has "kube-proxy:$KUBERNETES_VERSION" || log "note: kube-proxy:$KUBERNETES_VERSION was not in this run"

if [ "$fails" -eq 0 ]; then log "all image checks passed (${#TARS[@]} images)"; else log "$fails image check(s) failed"; exit 1; fi
