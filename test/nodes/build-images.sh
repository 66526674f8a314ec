#!/usr/bin/env bash
# Builds the container images kubeadm asks for under the local imageRepository
# registry.kube-upkeep.local, from the cached binaries, as OCI image archives (no Docker, no
# registry): $KU_CACHE/nodes/images/<name>_<tag>.tar, each importable with
#   ctr -n k8s.io images import <tar>
# which names it by its index.json annotation io.containerd.image.name = registry.kube-upkeep.local/<name>:<tag>.
# Each archive also carries a docker-save manifest.json (as Docker >= 25 writes), so
# `crane validate --tarball` and `docker load` read it too. One layer per image, deterministic
# (mtime 0, sorted, gzip -n); cached: an image is rebuilt only when its binaries or this script change.
#
# Usage: test/nodes/build-images.sh [<name>:<tag> ...]   (default: all; e.g. etcd:3.6.16-0)
# Prints one image=<tar path> line per image on stdout; logs go to stderr. See README.md here.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_TAG=nodes-images # the log prefix (build-common.sh)
export BUILD_TAG
# shellcheck source=test/nodes/common.sh
. "$here/common.sh"

REGISTRY=registry.kube-upkeep.local
OUT="$NODES_CACHE/images"
# the official images' PATH (distroless)
PATHENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
umask 022

# Every image the cluster needs: FROM's and TO's control plane and kube-proxy, the etcd both
# serve, the CoreDNS each kubeadm deploys (<repo>/coredns:<tag> under a custom imageRepository:
# kubeadm's GetDNSImage), the pause image (kubeadm's PauseVersion, also containerd's sandbox_image).
all_images() {
  local v n
  for v in "$NODES_FROM_VERSION" "$KUBERNETES_VERSION"; do
    for n in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do echo "$n:$v"; done
  done
  echo "etcd:${ETCD_VERSION#v}-0"
  echo "coredns:$NODES_FROM_COREDNS_VERSION"
  echo "coredns:$NODES_TO_COREDNS_VERSION"
  echo "pause:$NODES_PAUSE_VERSION"
  echo "busybox:$BUSYBOX_VERSION"
  echo "kubectl:$KUBERNETES_VERSION"
}

# The host's busybox-static (Debian package), the shell image of the EtcdBackup and
# CertificateRenewal jobs: a static binary, so the image needs nothing else.
BUSYBOX=/bin/busybox
busybox_version() {
  local v
  if ! [ -x "$BUSYBOX" ] || ! file_is_static "$BUSYBOX"; then
    die "no static busybox at $BUSYBOX (the jobs' shell image is built from it): apt-get install -y busybox-static"
  fi
  # "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary." -> 1.35.0
  v=$("$BUSYBOX" 2>/dev/null | sed -n '1s/^BusyBox v\([0-9][0-9.]*\) .*/\1/p')
  [ -n "$v" ] || die "cannot read the version of $BUSYBOX"
  echo "$v"
}
# A dynamically linked busybox (Debian's package busybox) would need its libraries in the image:
# its ELF interpreter path sits in the first pages of the file.
file_is_static() { ! head -c 8192 "$1" | grep -aq 'ld-linux'; }
BUSYBOX_VERSION=$(busybox_version)

# bins_of <name:tag>: the cached binaries an image is made of
bins_of() {
  local name="${1%%:*}" tag="${1#*:}"
  case "$name" in
    kube-* | kubectl) echo "$name-$tag";;
    etcd) echo "etcd-$ETCD_VERSION etcdctl-$ETCD_VERSION etcdutl-$ETCD_VERSION";;
    coredns) echo "coredns-$tag";;
    pause) echo "pause-$tag";;
    busybox) ;; # the host's $BUSYBOX, not a cached build (its file id enters the key below)
    *) die "unknown image $1";;
  esac
}

# --- image contents ------------------------------------------------------------------------------

# distroless-like base: the users (root, nonroot 65532, nobody), /tmp, CA bundle, nsswitch
base_files() {
  local d="$1"
  mkdir -p "$d/etc/ssl/certs" "$d/tmp" "$d/root" "$d/home/nonroot" "$d/var/run"
  chmod 1777 "$d/tmp"; chmod 700 "$d/root"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$d/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\ntty:x:5:\nstaff:x:50:\n' > "$d/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$d/etc/nsswitch.conf"
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/"
  chown 65532:65532 "$d/home/nonroot"
}

