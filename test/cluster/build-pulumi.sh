#!/usr/bin/env bash
# Builds the Pulumi engine from Go modules and caches it by version outside the repo:
#   $KU_CACHE/pulumi/store/<name>-<version>   one file per built binary and version
#   $KU_CACHE/pulumi/bin/<name>                the set selected by versions.env (hard links)
# (KU_CACHE defaults to ~/.cache/kube-upkeep). Idempotent: a second run builds nothing.
# Usage: test/cluster/build-pulumi.sh [component...]
# components: cli langhost shim command kubernetes (default: cli langhost shim command kubernetes)
# Then `source scripts/pulumi-env.sh` puts $KU_CACHE/pulumi/bin first on PATH.
# Each component is reported with the time it took; one that cannot be built from the Go
# module proxy is reported as FAILED with the reason, and the script exits non-zero at the end.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"
KU_CACHE="${KU_CACHE:-$HOME/.cache/kube-upkeep}"
ROOT="$KU_CACHE/pulumi"
STORE="$ROOT/store"
BIN="$ROOT/bin"
WORK="$ROOT/build"
mkdir -p "$STORE" "$BIN" "$WORK"
BUILD_TAG=build-pulumi
# shellcheck source=test/cluster/build-common.sh
. "$here/build-common.sh"
take_lock "$ROOT/build.lock" 8

