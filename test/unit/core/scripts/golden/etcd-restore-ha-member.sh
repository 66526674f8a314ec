#!/usr/bin/env bash
# kube-upkeep etcd restore of member cp-2: stop static pods, restore, switch data dir, start, wait for health
set -euo pipefail
umask 077
snapshot=/var/lib/etcd-backup/etcd-snapshot.db
data_dir=/var/lib/etcd-restore
old_dir=/var/lib/etcd
new_dir=/var/lib/etcd-restore
manifests_dir=/etc/kubernetes/manifests
etcd_manifest=etcd.yaml
stash_parent=/etc/kubernetes/tmp
restart_wait=30
health_timeout=300
stash=""
created_data_dir=0
log() { printf '%s etcd-restore: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

switch_data_dir() {
  awk -v old="$old_dir" -v new="$new_dir" -v mode="$1" '
    {
      line = $0; indent = line; sub(/[^ ].*$/, "", indent); body = substr(line, length(indent) + 1)
      if (body == "- --data-dir=" old) { flags++; line = indent "- --data-dir=" new }
      else if (body == "mountPath: " old || body == "- mountPath: " old) { mounts++; sub(/mountPath: .*$/, "mountPath: " new, line) }
      else if (body == "path: " old) { paths++; line = indent "path: " new }
      if (mode == "rewrite") print line
    }
    END { if (mode == "count") print flags + 0, mounts + 0, paths + 0 }
  ' "$2"
}

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
  if [ "$status" -ne 0 ] && [ "$created_data_dir" = 1 ] && [ -n "$stash" ]; then
    log "removing the incomplete $data_dir"
    rm -rf -- "$data_dir"
  fi
  restore_manifests
  exit "$status"
}

# 1. preflight
[ -f "$snapshot" ] || fail "snapshot $snapshot does not exist"
[ ! -e "$data_dir" ] || fail "$data_dir exists already; restore into a new directory (dataDir) or remove it first"
manifest="$manifests_dir/$etcd_manifest"
[ -f "$manifest" ] || fail "no etcd manifest at $manifest; is this a kubeadm control-plane node with local etcd?"
read -r n_flags n_mounts n_paths <<EOF
$(switch_data_dir count "$manifest")
EOF
[ "$n_flags" -eq 1 ] || fail "$manifest has $n_flags lines '- --data-dir=$old_dir' (expected 1); set currentDataDir to the data directory etcd uses now"
if [ -d "$stash_parent" ]; then
  for d in "$stash_parent"/kube-upkeep-restore.* "$stash_parent"/kube-upkeep-manifests.*; do
    [ -d "$d" ] || continue
    fail "$d holds manifests from an interrupted run; move them back to $manifests_dir and remove $d"
  done
fi
log 'verifying the snapshot with etcdutl snapshot status'
if ! status=$(etcdutl snapshot status /var/lib/etcd-backup/etcd-snapshot.db -w json 2>&1); then
  fail "$snapshot is not a readable etcd snapshot: $status"
fi
log "snapshot status: $status"

# 2. stop the static pods (etcd and everything that writes to it)
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

# 3. restore into the new data directory
log "restoring $snapshot into $data_dir"
created_data_dir=1
if ! out=$(etcdutl snapshot restore /var/lib/etcd-backup/etcd-snapshot.db --data-dir=/var/lib/etcd-restore --name=cp-2 --initial-cluster=cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380 --initial-advertise-peer-urls=https://10.0.0.12:2380 --initial-cluster-token=etcd-restore-20260101 2>&1); then
  fail "etcdutl snapshot restore failed: $out"
fi
printf '%s\n' "$out" >&2

# 4. switch etcd's data directory in the stashed manifest (the original is kept)
backup="$stash_parent/$etcd_manifest.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
cp -p "$stash/$etcd_manifest" "$backup"
switch_data_dir rewrite "$stash/$etcd_manifest" > "$stash/.$etcd_manifest.new"
mv "$stash/.$etcd_manifest.new" "$stash/$etcd_manifest"
log "switched $etcd_manifest from $old_dir to $new_dir ($n_flags --data-dir, $n_mounts mountPath, $n_paths hostPath lines); the original is $backup"

# 5. start: the manifests go back, the kubelet starts etcd on the restored data
restore_manifests
trap - EXIT TERM INT

# 6. wait for etcd to answer
log "waiting up to ${health_timeout}s for etcd to be healthy"
deadline=$(($(date +%s) + health_timeout))
until out=$(etcdctl --endpoints=https://10.0.0.12:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key endpoint health 2>&1); do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    fail "etcd is not healthy after ${health_timeout}s: $out (the restored data is in $data_dir, the original manifest in $backup)"
  fi
  sleep 2
done
printf '%s\n' "$out" >&2
etcdctl --endpoints=https://10.0.0.12:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key member list -w table >&2
log "done: etcd runs on $new_dir"
