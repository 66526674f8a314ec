# Sourced by build-repo.sh, build-images.sh, serve-repo.sh and their tests (not run on its own).
# shellcheck shell=bash
# The caller sets BUILD_TAG (the log prefix) and `here` (this directory) before sourcing.
# shellcheck disable=SC2154 # here: set by the caller

# shellcheck source=test/cluster/versions.env
. "$here/../cluster/versions.env"
# shellcheck source=test/cluster/build-common.sh
. "$here/../cluster/build-common.sh"

KU_CACHE="${KU_CACHE:-$HOME/.cache/kube-upkeep}"
BIN="$KU_CACHE/bin"
NODES_CACHE="$KU_CACHE/nodes"
# build stamps (input keys) live here, outside the trees that are served or copied into nodes
# shellcheck disable=SC2034 # used by the sourcing scripts
STATE="$NODES_CACHE/state"

die() { log "error: $*"; exit 1; }

# need_bins <name-version...>: every binary exists in $BIN, or one message naming all that are
# missing and the command that builds them.
need_bins() {
  local b missing=()
  for b in "$@"; do [ -x "$BIN/$b" ] || missing+=("$BIN/$b"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "error: missing binaries (still building, or never built):"
  for b in "${missing[@]}"; do log "  $b"; done
  log "build them with: bash test/cluster/build.sh nodes   (kubectl-$KUBERNETES_VERSION: bash test/cluster/build.sh kubernetes)"
  exit 1
}

# need_tool <command> <debian package>: installs the package on the host if the command is missing.
need_tool() {
  command -v "$1" >/dev/null && return 0
  log "installing $2 on the host (for $1)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; } \
    || die "could not install $2: apt-get install -y $2"
}

# file_ids <path...>: one line per file (path, size, mtime): what a cache key needs to notice a
# rebuilt binary without hashing hundreds of MB each run.
file_ids() { stat -L -c '%n %s %Y' "$@"; }

# input_key <word...>: a short hash of the words and of the calling script's and this file's
# contents (not their paths: `bash test/nodes/x.sh` and `bash /abs/test/nodes/x.sh` share a cache).
# Versions enter through the words (image refs, binary names), not through versions.env as a whole.
input_key() {
  { printf '%s\n' "$@"; cat "$here/common.sh" "${BASH_SOURCE[1]}"; } | sha256sum | cut -c1-16
}

minor_of() { local v="${1#v}"; echo "v${v%.*}"; }
