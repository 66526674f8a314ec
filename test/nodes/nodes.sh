#!/usr/bin/env bash
# The real-node cluster: machines made of systemd-nspawn containers booting a Debian rootfs, each
# with its own hostname, IP (network namespace), systemd, sshd, containerd and a real kubelet
# installed by apt from the harness's pkgs.k8s.io-shaped repository, joined by real kubeadm.
# Design and findings: docs/real-nodes.md.
#
#   nodes.sh up       build what is missing, remove a stale cluster, create the cluster at FROM
#   nodes.sh down     remove everything (processes, mounts, netns, veths, cgroups, files)
#   nodes.sh status   print the state file (JSON) of the running cluster
#   nodes.sh exec <node> <cmd...>   run a command in a node (nsenter)
#
# KU_NODES_CERT_VALIDITY=<hours>h (up only): kubeadm issues the cluster's leaf certificates with
# that lifetime (ClusterConfiguration certificateValidityPeriod) instead of a year, for tests of
# certificate renewal; unset (the default) leaves kubeadm's default.
#
# One cluster per machine (a lock); state in $KU_CACHE/nodes/run/state.json.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/cluster/versions.env
. "$here/../cluster/versions.env"
KU_CACHE="${KU_CACHE:-$HOME/.cache/kube-upkeep}"
BUILD_TAG=nodes # used by build-common.sh's log
export BUILD_TAG
# shellcheck source=test/cluster/build-common.sh
. "$here/../cluster/build-common.sh"

BIN="$KU_CACHE/bin"
RUN="$KU_CACHE/nodes/run"
PREFIX=kun # names of host objects: netns kun-<node>, veth kun-<node>, bridge kun-br0, cgroup kun/<node>
BRIDGE=$PREFIX-br0
NET=10.213.0
GW=$NET.1
REPO_PORT=8139
FROM="$NODES_FROM_VERSION" TO="$KUBERNETES_VERSION"
# name ip role pod-cidr
NODES=(
  "cp1 $NET.11 control-plane 10.244.0.0/24"
  "w1 $NET.12 worker 10.244.1.0/24"
  "w2 $NET.13 worker 10.244.2.0/24"
)
CERT_VALIDITY="${KU_NODES_CERT_VALIDITY:-}"
minor() { local v="${1#v}"; echo "v${v%.*}"; }
pkgver() { echo "${1#v}-1.1"; }

