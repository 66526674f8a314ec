# kube-upkeep etcd backup: finish step (rename and retention)
set -eu
# pipefail where the shell has it (bash, busybox sh; not dash before 0.5.13)
if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi
umask 077
backup_dir=/var/backups/etcd
tmp_file=/var/backups/etcd/.etcd-snapshot-in-progress.db
log() { printf '%s etcd-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
# finish: the verified temporary snapshot gets its final name, then retention runs
if [ ! -f "$tmp_file" ]; then
  log "ERROR: no verified snapshot at $tmp_file"
  exit 1
fi
# integrity: etcd appends the sha256 of the database to every snapshot it streams (the
# check etcdutl snapshot restore makes); etcdutl snapshot status alone accepts a snapshot
# with a damaged or cut-off tail
size=$(stat -c %s "$tmp_file")
if [ $((size % 512)) -ne 32 ]; then
  rm -f "$tmp_file"
  log "ERROR: snapshot ($size bytes) has no sha256 trailer: truncated or not an etcd snapshot; no snapshot was kept"
  exit 1
fi
want=$(tail -c 32 "$tmp_file" | od -An -v -tx1 | tr -d ' \n')
got=$(head -c $((size - 32)) "$tmp_file" | sha256sum | cut -d ' ' -f 1)
if [ "$want" != "$got" ]; then
  rm -f "$tmp_file"
  log "ERROR: snapshot sha256 $got does not match its trailer $want: corrupted; no snapshot was kept"
  exit 1
fi
log "sha256 trailer matches ($size bytes)"
final="$backup_dir/etcd-snapshot-$(date -u +%Y%m%dT%H%M%SZ).db"
if [ -e "$final" ]; then
  log "ERROR: $final already exists, not overwriting it"
  exit 1
fi
chmod 0600 "$tmp_file"
mv "$tmp_file" "$final"
log "wrote $final"
# retention: only files named like the snapshots above are considered
pattern='etcd-snapshot-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.db'
max_age_days=0
keep_count=5
now=$(date +%s)
candidates=$(find "$backup_dir" -maxdepth 1 -type f -name "$pattern" -exec stat -c '%Y %n' {} + | sort -k1,1nr -k2,2r)
rank=1 # the snapshot just written counts as the newest and is never pruned
while read -r mtime file; do
  [ -n "$file" ] || continue
  [ "$file" != "$final" ] || continue
  rank=$((rank + 1))
  reason=""
  if [ "$keep_count" -gt 0 ] && [ "$rank" -gt "$keep_count" ]; then
    reason="beyond the newest $keep_count"
  fi
  if [ "$max_age_days" -gt 0 ] && [ $((now - mtime)) -gt $((max_age_days * 86400)) ]; then
    reason="older than $max_age_days days"
  fi
  if [ -n "$reason" ]; then
    log "pruning $file ($reason)"
    rm -f -- "$file"
  fi
done <<EOF
$candidates
EOF
log "done"
# stdout carries exactly one line: the snapshot's path (progress goes to stderr)
printf '%s\n' "$final"
