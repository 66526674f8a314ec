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
restart_static_pods() {
  if [ -d "$stash_parent" ]; then
    for d in "$stash_parent"/kube-upkeep-manifests.*; do
      [ -d "$d" ] || continue
      log "ERROR: $d holds manifests from an interrupted run; move them back to $manifests_dir and remove $d"
      return 1
    done
  fi
  local found=0
  for f in "$manifests_dir"/*; do
    [ -f "$f" ] && found=$((found + 1))
  done
  if [ "$found" -eq 0 ]; then
    log "ERROR: no static pod manifests in $manifests_dir; is this a kubeadm control-plane node?"
    return 1
  fi
  mkdir -p "$stash_parent"
  stash=$(mktemp -d "$stash_parent/kube-upkeep-manifests.XXXXXX")
  trap restore_manifests EXIT
  trap 'restore_manifests; exit 143' TERM INT
  for f in "$manifests_dir"/*; do
    [ -f "$f" ] || continue
    mv "$f" "$stash/"
  done
  log "moved $found static pod manifests to $stash; waiting ${restart_wait}s for the kubelet to stop the pods"
  sleep "$restart_wait"
  restore_manifests
  trap - EXIT TERM INT
}
restart_static_pods
