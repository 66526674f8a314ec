# kube-upkeep resource backup: kubectl get -o json, cleaned for kubectl apply --server-side
set -eu
# pipefail where the shell has it (bash, busybox sh; not dash before 0.5.13)
if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi
umask 077
kubectl=kubectl
backup_dir=/var/backups/kubernetes-resources
tmp_dir=/var/backups/kubernetes-resources/.resource-backup-in-progress
# the awk program (its $ are awk's, not the shell's)
# shellcheck disable=SC2016
filter='
function indent(s) { match(s, /^ */); return RLENGTH }
function closes(s) { return s ~ /^ *[]}]/ }
function opens(s) { return s ~ /[[{],?$/ && s !~ /(\{\}|\[\]),?$/ }
function keep(s) {
  if (closes(s) && n > 0) sub(/,$/, "", buf[n])
  buf[++n] = s
}
function flush(   ns, f, i) {
  if (owned) return
  ns = (namespace == "") ? "_cluster" : namespace
  if (ns !~ /^([a-z0-9]([-a-z0-9]*[a-z0-9])?|_cluster)$/) { print "bad namespace " ns > "/dev/stderr"; failed = 1; exit 2 }
  # flat: awk cannot make the directory without a shell command, and the kubectl
  # image has no /bin/sh (distroless): the shell moves <ns>__<base>.json to <ns>/<base>.json
  f = dir "/" ns "__" base ".json"
  if (!(f in count)) {
    printf "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n" > f
    count[f] = 0
    order[++files] = f
  } else printf ",\n" > f
  count[f]++
  sub(/,$/, "", buf[n])
  for (i = 1; i <= n; i++) { printf "%s", buf[i] > f; if (i < n) printf "\n" > f }
}
BEGIN { initem = 0 }
{
  line = $0
  if (!initem) {
    if (line == "        {") { initem = 1; n = 0; owned = 0; namespace = ""; kind = ""; top = ""; skip = -1; headless = 0; buf[++n] = line }
    next
  }
  ind = indent(line)
  if (skip >= 0) {
    if (ind == skip && closes(line)) skip = -1
    else if (inowner && line ~ /^ *"controller": true,?$/) owned = 1
    if (skip < 0) inowner = 0
    next
  }
  if (ind == 8 && closes(line)) { keep("        }"); flush(); initem = 0; next }
  drop = 0
  if (ind == 12) {
    top = line; sub(/^ *"/, "", top); sub(/".*/, "", top)
    if (top == "kind") { kind = line; sub(/^ *"kind": "/, "", kind); sub(/",?$/, "", kind) }
    if (top == "status") drop = 1
  } else if (ind == 16 && top == "metadata") {
    key = line; sub(/^ *"/, "", key); sub(/".*/, "", key)
    if (key == "namespace") { namespace = line; sub(/^ *"namespace": "/, "", namespace); sub(/",?$/, "", namespace) }
    if (key ~ /^(uid|resourceVersion|creationTimestamp|generation|selfLink|managedFields|deletionTimestamp|deletionGracePeriodSeconds|ownerReferences)$/) drop = 1
    if (key == "ownerReferences") inowner = 1
  } else if (ind == 16 && top == "spec" && kind == "Service") {
    if (line ~ /^ *"clusterIP": "None",?$/) headless = 1
    else if (line ~ /^ *"clusterIP": /) drop = 1
    else if (line ~ /^ *"clusterIPs": \[/ && !headless) drop = 1
  }
  if (drop) { if (opens(line)) skip = ind; else inowner = 0; next }
  keep(line)
}
END {
  if (failed) exit 2
  for (i = 1; i <= files; i++) {
    printf "\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {}\n}\n" > order[i]
    close(order[i])
    print order[i], count[order[i]]
  }
}
'
log() { printf '%s resource-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
mkdir -p "$backup_dir"
rm -rf "$tmp_dir"
mkdir "$tmp_dir"
objects=0
# export_resource <resource> <namespace or '' for all namespaces / cluster-scoped>
export_resource() {
  raw="$tmp_dir/.raw.json"
  if [ -n "$2" ]; then
    "$kubectl" get "$1" --namespace="$2" -o json >"$raw"
  else
    "$kubectl" get "$1" --all-namespaces -o json >"$raw"
  fi
  written=$(awk -v dir="$tmp_dir" -v base="$1" "$filter" <"$raw")
  rm -f "$raw"
  if [ -z "$written" ]; then
    log "$1${2:+ in $2}: nothing to export"
    return 0
  fi
  while read -r file n; do
    name=${file##*/}
    mkdir -p "$tmp_dir/${name%%__*}"
    mv "$file" "$tmp_dir/${name%%__*}/${name#*__}"
    log "wrote ${name%%__*}/${name#*__} ($n objects)"
    objects=$((objects + n))
  done <<EOF
$written
EOF
}
export_resource deployments.apps app
export_resource deployments.apps web
export_resource services app
export_resource services web
export_resource configmaps app
export_resource configmaps web
final="$backup_dir/resource-backup-$(date -u +%Y%m%dT%H%M%SZ)"
if [ -e "$final" ]; then
  log "ERROR: $final already exists, not overwriting it"
  exit 1
fi
mv "$tmp_dir" "$final"
log "wrote $final ($objects objects)"
# retention: only directories named like the snapshots above are considered
pattern='resource-backup-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z'
max_age_days=14
keep_count=10
now=$(date +%s)
candidates=$(find "$backup_dir" -mindepth 1 -maxdepth 1 -type d -name "$pattern" -exec stat -c '%Y %n' {} + | sort -k1,1nr -k2,2r)
rank=1 # the snapshot just written counts as the newest and is never pruned
while read -r mtime dir; do
  [ -n "$dir" ] || continue
  [ "$dir" != "$final" ] || continue
  rank=$((rank + 1))
  reason=""
  if [ "$keep_count" -gt 0 ] && [ "$rank" -gt "$keep_count" ]; then
    reason="beyond the newest $keep_count"
  fi
  if [ "$max_age_days" -gt 0 ] && [ $((now - mtime)) -gt $((max_age_days * 86400)) ]; then
    reason="older than $max_age_days days"
  fi
  if [ -n "$reason" ]; then
    log "pruning $dir ($reason)"
    rm -rf -- "$dir"
  fi
done <<EOF
$candidates
EOF
printf '%s\n' "$final"
