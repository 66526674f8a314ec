#!/usr/bin/env bash
# kube-upkeep etcd restore: switch etcd's data directory in its manifest
set -euo pipefail
manifest=/etc/kubernetes/manifests/etcd.yaml
old_dir=/var/lib/etcd
new_dir=/var/lib/etcd-restore
log() { printf '%s etcd-restore: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
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
[ -f "$manifest" ] || { log "ERROR: $manifest does not exist"; exit 1; }
read -r n_flags n_mounts n_paths <<EOF
$(switch_data_dir count "$manifest")
EOF
if [ "$n_flags" -ne 1 ]; then
  log "ERROR: $manifest has $n_flags lines '- --data-dir=$old_dir' (expected 1); nothing changed"
  exit 1
fi
backup="$manifest.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
cp -p "$manifest" "$backup"
switch_data_dir rewrite "$manifest" > "$manifest.kube-upkeep-new"
mv "$manifest.kube-upkeep-new" "$manifest"
log "switched $manifest from $old_dir to $new_dir ($n_flags --data-dir, $n_mounts mountPath, $n_paths hostPath lines); the original is $backup"
