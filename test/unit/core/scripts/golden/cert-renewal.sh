#!/usr/bin/env bash
# kube-upkeep certificate renewal: check, renew what is due, restart static pods, check again
set -eu
# pipefail where the shell has it (bash, busybox sh; not dash before 0.5.13)
if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi
renew_before_days=30
wanted=''
dry_run=0
renew_all=0
manifests_dir=/host/etc/kubernetes/manifests
stash_parent=/host/etc/kubernetes/tmp
restart_wait=30
rootfs=/host
# one `name url` line per endpoint that must answer 2xx after the restart
health_checks='etcd http://127.0.0.1:2381/readyz
kube-apiserver https://127.0.0.1:6443/readyz
kube-controller-manager https://127.0.0.1:10257/healthz
kube-scheduler https://127.0.0.1:10259/readyz'
health_timeout=300
probe_tool=""
stash=""
log() { printf '%s cert-renewal: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
kubeadm_run() { chroot /host kubeadm "$@"; }

# One line per certificate: name residualTime(seconds) externallyManaged missing.
# kubeadm's own messages (stderr) are merged in and skipped by the parser below.
check_expiration() {
  kubeadm_run certs check-expiration --cert-dir=/etc/kubernetes/pki --kubeconfig=/etc/kubernetes/admin.conf -o 'jsonpath={range .certificates[*]}{.name}{" "}{.residualTime}{" "}{.externallyManaged}{" "}{.missing}{"\n"}{end}' 2>&1
}

# STATE name days-left, STATE one of RENEW EXTERNAL OK MISSING SKIPPED
classify() {
  awk -v limit="$((renew_before_days * 86400))" -v wanted="$wanted" '
    BEGIN { n = split(wanted, w, " "); for (i = 1; i <= n; i++) sel[w[i]] = 1 }
    NF == 4 && $3 ~ /^(true|false)$/ && $4 ~ /^(true|false)$/ {
      days = int(($2 + 0) / 86400)
      if ($4 == "true") { print "MISSING", $1, "-"; next }
      if (n > 0 && !($1 in sel)) { print "SKIPPED", $1, days; next }
      if ($2 + 0 >= limit) { print "OK", $1, days; next }
      if ($3 == "true") { print "EXTERNAL", $1, days; next }
      print "RENEW", $1, days
    }'
}

# Runs check-expiration and classifies; fails with kubeadm's output when kubeadm fails.
check() {
  local out
  if ! out=$(check_expiration); then
    log "ERROR: kubeadm certs check-expiration failed: $out"
    return 1
  fi
  report=$(printf '%s\n' "$out" | classify)
  if [ -z "$report" ]; then
    log "ERROR: kubeadm certs check-expiration reported no certificates: $out"
    return 1
  fi
  while read -r state name days; do
    case "$state" in
      RENEW) log "$name: $days days left, within $renew_before_days: renew" ;;
      EXTERNAL) log "$name: $days days left, within $renew_before_days, but externally managed: renew it with its external CA" ;;
      OK) log "$name: $days days left" ;;
      MISSING) log "$name: missing (not on this node)" ;;
      SKIPPED) log "$name: $days days left (not selected)" ;;
    esac
  done <<EOF
$report
EOF
}

names() { printf '%s\n' "$report" | awk -v s="$1" '$1 == s { print $2 }'; }

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

# The probe: curl in this container, else the host's curl, else wget (see the module
# comment for why wget comes last). Picked before anything is renewed.
pick_probe() {
  if [ -z "$health_checks" ]; then return 0; fi
  if command -v curl >/dev/null 2>&1; then
    probe_tool=curl
  elif [ -n "$rootfs" ] && chroot "$rootfs" sh -c 'command -v curl' >/dev/null 2>&1; then
    probe_tool=host-curl
  elif command -v wget >/dev/null 2>&1; then
    probe_tool=wget
  else
    log "ERROR: neither curl nor wget here${rootfs:+ nor curl in $rootfs}: nothing to check the control plane's health with after the restart; install curl, or give healthChecks: [] to not wait"
    return 1
  fi
  log "health probes with $probe_tool"
}

# probe <url>: succeeds when the endpoint answers 2xx within a few seconds
probe() {
  case "$probe_tool" in
    curl) curl -fsSk --max-time 5 -o /dev/null "$1" ;;
    host-curl) chroot "$rootfs" curl -fsSk --max-time 5 -o /dev/null "$1" ;;
    # busybox wget crashes on -T: timeout bounds it instead
    wget) timeout 10 wget -q -O /dev/null --no-check-certificate "$1" ;;
  esac
}

# Each endpoint in turn until it answers, all within $health_timeout s of the manifests' return.
wait_healthy() {
  local t0 deadline name url err
  if [ -z "$health_checks" ]; then
    log "no health checks given: not waiting for the control plane"
    return 0
  fi
  t0=$(date +%s)
  deadline=$((t0 + health_timeout))
  while read -r name url; do
    [ -n "$name" ] || continue
    while ! err=$(probe "$url" 2>&1 </dev/null); do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        log "ERROR: $name did not answer $url within ${health_timeout}s after the static pods were restarted: ${err:-no answer}"
        return 1
      fi
      sleep 2
    done
    log "$name healthy ($url), $(($(date +%s) - t0))s after the manifests came back"
  done <<EOF
$health_checks
EOF
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

log "checking certificate expiration (renewing what expires within $renew_before_days days)"
check
to_renew=$(names RENEW | tr "\n" " ")
external=$(names EXTERNAL | tr "\n" " ")
if [ -z "$to_renew" ]; then
  log "nothing to renew"
elif [ "$dry_run" = 1 ]; then
  if [ "$renew_all" = 1 ]; then log "dry run: would run kubeadm certs renew all (due: $to_renew)"; else log "dry run: would renew: $to_renew"; fi
  log "dry run: would then restart the static pods in $manifests_dir"
else
  pick_probe
  if [ "$renew_all" = 1 ]; then targets=all; else targets=$to_renew; fi
  for name in $targets; do
    log "kubeadm certs renew $name"
    if ! out=$(kubeadm_run certs renew "$name" --cert-dir=/etc/kubernetes/pki --kubeconfig=/etc/kubernetes/admin.conf 2>&1); then
      log "ERROR: kubeadm certs renew $name failed: $out"
      exit 1
    fi
    printf '%s\n' "$out" >&2
  done
  restart_static_pods
  wait_healthy
  log "checking certificate expiration again"
  check
  still=$(names RENEW | tr "\n" " ")
  if [ -n "$still" ]; then
    log "ERROR: still expiring within $renew_before_days days after renewal: $still"
    exit 1
  fi
  external=$(names EXTERNAL | tr "\n" " ")
fi
if [ -n "$external" ] && [ "$dry_run" != 1 ]; then
  log "ERROR: externally managed certificates expire within $renew_before_days days: $external"
  exit 1
fi
log "done"