failed=()
fail() { log "FAILED $1: $2"; failed+=("$1"); }
# install <store-name> <bin-name>: select a stored binary into bin/ (hard link, else copy)
install_bin() {
  rm -f "$BIN/$2"
  ln "$STORE/$1" "$BIN/$2" 2>/dev/null || cp -p "$STORE/$1" "$BIN/$2"
}
# moddir <module@version>: download a module, print its directory in the module cache
moddir() { (cd "$WORK" && go mod download -json "$1" 2>/dev/null) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'; }
# gomod <module@version>: print the path of a module's go.mod in the module cache
gomodfile() { (cd "$WORK" && go mod download -json "$1" 2>/dev/null) | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p'; }
# cached <store-name> <bin-name> <label>: when the store has the binary, select it and succeed
cached() { [ -x "$STORE/$1" ] || return 1; log "$3: cached"; install_bin "$1" "$2"; }
# wrapper_module <dir> <module> <go.mod> <requirement...>: write <dir>/go.mod, a module that
# requires the given "path version" pairs, with the go version and the module (not local-path)
# replaces of the wrapped module's <go.mod>
wrapper_module() {
  local d="$1" name="$2" gomod="$3"; shift 3
  {
    echo "module $name"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    if [ $# -eq 1 ]; then echo "require $1"; else echo "require ("; printf '\t%s\n' "$@"; echo ")"; fi
    echo
    replaces "$gomod"
  } > "$d/go.mod"
}
# build_stored <component> <label> <dir> <ldflags> <package> <store-name> <bin-name> <what failed>:
# go build <package> in <dir> into the store (atomically), then select it into bin/
build_stored() {
  if timed "$2" bash -c "cd '$3' && go build -p $PAR -trimpath -ldflags '$4' -o '$STORE/$6.tmp' $5 && mv '$STORE/$6.tmp' '$STORE/$6'"; then
    install_bin "$6" "$7"
  else fail "$1" "$8"; fi
}
# replaces <go.mod>: the replace directives that point at other modules (not local paths)
replaces() {
  awk '
    /^replace[ \t]*\(/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    inblock { line = $0 } !inblock && /^replace / { line = substr($0, 9) }
    (inblock || /^replace /) && line != "" {
      split(line, parts, "=>"); target = parts[2]; gsub(/^[ \t]+/, "", target)
      if (target !~ /^\.\.?\//) print "replace " line
      line = ""
    }' "$1"
}

# ---- Pulumi CLI: github.com/pulumi/pulumi/pkg/v3/cmd/pulumi through a wrapper module -------
# pkg/v3 replaces sdk/v3 with ../sdk, so the wrapper requires sdk/v3 at the same version and
# carries over pkg's other (module) replaces.
build_cli() {
  local v="$PULUMI_VERSION" out="pulumi-$PULUMI_VERSION"
  cached "$out" pulumi "pulumi $v" && return
  local d="$WORK/cli-$v"; mkdir -p "$d"
  local gomod; gomod=$(gomodfile "github.com/pulumi/pulumi/pkg/v3@$v")
  [ -f "$gomod" ] || { fail cli "cannot download github.com/pulumi/pulumi/pkg/v3@$v"; return; }
  wrapper_module "$d" kubeupkeep.local/pulumibuild "$gomod" \
    "github.com/pulumi/pulumi/pkg/v3 $v" "github.com/pulumi/pulumi/sdk/v3 $v"
  build_stored cli "pulumi $v" "$d" "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$out" pulumi "go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$v"
}

# ---- Node.js language host -------------------------------------------------------------------
# In current releases the language host is its own module (github.com/pulumi/pulumi/sdk/nodejs/
# cmd/pulumi-language-nodejs/v3), untagged, and the Go module proxy answers 403 for it (version
# list, @latest, any version). Older releases had it as a package of sdk/v3 (v3.68.0 does, the
# next served one, v3.90.0, does not), so it is built from PULUMI_LANGHOST_SDK_VERSION.
# The engine talks to older language hosts (GetRequiredPackages falls back to GetRequiredPlugins)
# and the host runs the program through the project's own @pulumi/pulumi (cmd/run).
build_langhost() {
  local v="$PULUMI_LANGHOST_SDK_VERSION" out="pulumi-language-nodejs-$PULUMI_LANGHOST_SDK_VERSION"
  cached "$out" pulumi-language-nodejs "pulumi-language-nodejs $v" && return
  local d="$WORK/langhost-$v"; mkdir -p "$d"
  local gomod; gomod=$(gomodfile "github.com/pulumi/pulumi/sdk/v3@$v")
  [ -f "$gomod" ] || { fail langhost "cannot download github.com/pulumi/pulumi/sdk/v3@$v"; return; }
  wrapper_module "$d" kubeupkeep.local/pulumilanghostbuild "$gomod" "github.com/pulumi/pulumi/sdk/v3 $v"
  build_stored langhost "pulumi-language-nodejs $v" "$d" "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
    github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs "$out" pulumi-language-nodejs \
    "go build github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs@$v"
}

# ---- dynamic-provider shim: the shell script the Pulumi distribution ships ------------------
build_shim() {
  local v="$PULUMI_VERSION" out="pulumi-resource-pulumi-nodejs-$PULUMI_VERSION"
  cached "$out" pulumi-resource-pulumi-nodejs "pulumi-resource-pulumi-nodejs $v" && return
  local t0; t0=$(date +%s)
  local dir; dir=$(moddir "github.com/pulumi/pulumi/sdk/v3@$v")
  local src="$dir/nodejs/dist/pulumi-resource-pulumi-nodejs"
  [ -f "$src" ] || { fail shim "no nodejs/dist/pulumi-resource-pulumi-nodejs in github.com/pulumi/pulumi/sdk/v3@$v"; return; }
  cp "$src" "$STORE/$out.tmp" && chmod 0755 "$STORE/$out.tmp" && mv "$STORE/$out.tmp" "$STORE/$out"
  install_bin "$out" pulumi-resource-pulumi-nodejs
  log "copied pulumi-resource-pulumi-nodejs $v from sdk/v3@$v in $(( $(date +%s) - t0 ))s"
}

# ---- pulumi-resource-command ------------------------------------------------------------------
# The provider is the module github.com/pulumi/pulumi-command/provider (its own go.mod in the
# pulumi-command repository). The proxy serves the repository's root module at the release tag
# (github.com/pulumi/pulumi-command@vX, which excludes provider/), so the commit is known, but it
# answers 403 for the provider module at every version tried (list, @latest, the pseudo-version
# of the release commit) and 404 for vX itself (there is no provider/vX tag).
build_command() {
  local v="$PULUMI_COMMAND_VERSION" out="pulumi-resource-command-$PULUMI_COMMAND_VERSION"
  cached "$out" pulumi-resource-command "pulumi-resource-command $v" && return
  local info commit ts pseudo
  info=$(cd "$WORK" && go list -m -json "github.com/pulumi/pulumi-command@$v" 2>/dev/null)
  commit=$(sed -n 's/.*"Hash": "\([0-9a-f]*\)".*/\1/p' <<<"$info")
  ts=$(sed -n 's/.*"Time": "\([^"]*\)".*/\1/p' <<<"$info" | head -1)
  [ -n "$commit" ] || { fail command "cannot resolve github.com/pulumi/pulumi-command@$v (release commit)"; return; }
  pseudo="v0.0.0-$(date -u -d "$ts" +%Y%m%d%H%M%S)-${commit:0:12}"
  local mod="" cand
  for cand in "$v" "$pseudo"; do
    if (cd "$WORK" && go mod download "github.com/pulumi/pulumi-command/provider@$cand" >/dev/null 2>&1); then mod="$cand"; break; fi
  done
  if [ -z "$mod" ]; then
    fail command "the Go module proxy does not serve github.com/pulumi/pulumi-command/provider (release $v = commit $commit; tried @$v and @$pseudo)"
    return
  fi
  local d="$WORK/command-$v"; mkdir -p "$d"
  local gomod; gomod=$(gomodfile "github.com/pulumi/pulumi-command/provider@$mod")
  wrapper_module "$d" kubeupkeep.local/pulumicommandbuild "$gomod" "github.com/pulumi/pulumi-command/provider $mod"
  build_stored command "pulumi-resource-command $v" "$d" "-s -w -X github.com/pulumi/pulumi-command/provider/pkg/version.Version=$v" \
    github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command "$out" pulumi-resource-command \
    "go build github.com/pulumi/pulumi-command/provider@$mod"
}

# ---- pulumi-resource-kubernetes ---------------------------------------------------------------
# The provider module replaces its sdk module with ../sdk and its main package embeds
# schema-embed.json / terraform-mapping-embed.json that its generate.go writes (VERSION set).
# So: copy the module out of the module cache, generate, drop the replace in favour of a served
# sdk/v4 version, build with the version stamped. The proxy serves the provider module only at
# PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION (a pseudo-version; no v4.x tag of provider/), so that
# is what gets built and stamped (its semver without the "v"); the engine uses it as the ambient
# kubernetes plugin for the @pulumi/kubernetes SDK (PULUMI_KUBERNETES_VERSION).
build_kubernetes() {
  local mod="$PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION" v="${PULUMI_KUBERNETES_PROVIDER_MODULE_VERSION#v}"
  local out="pulumi-resource-kubernetes-$mod"
  cached "$out" pulumi-resource-kubernetes "pulumi-resource-kubernetes $mod" && return
  local src; src=$(moddir "github.com/pulumi/pulumi-kubernetes/provider/v4@$mod")
  [ -d "$src" ] || { fail kubernetes "the Go module proxy does not serve github.com/pulumi/pulumi-kubernetes/provider/v4@$mod"; return; }
  local d="$WORK/kubernetes-$mod"
  rm -rf "$d" && mkdir -p "$d" && cp -r "$src/." "$d/" && chmod -R u+w "$d"
  # drop the local replace of the sdk module; require a served sdk/v4 instead
  sed -i -E '/^replace github.com\/pulumi\/pulumi-kubernetes\/sdk\/v4 => /d' "$d/go.mod"
  sed -i -E "s#^(\s*github.com/pulumi/pulumi-kubernetes/sdk/v4) v[^ ]+#\1 $PULUMI_KUBERNETES_SDK_MODULE_VERSION#" "$d/go.mod"
  local ld="-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$v"
  if timed "pulumi-resource-kubernetes $mod" bash -c "cd '$d/cmd/pulumi-resource-kubernetes' && VERSION='$v' go run generate.go && cd '$d' && go build -p $PAR -trimpath -ldflags '$ld' -o '$STORE/$out.tmp' ./cmd/pulumi-resource-kubernetes && mv '$STORE/$out.tmp' '$STORE/$out'"; then
    install_bin "$out" pulumi-resource-kubernetes
  else fail kubernetes "generate + go build of github.com/pulumi/pulumi-kubernetes/provider/v4@$mod"; fi
}

components=("$@"); [ ${#components[@]} -eq 0 ] && components=(shim langhost cli command kubernetes)
t0=$(date +%s)
for c in "${components[@]}"; do
  case "$c" in
    cli|langhost|shim|command|kubernetes) "build_$c";;
    *) echo "unknown component: $c (cli, langhost, shim, command, kubernetes)" >&2; exit 2;;
  esac
done
log "bin: $BIN: $(find "$BIN" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')($(( $(date +%s) - t0 ))s)"
if [ ${#failed[@]} -gt 0 ]; then log "not built: ${failed[*]}"; exit 1; fi
