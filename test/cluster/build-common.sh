# Sourced by build.sh and build-pulumi.sh (not run on its own): what both build scripts share.
# shellcheck shell=bash
# The caller sets BUILD_TAG (the log prefix) before sourcing.

export GOFLAGS="-mod=mod" GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0
# shellcheck disable=SC2034 # PAR is used by the sourcing script
PAR="${KU_BUILD_PARALLEL:-2}"

log() { printf '[%s %s] %s\n' "$BUILD_TAG" "$(date +%H:%M:%S)" "$*" >&2; }

# take_lock <lock file> <fd>: one build at a time per cache. A concurrent run (npm test, npm run
# demo, cluster:up, CI) waits here and then finds the binaries cached, instead of racing on the
# same output files.
take_lock() {
  eval "exec $2>\"\$1\""
  if ! flock -n "$2"; then
    log "another $BUILD_TAG holds $1; waiting for it"
    flock "$2"
  fi
}

# timed <label> <cmd...>: runs the command, logs how long it took; returns its status.
timed() {
  local label="$1"; shift; local t0; t0=$(date +%s)
  log "building $label ..."
  if "$@"; then log "built $label in $(( $(date +%s) - t0 ))s"; return 0; fi
  log "build of $label failed after $(( $(date +%s) - t0 ))s"; return 1
}
