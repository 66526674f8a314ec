#!/usr/bin/env bash
# Builds the local control plane's binaries from Go modules and caches them by version
# outside the repo: $KU_CACHE/bin/<name>-<version> (default ~/.cache/kube-upkeep/bin).
# Idempotent: a second run builds nothing. Usage: test/cluster/build.sh [component...]
# components: kubernetes etcd kwok (default), nodes (the real-node tier: test/nodes/README.md)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
. "$here/versions.env"
KU_CACHE="${KU_CACHE:-$HOME/.cache/kube-upkeep}"
BIN="$KU_CACHE/bin"
WORK="$KU_CACHE/build"
mkdir -p "$BIN" "$WORK"
BUILD_TAG=build
# shellcheck source=test/cluster/build-common.sh
. "$here/build-common.sh"
take_lock "$KU_CACHE/build.lock" 9

have() { local f; for f in "$@"; do [ -x "$BIN/$f" ] || return 1; done; }

build_kubernetes() {
  build_k8s_set "$KUBERNETES_VERSION" kube-apiserver kube-controller-manager kube-scheduler kubeadm kubectl
}

# build_k8s_set <version> <cmd...>: k8s.io/kubernetes/cmd/<cmd> at <version>, stamped.
build_k8s_set() {
  local v="$1"; shift
  local names=("$@") want=() n
  for n in "${names[@]}"; do have "$n-$v" || want+=("$n"); done
  [ ${#want[@]} -eq 0 ] && { log "kubernetes $v: cached"; return; }
  local d="$WORK/kubernetes-$v"; mkdir -p "$d"
  local minor="${v#v1.}"; minor="${minor%%.*}"
  local staging="v0.${v#v1.}"
  # Derive the staging modules from that version's own go.mod (its replace block), never guess.
  local gomod; gomod=$(cd "$d" && go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || { log "cannot download k8s.io/kubernetes@$v go.mod"; exit 1; }
  {
    echo "module kubeupkeep.local/k8sbuild"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/' "$gomod" | awk -v s="$staging" '{print "replace " $1 " => " $1 " " s}'
  } > "$d/go.mod"
  log "kubernetes $v: $(grep -c '^replace' "$d/go.mod") staging modules pinned at $staging"
  local date; date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$date -X $p.gitCommit=0000000000000000000000000000000000000000"
  done
  # One go build for the whole set: shared packages compile once and the links run in parallel.
  local out="$WORK/out-$v.$$" pkgs=()
  for n in "${want[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
  rm -rf "$out"; mkdir -p "$out"
  timed "${want[*]} $v" bash -c "cd '$d' && go build -p $PAR -trimpath -ldflags '$ld' -o '$out/' ${pkgs[*]}"
  for n in "${want[@]}"; do
    mv "$out/$n" "$BIN/$n-$v"
    verify_kubernetes "$n" "$v"
  done
  rmdir "$out"
}

# The version stamp must reach /version and `kubectl version` (kwokctl also parses --version).
verify_kubernetes() {
  local n="$1" v="$2" out
  case $n in
    kubectl) out=$("$BIN/$n-$v" version --client 2>&1 | head -1);;
    kubeadm) out=$("$BIN/$n-$v" version -o short 2>&1);;
    *) out=$("$BIN/$n-$v" --version 2>&1);;
  esac
  case "$out" in
    *"$v") log "$n reports: $out";;
    *) rm -f "$BIN/$n-$v"; log "$n-$v reports '$out', not $v: version stamping failed"; exit 1;;
  esac
}

build_etcd() {
  local v="$ETCD_VERSION"
  have "etcd-$v" "etcdctl-$v" "etcdutl-$v" && { log "etcd $v: cached"; return; }
  local d="$WORK/etcd-$v"; mkdir -p "$d"
  cat > "$d/go.mod" <<EOM
module kubeupkeep.local/etcdbuild

go 1.24

require (
	go.etcd.io/etcd/api/v3 $v
	go.etcd.io/etcd/client/pkg/v3 $v
	go.etcd.io/etcd/client/v3 $v
	go.etcd.io/etcd/pkg/v3 $v
	go.etcd.io/etcd/server/v3 $v
	go.etcd.io/etcd/etcdctl/v3 $v
	go.etcd.io/etcd/etcdutl/v3 $v
)
EOM
  local ld="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=release-$v"
  local pkg
  for n in etcd etcdctl etcdutl; do
    have "$n-$v" && continue
    case $n in etcd) pkg=go.etcd.io/etcd/server/v3;; *) pkg=go.etcd.io/etcd/$n/v3;; esac
    timed "$n $v" bash -c "cd '$d' && go build -p $PAR -trimpath -ldflags '$ld' -o '$BIN/$n-$v.tmp.$$' $pkg && mv '$BIN/$n-$v.tmp.$$' '$BIN/$n-$v'"
  done
}