die() { log "error: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, mounts, cgroups)"
# whole hours (a Go duration kubeadm accepts), at least one: anything else is refused here
if [ -n "$CERT_VALIDITY" ] && ! [[ "$CERT_VALIDITY" =~ ^[1-9][0-9]{0,5}h$ ]]; then
  die "KU_NODES_CERT_VALIDITY=$CERT_VALIDITY: give whole hours such as 72h"
fi

# --- teardown -----------------------------------------------------------------------------------

# Every process of a node, found through its cgroup (a SIGKILLed nspawn leaves the node's init
# running, reparented to the host's PID 1, so pid files are not enough).
node_pids() {
  local n="$1" d
  while IFS= read -r d; do cat "$d/cgroup.procs" 2>/dev/null || true; done < <(
    find /sys/fs/cgroup/pids /sys/fs/cgroup/systemd -type d -path "*/$PREFIX/$n" 2>/dev/null | while read -r top; do find "$top" -type d; done)
}

stop_node() {
  local n="$1" pids
  for _ in $(seq 50); do
    pids=$(node_pids "$n" | sort -u)
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086 # a list of pids
    kill -9 $pids 2>/dev/null || true
    sleep 0.1
  done
  [ -z "$(node_pids "$n")" ] || die "processes of node $n survive SIGKILL: $(node_pids "$n" | tr '\n' ' ')"
  local m="$RUN/$n/merged"
  if mountpoint -q "$m" 2>/dev/null; then umount "$m" 2>/dev/null || umount -l "$m"; fi
  ip netns del "$PREFIX-$n" 2>/dev/null || true
  ip link del "$PREFIX-$n" 2>/dev/null || true
  # empty cgroups of the node in every hierarchy, deepest first
  find /sys/fs/cgroup -depth -type d -path "*/$PREFIX/$n*" 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done
  rm -rf "/run/systemd/nspawn/propagate/$n" "/run/systemd/nspawn/unix-export/$n"
}

down() {
  local t0 n
  t0=$(date +%s)
  [ -f "$RUN/repo.pid" ] && { kill "$(cat "$RUN/repo.pid")" 2>/dev/null || true; rm -f "$RUN/repo.pid"; }
  pkill -f "http.server --bind $GW $REPO_PORT" 2>/dev/null || true
  # every node this or an earlier (killed) run left, also ones no longer in NODES
  local names=()
  for n in "${NODES[@]}"; do names+=("${n%% *}"); done
  while IFS= read -r n; do names+=("$n"); done < <(
    { ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$PREFIX-//p"
      find /sys/fs/cgroup/systemd -maxdepth 8 -type d -path "*/$PREFIX/*" -prune 2>/dev/null | sed 's|.*/||'
      [ -d "$RUN" ] && find "$RUN" -mindepth 1 -maxdepth 1 -type d -printf '%f\n'; } | sort -u)
  for n in $(printf '%s\n' "${names[@]}" | sort -u); do stop_node "$n"; done
  ip link del "$BRIDGE" 2>/dev/null || true
  find /sys/fs/cgroup -depth -type d -name "$PREFIX" 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done
  rm -rf "$RUN"
  log "down in $(( $(date +%s) - t0 ))s"
}

# --- building blocks ----------------------------------------------------------------------------

host_packages() {
  local missing=()
  command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v gpg >/dev/null || missing+=(gnupg)
  [ ${#missing[@]} -eq 0 ] && return
  timed "apt-get install ${missing[*]}" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing[*]} >/dev/null"
}

ssh_key() {
  mkdir -p "$KU_CACHE/nodes/ssh"
  [ -f "$KU_CACHE/nodes/ssh/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C kube-upkeep-nodes -f "$KU_CACHE/nodes/ssh/id_ed25519"
}

network() {
  ip link add "$BRIDGE" type bridge
  ip addr add "$GW/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  local spec n ip role cidr o oip ocidr
  for spec in "${NODES[@]}"; do
    read -r n ip role cidr <<<"$spec"
    ip netns add "$PREFIX-$n"
    ip link add "$PREFIX-$n" type veth peer name eth0 netns "$PREFIX-$n"
    ip link set "$PREFIX-$n" master "$BRIDGE" up
    ip -n "$PREFIX-$n" addr add "$ip/24" dev eth0
    ip -n "$PREFIX-$n" link set eth0 up
    ip -n "$PREFIX-$n" link set lo up
    # the kubelet finds its node IP through the default route
    ip -n "$PREFIX-$n" route add default via "$GW"
    for o in "${NODES[@]}"; do
      read -r _ oip _ ocidr <<<"$o"
      [ "$oip" = "$ip" ] || ip -n "$PREFIX-$n" route add "$ocidr" via "$oip"
    done
  done
}

# The node's own files, written into its overlay's upper layer (the base rootfs stays as built).
node_files() {
  local n="$1" ip="$2" role="$3" cidr="$4" m="$RUN/$1/merged" spec
  echo "$n" > "$m/etc/hostname"
  { echo "127.0.0.1 localhost"
    for spec in "${NODES[@]}"; do read -r a b _ <<<"$spec"; echo "$b $a"; done; } > "$m/etc/hosts"
  # The host's DNS is unreachable from the node network; an address that refuses at once keeps
  # lookups fast and is not a loop for CoreDNS's `forward . /etc/resolv.conf`.
  printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$GW" > "$m/etc/resolv.conf"
  mkdir -p "$m/etc/systemd/system.conf.d" "$m/etc/systemd/system/sysinit.target.wants" "$m/usr/local/sbin" \
    "$m/root/.ssh" "$m/etc/containerd" "$m/etc/cni/net.d" "$m/etc/apt/keyrings" "$m/etc/apt/sources.list.d"
  printf '[Manager]\nDefaultTimeoutStopSec=10s\n' > "$m/etc/systemd/system.conf.d/kube-upkeep-node.conf"
  cat > "$m/usr/local/sbin/node-prep" <<'PREP'
#!/bin/sh
# Makes the nspawn node look like a machine to containerd and the kubelet (docs/real-nodes.md).
set -e
# cgroup v1 hierarchies: nspawn mounts them read-only
mount -o remount,rw /sys/fs/cgroup
for c in /sys/fs/cgroup/*/; do mount -o remount,rw,bind "$c"; done
# /proc/sys/net belongs to the node's network namespace: writable (CNI, kube-proxy)
mount --bind /proc/sys/net /proc/sys/net
mount -o remount,bind,rw /proc/sys/net
# host-global sysctls the kubelet insists on: it sees the values it wants, the host is untouched
mkdir -p /run/sysctl-shield
for kv in vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000; do
  k=${kv%=*}; f=/run/sysctl-shield/$(echo "$k" | tr / .)
  echo "${kv#*=}" > "$f"; mount --bind -o ro "$f" "/proc/sys/$k"
done
echo 1 > /proc/sys/net/ipv4/ip_forward
PREP
  chmod 755 "$m/usr/local/sbin/node-prep"
  cat > "$m/etc/systemd/system/node-prep.service" <<'UNIT'
[Unit]
Description=Make the nspawn node look like a machine to containerd and the kubelet
DefaultDependencies=no
Before=containerd.service kubelet.service
After=local-fs.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/node-prep
[Install]
WantedBy=sysinit.target
UNIT
  ln -sf ../node-prep.service "$m/etc/systemd/system/sysinit.target.wants/node-prep.service"
  # Debian's containerd config plus: the local pause image, and oom_score_adj clamped (this host
  # has no CAP_SYS_RESOURCE, so a sandbox asking for -998 would fail to start)
  cat > "$m/etc/containerd/config.toml" <<TOML
version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.kube-upkeep.local/pause:$NODES_PAUSE_VERSION"
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
TOML
  cat > "$m/etc/cni/net.d/10-bridge.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "podnet",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$cidr" }]], "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
  ssh-keygen -q -t ed25519 -N '' -C "root@$n" -f "$m/etc/ssh/ssh_host_ed25519_key"
  cp "$KU_CACHE/nodes/ssh/id_ed25519.pub" "$m/root/.ssh/authorized_keys"
  chmod 700 "$m/root/.ssh"; chmod 600 "$m/root/.ssh/authorized_keys"
  # the official install guide's repository set-up, at FROM's minor
  cp "$REPO_KEYRING" "$m/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] http://$GW:$REPO_PORT/core:/stable:/$(minor "$FROM")/deb/ /" \
    > "$m/etc/apt/sources.list.d/kubernetes.list"
  # etcdctl / etcdutl for the etcd snapshot, as the etcd release tarball installs them
  if [ "$role" = control-plane ]; then
    cp "$BIN/etcdctl-$ETCD_VERSION" "$m/usr/local/bin/etcdctl"
    cp "$BIN/etcdutl-$ETCD_VERSION" "$m/usr/local/bin/etcdutl"
  fi
  # images: a worker runs only pause, kube-proxy and CoreDNS
  mkdir -p "$m/root/images"
  local img
  for img in "${IMAGES[@]}"; do
    [ "$role" = control-plane ] || case "${img##*/}" in pause*|kube-proxy*|coredns*) ;; *) continue;; esac
    ln -f "$img" "$m/root/images/" 2>/dev/null || cp "$img" "$m/root/images/"
  done
}

# boot_node <name>: the launcher moves itself into $PREFIX/<name> in every cgroup hierarchy first
# (nspawn roots the node's cgroup namespace at its launcher's cgroup: without this every kubelet
# would manage the same /kubepods), then execs systemd-nspawn, detached.
boot_node() {
  local n="$1" d="$RUN/$1"
  mkdir -p "$d/containerd"
  ( set -e
    for h in /sys/fs/cgroup/*/; do
      h=${h%/}; ctl=${h##*/}
      [ "$ctl" = unified ] && continue
      key=$ctl; [ "$ctl" = systemd ] && key=name=systemd
      cur=$(awk -F: -v k="$key" '$2==k{print $3}' "/proc/$BASHPID/cgroup"); cur=${cur%/}
      cg=$h$cur/$PREFIX/$n; mkdir -p "$cg"
      if [ "$ctl" = cpuset ]; then
        cat "$h$cur/cpuset.cpus" > "$h$cur/$PREFIX/cpuset.cpus"; cat "$h$cur/cpuset.mems" > "$h$cur/$PREFIX/cpuset.mems"
        cat "$h$cur/cpuset.cpus" > "$cg/cpuset.cpus"; cat "$h$cur/cpuset.mems" > "$cg/cpuset.mems"
      fi
      echo "$BASHPID" > "$cg/cgroup.procs"
    done
    if [ -d /sys/fs/cgroup/unified ]; then
      mkdir -p "/sys/fs/cgroup/unified/$PREFIX/$n" && echo "$BASHPID" > "/sys/fs/cgroup/unified/$PREFIX/$n/cgroup.procs"
    fi
    export SYSTEMD_NSPAWN_API_VFS_WRITABLE=0 SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0 SYSTEMD_SECCOMP=0
    exec setsid systemd-nspawn -D "$d/merged" -M "$n" -b --register=no --keep-unit \
      --network-namespace-path="/run/netns/$PREFIX-$n" --capability=all \
      --bind=/dev/kmsg --bind="$d/containerd:/var/lib/containerd" --console=passive
  ) > "$d/nspawn.log" 2>&1 </dev/null 7>&- &
  echo $! > "$d/nspawn.pid"
}

# The node's init (PID 1 of its pid namespace), for nsenter.
leader() { pgrep -P "$(cat "$RUN/$1/nspawn.pid")" -x systemd | head -1; }
in_node() { local n="$1"; shift; nsenter -t "$(leader "$n")" -a "$@"; }

wait_booted() {
  local n="$1" l st=""
  for _ in $(seq 150); do
    l=$(leader "$n" || true)
    if [ -n "$l" ]; then
      st=$(nsenter -t "$l" -a systemctl is-system-running 2>/dev/null || true)
      case "$st" in running|degraded) break;; esac
    fi
    kill -0 "$(cat "$RUN/$n/nspawn.pid")" 2>/dev/null || { tail -20 "$RUN/$n/nspawn.log" >&2; die "node $n: systemd-nspawn exited"; }
    sleep 0.2
  done
  case "$st" in
    running) ;;
    degraded) log "node $n degraded: $(in_node "$n" systemctl --failed --no-legend | tr '\n' ';')";;
    *) die "node $n did not boot in 30 s (state '$st'); see $RUN/$n/nspawn.log";;
  esac
}