# copy_in <path>: copies a path of the node rootfs into the layer $L at the same place, following
# symlinks (each link is copied as a link, then its target), directories resolved inside the rootfs
# (merged /usr: /lib -> usr/lib).
copy_in() {
  local p="$1" dir base t
  dir=$(chroot "$ROOTFS" readlink -f "$(dirname "$p")")
  base="${p##*/}"
  [ -e "$ROOTFS$dir/$base" ] || [ -L "$ROOTFS$dir/$base" ] || die "not in the rootfs: $p"
  [ -e "$L$dir/$base" ] || [ -L "$L$dir/$base" ] && return 0
  mkdir -p "$L$dir"
  cp -a "$ROOTFS$dir/$base" "$L$dir/"
  if [ -L "$ROOTFS$dir/$base" ]; then
    t=$(readlink "$ROOTFS$dir/$base")
    case "$t" in /*) ;; *) t="$dir/$t";; esac
    copy_in "$t"
  fi
}

# iptables_layer <dir>: iptables 1.8 (nft and legacy back ends, the rootfs's alternatives choice
# for plain `iptables`), ip6tables, their xtables extensions, conntrack, and every shared library
# they load (ldd in the rootfs) plus the dynamic loader: what kube-proxy execs in iptables mode.
iptables_layer() {
  L="$1"
  local d p libs elfs=()
  for d in bin sbin lib lib64; do [ -L "$ROOTFS/$d" ] && cp -a "$ROOTFS/$d" "$L/"; done
  for p in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore \
           iptables-nft iptables-nft-save iptables-nft-restore ip6tables-nft ip6tables-nft-save ip6tables-nft-restore \
           iptables-legacy iptables-legacy-save iptables-legacy-restore ip6tables-legacy ip6tables-legacy-save ip6tables-legacy-restore \
           xtables-nft-multi xtables-legacy-multi conntrack; do
    copy_in "/usr/sbin/$p"
  done
  elfs=(/usr/sbin/xtables-nft-multi /usr/sbin/xtables-legacy-multi /usr/sbin/conntrack)
  for p in "$ROOTFS"/usr/lib/x86_64-linux-gnu/xtables/*.so; do copy_in "${p#"$ROOTFS"}"; elfs+=("${p#"$ROOTFS"}"); done
  libs=$(chroot "$ROOTFS" ldd "${elfs[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u)
  for p in $libs; do copy_in "$p"; done
  for p in /etc/protocols /etc/services /etc/ethertypes; do [ -e "$ROOTFS$p" ] && copy_in "$p"; done
  mkdir -p "$L/run"
  # prove it: versions, and a nat rule with two extensions in a throwaway network namespace
  local v4 v6 legacy ct rules
  v4=$(chroot "$L" /usr/sbin/iptables --version) v6=$(chroot "$L" /usr/sbin/ip6tables --version)
  legacy=$(chroot "$L" /usr/sbin/iptables-legacy --version) ct=$(chroot "$L" /usr/sbin/conntrack --version)
  rules=$(unshare --net sh -c "chroot '$L' /usr/sbin/iptables -t nat -N KU-TEST &&
    chroot '$L' /usr/sbin/iptables -t nat -A KU-TEST -p tcp -m comment --comment ku -j MASQUERADE &&
    chroot '$L' /usr/sbin/iptables-save -t nat") || die "iptables in the layer cannot add a nat rule"
  grep -q -- '-A KU-TEST -p tcp -m comment --comment ku -j MASQUERADE' <<<"$rules" || die "iptables-save in the layer: $rules"
  log "iptables layer: $v4 / $v6 / $legacy / $ct; nat rule with -m comment -j MASQUERADE ok; $(du -sh "$L" | cut -f1)"
}

# --- OCI image archive (by hand: tar + sha256sum + json; the spike's mkoci.sh) --------------------

json_list() { local out="" s; for s in "$@"; do out+="\"$s\","; done; echo "[${out%,}]"; }

# write_oci <out.tar> <ref> <layer dir> <user> <entrypoint json> <cmd json>
write_oci() {
  local out="$1" ref="$2" root="$3" user="$4" ep="$5" cmd="$6" t diffid lsum lsz cfg csum csz man msum msz
  t=$(mktemp -d "$OUT/.oci.XXXXXX"); mkdir -p "$t/blobs/sha256"
  chmod 755 "$root"
  # pax format (for the xattr) without atime/ctime and without the pid in header names: reproducible
  tar --sort=name --mtime=@0 --numeric-owner --format=posix \
    --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime' \
    --xattrs --xattrs-include='security.capability' -C "$root" -cf "$t/layer.tar" .
  diffid=$(sha256sum "$t/layer.tar" | cut -d' ' -f1)
  nice -n 10 gzip -n -6 -c "$t/layer.tar" > "$t/layer.tgz"; rm "$t/layer.tar"
  lsum=$(sha256sum "$t/layer.tgz" | cut -d' ' -f1); lsz=$(stat -c %s "$t/layer.tgz")
  mv "$t/layer.tgz" "$t/blobs/sha256/$lsum"
  local c='{"Env":["'"$PATHENV"'"],"WorkingDir":"/"'
  [ -n "$user" ] && c+=',"User":"'"$user"'"'
  [ -n "$ep" ] && c+=',"Entrypoint":'"$ep"
  [ -n "$cmd" ] && c+=',"Cmd":'"$cmd"
  c+='}'
  cfg='{"created":"1970-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":'"$c"',"rootfs":{"type":"layers","diff_ids":["sha256:'"$diffid"'"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"kube-upkeep test/nodes/build-images.sh"}]}'
  csum=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1); csz=${#cfg}
  printf '%s' "$cfg" > "$t/blobs/sha256/$csum"
  man='{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$csum"'","size":'"$csz"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:'"$lsum"'","size":'"$lsz"'}]}'
  msum=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1); msz=${#man}
  printf '%s' "$man" > "$t/blobs/sha256/$msum"
  printf '{"imageLayoutVersion":"1.0.0"}' > "$t/oci-layout"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$msum" "$msz" "$ref" "${ref##*:}" > "$t/index.json"
  printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":["blobs/sha256/%s"]}]' "$csum" "$ref" "$lsum" > "$t/manifest.json"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$t" -cf "$out.tmp" oci-layout index.json manifest.json blobs
  mv "$out.tmp" "$out"
  rm -rf "$t"
}

# build_image <name:tag>: the image's layer directory, then its archive
build_image() {
  local img="$1" name="${1%%:*}" tag="${1#*:}" d user="" ep="" cmd="" b
  d=$(mktemp -d "$WORKDIR/$name.XXXXXX")
  case "$name" in
    kube-proxy)
      iptables_layer "$d"; base_files "$d"
      mkdir -p "$d/usr/local/bin"; install -m 755 "$BIN/$name-$tag" "$d/usr/local/bin/$name"
      ep=$(json_list "/usr/local/bin/$name");;
    kube-*)
      base_files "$d"; mkdir -p "$d/usr/local/bin"; install -m 755 "$BIN/$name-$tag" "$d/usr/local/bin/$name"
      ep=$(json_list "/usr/local/bin/$name");;
    kubectl)
      # as registry.k8s.io/kubectl: distroless, /bin/kubectl, no shell (ResourceBackup brings one)
      base_files "$d"; mkdir -p "$d/bin"; install -m 755 "$BIN/kubectl-$tag" "$d/bin/kubectl"
      ep=$(json_list /bin/kubectl);;
    etcd)
      base_files "$d"; mkdir -p "$d/usr/local/bin" "$d/var/etcd" "$d/var/lib/etcd"
      for b in etcd etcdctl etcdutl; do install -m 755 "$BIN/$b-$ETCD_VERSION" "$d/usr/local/bin/$b"; done
      cmd=$(json_list /usr/local/bin/etcd);;
    coredns)
      # the official image: distroless nonroot, USER nonroot:nonroot, cap_net_bind_service on /coredns
      base_files "$d"; install -m 755 "$BIN/coredns-$tag" "$d/coredns"
      setcap cap_net_bind_service=+ep "$d/coredns"
      user=65532:65532 ep=$(json_list /coredns);;
    pause)
      # the official image: FROM scratch, /pause, USER 65535:65535
      install -m 755 "$BIN/pause-$tag" "$d/pause"
      user=65535:65535 ep=$(json_list /pause);;
    busybox)
      # as the official image: /bin/busybox and every applet as a link to it (busybox sh runs
      # its applets itself; the links serve exec-form commands such as ["sh", "-c", ...])
      base_files "$d"; mkdir -p "$d/bin"; install -m 755 "$BUSYBOX" "$d/bin/busybox"
      for b in $("$BUSYBOX" --list); do [ "$b" = busybox ] || ln -s busybox "$d/bin/$b"; done
      cmd=$(json_list sh);;
  esac
  write_oci "$OUT/${name}_${tag}.tar" "$REGISTRY/$img" "$d" "$user" "$ep" "$cmd"
  rm -rf "$d"
}

# --- main ------------------------------------------------------------------------------------------

mapfile -t KNOWN < <(all_images)
sel=("$@")
[ ${#sel[@]} -eq 0 ] && sel=("${KNOWN[@]}")
allbins=()
for img in "${sel[@]}"; do
  known=""; for k in "${KNOWN[@]}"; do [ "$k" = "$img" ] && known=1; done
  [ -n "$known" ] || die "unknown image $img; known: ${KNOWN[*]}"
  read -r -a bs <<<"$(bins_of "$img")"; allbins+=("${bs[@]}")
done
need_bins "${allbins[@]}"
need_tool setcap libcap2-bin
mkdir -p "$OUT" "$STATE"
take_lock "$NODES_CACHE/images.lock" 8
ROOTFS="${KU_NODES_ROOTFS:-}"
for img in "${sel[@]}"; do
  case "$img" in kube-proxy:*)
    [ -n "$ROOTFS" ] || ROOTFS=$(bash "$here/build-rootfs.sh")
    [ -x "$ROOTFS/usr/sbin/xtables-nft-multi" ] || die "no iptables in the node rootfs $ROOTFS"
    break;;
  esac
done
WORKDIR=$(mktemp -d "$NODES_CACHE/.images-work.XXXXXX")
trap 'rm -rf "$WORKDIR"; rm -rf "$OUT"/.oci.*' EXIT
t0=$(date +%s)
for img in "${sel[@]}"; do
  name="${img%%:*}" tag="${img#*:}" tar="$OUT/${img%%:*}_${img#*:}.tar"
  read -r -a bs <<<"$(bins_of "$img")"
  ids=()
  for b in "${bs[@]}"; do ids+=("$(file_ids "$BIN/$b")"); done
  [ -f /etc/ssl/certs/ca-certificates.crt ] && ids+=("$(file_ids /etc/ssl/certs/ca-certificates.crt)")
  [ "$name" = busybox ] && ids+=("$(file_ids "$BUSYBOX")")
  # kube-proxy: the versions of the rootfs packages its iptables layer is made of (not the rootfs
  # path: a rebuilt rootfs with the same packages keeps the image)
  [ "$name" = kube-proxy ] && ids+=("$(dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f '${Package}=${Version} ' \
    iptables libxtables12 libip4tc2 libip6tc2 libnftnl11 libmnl0 libnetfilter-conntrack3 libnfnetlink0 conntrack libc6 2>/dev/null || true)")
  key=$(input_key "$img" "${ids[@]}")
  if [ -f "$tar" ] && [ "$(cat "$STATE/image-${name}_$tag.key" 2>/dev/null)" = "$key" ]; then
    log "$REGISTRY/$img: cached ($(du -h "$tar" | cut -f1))"
  else
    timed "$REGISTRY/$img" build_image "$img"
    echo "$key" > "$STATE/image-${name}_$tag.key"
    log "  $tar ($(du -h "$tar" | cut -f1))"
  fi
  echo "image=$tar"
done
log "${#sel[@]} images ready in $(( $(date +%s) - t0 ))s: $OUT"