build_kwok() {
  local v="$KWOK_VERSION"
  have "kwok-$v" "kwokctl-$v" && { log "kwok $v: cached"; return; }
  local d="$WORK/kwok-$v"; mkdir -p "$d/gobin"
  for n in kwok kwokctl; do
    have "$n-$v" && continue
    timed "$n $v" bash -c "cd '$d' && GOFLAGS= GOBIN='$d/gobin' go install -p $PAR -trimpath -ldflags '-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$v' sigs.k8s.io/kwok/cmd/$n@$v && mv '$d/gobin/$n' '$BIN/$n-$v'"
  done
}

# The real-node tier (test/nodes): a FROM cluster made by kubeadm at NODES_FROM_VERSION, upgraded
# to KUBERNETES_VERSION; CoreDNS at the version each kubeadm deploys; crane to write OCI image
# archives; pause from the pause.c inside the k8s.io/kubernetes module (static gcc build).
build_nodes() {
  build_k8s_set "$NODES_FROM_VERSION" kubeadm kubelet kube-apiserver kube-controller-manager kube-scheduler kube-proxy
  build_k8s_set "$KUBERNETES_VERSION" kubelet kube-proxy
  build_coredns "$NODES_FROM_COREDNS_VERSION"
  build_coredns "$NODES_TO_COREDNS_VERSION"
  build_go_tool crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
  build_pause
}

# build_go_tool <name> <version> <package>: go install <package>@<version> -> $BIN/<name>-<version>
build_go_tool() {
  local n="$1" v="$2" pkg="$3"
  have "$n-$v" && { log "$n $v: cached"; return; }
  local d="$WORK/$n-$v"; mkdir -p "$d/gobin"
  timed "$n $v" bash -c "cd '$d' && GOFLAGS= GOBIN='$d/gobin' go install -p $PAR -trimpath -ldflags '-s -w' $pkg@$v && mv '$d/gobin/${pkg##*/}' '$BIN/$n-$v'"
}

# CoreDNS with the plugins of kubeadm's Corefile (plus log and hosts), in the order of that
# version's own plugin.cfg, the way CoreDNS documents compiling a custom plugin set. The default
# set (route53, azure, clouddns, ... and their SDKs) took 22 min per version on this machine.
COREDNS_PLUGINS="reload ready health prometheus errors log loadbalance cache hosts kubernetes loop forward"
build_coredns() {
  local v="$1"
  have "coredns-$v" && { log "coredns $v: cached"; return; }
  local d="$WORK/coredns-$v"; mkdir -p "$d"
  local dir; dir=$(cd "$d" && GOFLAGS='' go mod download -json "github.com/coredns/coredns@$v" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -f "$dir/plugin.cfg" ] || { log "no plugin.cfg in github.com/coredns/coredns@$v"; exit 1; }
  local name pkg directives="" imports=""
  while IFS=: read -r name pkg; do
    case " $COREDNS_PLUGINS " in *" $name "*) ;; *) continue;; esac
    directives+="\"$name\", "
    case "$pkg" in */*) ;; *) pkg="github.com/coredns/coredns/plugin/$pkg";; esac
    imports+="_ \"$pkg\""$'\n'
  done < <(grep -E '^[a-z0-9_]+:' "$dir/plugin.cfg")
  printf 'module kubeupkeep.local/corednsbuild\n\ngo %s\n\nrequire github.com/coredns/coredns %s\n' \
    "$(sed -n 's/^go //p' "$dir/go.mod")" "$v" > "$d/go.mod"
  cat > "$d/main.go" <<GO
// Generated by test/cluster/build.sh: CoreDNS $v with the plugins of kubeadm's Corefile.
package main

import (
  "github.com/coredns/coredns/core/dnsserver"
  "github.com/coredns/coredns/coremain"
$imports)

func init() { dnsserver.Directives = []string{$directives} }

func main() { coremain.Run() }
GO
  timed "coredns $v ($COREDNS_PLUGINS)" bash -c "cd '$d' && gofmt -w main.go && go build -p $PAR -trimpath -ldflags '-s -w' -o '$BIN/coredns-$v.tmp.$$' . && mv '$BIN/coredns-$v.tmp.$$' '$BIN/coredns-$v'"
  "$BIN/coredns-$v" -plugins | grep -qw kubernetes || { rm -f "$BIN/coredns-$v"; log "coredns $v lacks the kubernetes plugin"; exit 1; }
  log "coredns reports: $("$BIN/coredns-$v" -version | head -1)"
}

build_pause() {
  local v="$NODES_PAUSE_VERSION"
  have "pause-$v" && { log "pause $v: cached"; return; }
  local src; src="$(cd "$WORK" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/build/pause/linux/pause.c"
  [ -f "$src" ] || { log "no pause.c at $src"; exit 1; }
  timed "pause $v" gcc -Os -static -Wall -Werror -DVERSION="v$v" -o "$BIN/pause-$v" "$src"
}

components=("$@"); [ ${#components[@]} -eq 0 ] && components=(etcd kwok kubernetes)
t0=$(date +%s)
for c in "${components[@]}"; do
  case "$c" in
    kubernetes|etcd|kwok|nodes) "build_$c";;
    *) echo "unknown component: $c (kubernetes, etcd, kwok, nodes)" >&2; exit 2;;
  esac
done
log "all requested components ready in $BIN ($(( $(date +%s) - t0 ))s)"