# Images, packages (apt from the repository, held as the install guide does), kubelet enabled.
prepare_node() {
  local n="$1" img
  for img in "$RUN/$n/merged/root/images/"*.tar; do
    in_node "$n" ctr -n k8s.io images import "/root/images/${img##*/}" >/dev/null
  done
  in_node "$n" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubeadm=$(pkgver "$FROM") kubelet=$(pkgver "$FROM") >/dev/null && apt-mark hold kubeadm kubelet >/dev/null && systemctl enable kubelet 2>/dev/null"
}

kubeadm_config() {
  local ip="$1"
  cat <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: { advertiseAddress: $ip, bindPort: 6443 }
nodeRegistration:
  name: cp1
  criSocket: unix:///run/containerd/containerd.sock
  imagePullPolicy: Never
  # cgroup v1 host: the harness's choice (docs/real-nodes.md); the product's preflight detects it
  ignorePreflightErrors: [SystemVerification]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: $FROM
imageRepository: registry.kube-upkeep.local
etcd: { local: { imageTag: ${ETCD_VERSION#v}-0 } }
${CERT_VALIDITY:+certificateValidityPeriod: $CERT_VALIDITY}
networking: { podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12 }
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
# nf_conntrack_max and its hash size are host-global: leave them alone
conntrack: { maxPerCore: 0 }
YAML
}

write_state() {
  local spec n ip role cidr first=1
  {
    printf '{\n  "from": "%s",\n  "to": "%s",\n  "kubeconfig": "%s",\n  "sshKey": "%s",\n' "$FROM" "$TO" "$RUN/kubeconfig" "$KU_CACHE/nodes/ssh/id_ed25519"
    printf '  "repository": "http://%s:%s",\n' "$GW" "$REPO_PORT"
    [ -z "$CERT_VALIDITY" ] || printf '  "certificateValidityPeriod": "%s",\n' "$CERT_VALIDITY"
    # the images imported on the control-plane nodes (the build's <name>_<tag>.tar files)
    printf '  "images": ['
    local img f sep=""
    for img in "${IMAGES[@]}"; do
      f=${img##*/}; f=${f%.tar}
      printf '%s"registry.kube-upkeep.local/%s:%s"' "$sep" "${f%%_*}" "${f#*_}"
      sep=", "
    done
    printf '],\n  "nodes": ['

    for spec in "${NODES[@]}"; do
      read -r n ip role cidr <<<"$spec"
      [ $first -eq 1 ] || printf ','
      first=0
      printf '\n    { "name": "%s", "ip": "%s", "role": "%s", "hostKey": "%s" }' "$n" "$ip" "$role" \
        "$(cut -d' ' -f1,2 "$RUN/$n/merged/etc/ssh/ssh_host_ed25519_key.pub")"
    done
    printf '\n  ]\n}\n'
  } > "$RUN/state.json.tmp"
  mv "$RUN/state.json.tmp" "$RUN/state.json"
}

up() {
  local t0 spec n ip role cidr
  t0=$(date +%s)
  down
  host_packages
  ROOTFS=$(bash "$here/build-rootfs.sh")
  for b in kubeadm-$FROM kubelet-$FROM kubeadm-$TO kubelet-$TO etcdctl-$ETCD_VERSION etcdutl-$ETCD_VERSION; do
    [ -x "$BIN/$b" ] || die "missing $BIN/$b: run bash test/cluster/build.sh nodes"
  done
  local repo_out images_out
  repo_out=$(bash "$here/build-repo.sh")
  images_out=$(bash "$here/build-images.sh")
  REPO_DIR=$(sed -n 's/^repo=//p' <<<"$repo_out")
  REPO_KEYRING=$(sed -n 's/^keyring=//p' <<<"$repo_out")
  mapfile -t IMAGES < <(sed -n 's/^image=//p' <<<"$images_out")
  if [ ! -d "$REPO_DIR" ] || [ ! -f "$REPO_KEYRING" ] || [ ${#IMAGES[@]} -eq 0 ]; then
    die "build-repo.sh / build-images.sh gave no repository or images"
  fi
  ssh_key
  mkdir -p "$RUN"
  timed "network ($BRIDGE, ${#NODES[@]} netns)" network
  # the package repository, on the bridge: the nodes' only package source
  # (what outlives this script holds neither its output nor its lock, fd 7)
  (cd "$REPO_DIR" && exec setsid python3 -m http.server --bind "$GW" "$REPO_PORT") >"$RUN/repo.log" 2>&1 </dev/null 7>&- &
  echo $! > "$RUN/repo.pid"
  for spec in "${NODES[@]}"; do
    read -r n ip role cidr <<<"$spec"
    mkdir -p "$RUN/$n/upper" "$RUN/$n/work" "$RUN/$n/merged"
    mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$RUN/$n/upper,workdir=$RUN/$n/work" "$RUN/$n/merged"
    node_files "$n" "$ip" "$role" "$cidr"
    boot_node "$n"
  done
  local tb; tb=$(date +%s)
  for spec in "${NODES[@]}"; do wait_booted "${spec%% *}"; done
  log "${#NODES[@]} nodes booted in $(( $(date +%s) - tb ))s"
  local pids=() p
  for spec in "${NODES[@]}"; do
    n=${spec%% *}
    timed "node $n: images + apt-get install kubeadm kubelet $(pkgver "$FROM")" prepare_node "$n" > "$RUN/$n/prepare.log" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { cat "$RUN"/*/prepare.log >&2; die "preparing a node failed"; }; done
  cat "$RUN"/*/prepare.log >&2
  read -r n ip role cidr <<<"${NODES[0]}"
  kubeadm_config "$ip" > "$RUN/$n/merged/root/kubeadm.yaml"
  timed "kubeadm init ($n, $FROM)" in_node "$n" kubeadm init --config /root/kubeadm.yaml > "$RUN/kubeadm-init.log" 2>&1 \
    || { tail -40 "$RUN/kubeadm-init.log" >&2; die "kubeadm init failed: $RUN/kubeadm-init.log"; }
  cp "$RUN/$n/merged/etc/kubernetes/admin.conf" "$RUN/kubeconfig"
  local join; join=$(in_node "$n" kubeadm token create --print-join-command)
  for spec in "${NODES[@]:1}"; do
    read -r n ip role cidr <<<"$spec"
    # shellcheck disable=SC2086 # the printed join command's words
    timed "kubeadm join ($n)" in_node "$n" $join --ignore-preflight-errors=SystemVerification > "$RUN/$n/join.log" 2>&1 \
      || { tail -30 "$RUN/$n/join.log" >&2; die "kubeadm join of $n failed"; }
  done
  local k="$BIN/kubectl-$TO --kubeconfig $RUN/kubeconfig"
  # shellcheck disable=SC2086
  timed "every node Ready" $k wait --for=condition=Ready node --all --timeout=180s >/dev/null \
    || { $k get nodes -o wide >&2; die "nodes not Ready"; }
  # shellcheck disable=SC2086
  timed "kube-system rolled out" bash -c "$k -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null && $k -n kube-system rollout status daemonset/kube-proxy --timeout=180s >/dev/null" \
    || { $k get pods -A -o wide >&2; die "kube-system not ready"; }
  write_state
  # shellcheck disable=SC2086
  $k get nodes -o wide >&2
  log "cluster up at $FROM in $(( $(date +%s) - t0 ))s; state: $RUN/state.json"
}

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0 # sourced: the functions only
case "${1:-}" in
  up) take_lock "$KU_CACHE/nodes.lock" 7; up;;
  down) take_lock "$KU_CACHE/nodes.lock" 7; down;;
  status) cat "$RUN/state.json";;
  exec) shift; n="$1"; shift; in_node "$n" "$@";;
  *) echo "usage: $0 up|down|status|exec <node> <cmd...>" >&2; exit 2;;
esac
