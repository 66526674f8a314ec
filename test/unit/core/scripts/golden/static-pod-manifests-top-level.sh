#!/usr/bin/env bash
# golden-file frame: the definitions the rendered lines expect
set -euo pipefail
manifests_dir=/etc/kubernetes/manifests
stash_parent=/etc/kubernetes/tmp
restart_wait=25
stash=""
log() { printf '%s\n' "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }
restore_manifests() {
  if [ -n "$stash" ] && [ -d "$stash" ]; then
    for f in "$stash"/*; do
      [ -e "$f" ] || continue
      mv "$f" "$manifests_dir/"
    done
    rmdir "$stash"
    log "moved the static pod manifests back to $manifests_dir"
  fi
  stash=""
}
on_exit() {
  status=$?
  restore_manifests
  exit "$status"
}
if [ -d "$stash_parent" ]; then
  for d in "$stash_parent"/kube-upkeep-restore.* "$stash_parent"/kube-upkeep-manifests.*; do
    [ -d "$d" ] || continue
    fail "$d holds manifests from an interrupted run; move them back to $manifests_dir and remove $d"
  done
fi
mkdir -p "$stash_parent"
stash=$(mktemp -d "$stash_parent/kube-upkeep-restore.XXXXXX")
trap on_exit EXIT
trap 'exit 143' TERM INT
for f in "$manifests_dir"/*; do
  [ -f "$f" ] || continue
  mv "$f" "$stash/"
done
log "moved the static pod manifests to $stash; waiting ${restart_wait}s for the kubelet to stop the pods"
sleep "$restart_wait"
restore_manifests
trap - EXIT TERM INT
