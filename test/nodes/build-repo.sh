#!/usr/bin/env bash
# Builds a package repository shaped like pkgs.k8s.io from the cached binaries, one flat apt
# repository per minor, and caches it (rebuilt only when its inputs change):
#
#   $KU_CACHE/nodes/repo/core:/stable:/v1.34/deb/{InRelease,Release,Release.gpg,Release.key,Packages,Packages.gz,amd64/*.deb}
#   $KU_CACHE/nodes/repo/core:/stable:/v1.35/deb/...
#
# Served as the root of an HTTP server, a node uses it exactly as the official install guide says:
#   curl -fsSL http://<ip>:<port>/core:/stable:/v1.35/deb/Release.key | gpg --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
#   deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] http://<ip>:<port>/core:/stable:/v1.35/deb/ /
#
# Usage: test/nodes/build-repo.sh [v1.34|v1.35 ...]   (default: the minors of FROM and TO)
# Prints on stdout: repo=<directory to serve>, keyring=<dearmored keyring>, and one
# minor=<vX.Y> <packages> line per minor. Everything else goes to stderr. See README.md here.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_TAG=nodes-repo # the log prefix (build-common.sh)
export BUILD_TAG
# shellcheck source=test/nodes/common.sh
. "$here/common.sh"

REPO="$NODES_CACHE/repo"
GNUPGHOME="$NODES_CACHE/gnupg"
KEYRING="$NODES_CACHE/kubernetes-apt-keyring.gpg"
REV="${NODES_DEB_REVISION:-1.1}" # pkgs.k8s.io's Debian revision: 1.35.4-1.1
export GNUPGHOME
umask 022 # package files 0644 / 0755 as the official packages'

# the versions in the repository (one patch per minor) and which minors to build
VERSIONS=("$NODES_FROM_VERSION" "$KUBERNETES_VERSION")
want=("$@")
[ ${#want[@]} -eq 0 ] && for v in "${VERSIONS[@]}"; do want+=("$(minor_of "$v")"); done
sel=()
for m in "${want[@]}"; do
  found=""
  for v in "${VERSIONS[@]}"; do [ "$(minor_of "$v")" = "$m" ] && { sel+=("$v"); found=1; }; done
  [ -n "$found" ] || die "no version for minor $m (versions: ${VERSIONS[*]})"
done

mkdir -p "$NODES_CACHE" "$STATE" "$REPO"
take_lock "$NODES_CACHE/repo.lock" 8
need_tool dpkg-deb dpkg
need_tool apt-ftparchive apt-utils
need_tool gpg gnupg

# Packages per version: kubeadm and kubelet always; kubectl where its binary is cached (TO: always,
# build.sh's default set builds it; FROM: build.sh nodes does not build kubectl-v1.34.x, so the
# FROM repository has no kubectl unless someone builds it - README.md).
packages_of() {
  local v="$1"
  if [ "$v" = "$KUBERNETES_VERSION" ] || [ -x "$BIN/kubectl-$v" ]; then echo kubeadm kubelet kubectl; else echo kubeadm kubelet; fi
}

# --- the signing key: generated once, cached -----------------------------------------------------
# gpg starts a gpg-agent for the secret key; stop ours when this script ends.
stop_agent() { gpgconf --kill gpg-agent 2>/dev/null || true; }
ensure_key() {
  if [ ! -s "$GNUPGHOME/fingerprint" ]; then
    rm -rf "$GNUPGHOME"; mkdir -m 700 "$GNUPGHOME"
    gpg --batch --quiet --passphrase '' --quick-generate-key \
      "kube-upkeep test package repository <packages@kube-upkeep.local>" rsa3072 sign never
    gpg --batch --no-auto-check-trustdb --with-colons --list-secret-keys | awk -F: '/^fpr:/ && !n++ { print $10 }' > "$GNUPGHOME/fingerprint"
  fi
  FPR=$(cat "$GNUPGHOME/fingerprint")
  # the keyring the install guide makes with `curl .../Release.key | gpg --dearmor`
  if [ ! -s "$KEYRING" ] || [ "$KEYRING" -ot "$GNUPGHOME/fingerprint" ]; then
    gpg --batch --export "$FPR" > "$KEYRING.tmp" && mv "$KEYRING.tmp" "$KEYRING"
  fi
}

# --- packages ------------------------------------------------------------------------------------

# The kubelet unit and the kubeadm drop-in as the official packages install them (kubernetes/release
# cmd/krel/templates/latest/kubelet/kubelet.service and kubeadm/10-kubeadm.conf; the deb build of
# kubeadm.spec rewrites /etc/sysconfig/kubelet to /etc/default/kubelet).
kubelet_service() {
  cat <<'EOF'
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
}
kubeadm_dropin() {
  cat <<'EOF'
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
EOF
}

# The kubelet spec's %post / %preun / %postun (systemd_post, systemd_preun, systemd_postun: enable by
# preset on first install, disable and stop on removal, never restart on upgrade), as maintainer
# scripts. A daemon-reload where systemd runs, as Debian's systemd triggers would.
kubelet_postinst() {
  cat <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -z "$2" ] && command -v systemctl >/dev/null 2>&1; then
  systemctl --no-reload preset kubelet.service >/dev/null 2>&1 || true
fi
if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null 2>&1 || true; fi
EOF
}
kubelet_prerm() {
  cat <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && command -v systemctl >/dev/null 2>&1; then
  systemctl --no-reload disable --now kubelet.service >/dev/null 2>&1 || true
fi
EOF
}
kubelet_postrm() {
  cat <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null 2>&1 || true; fi
EOF
}

# build_deb <name> <version> <out dir>: one .deb as the official package (files, modes, control).
build_deb() {
  local name="$1" v="$2" out="$3" ver root section summary depends=""
  ver="${v#v}-$REV"
  root=$(mktemp -d "$WORKDIR/$name.XXXXXX"); chmod 755 "$root"
  mkdir -p "$root/DEBIAN" "$root/usr/bin"
  install -m 755 "$BIN/$name-$v" "$root/usr/bin/$name"
  case "$name" in
    kubeadm)
      section=admin summary="Command-line utility for administering a Kubernetes cluster"
      mkdir -p "$root/usr/lib/systemd/system/kubelet.service.d"
      kubeadm_dropin > "$root/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
      ;;
    kubelet)
      section=net summary="Node agent for Kubernetes clusters"
      # official: iptables (>= 1.4.21), kubernetes-cni (>= 1.2.0), mount, util-linux; kubernetes-cni
      # is left out: the nodes use Debian's containernetworking-plugins (README.md)
      depends="iptables (>= 1.4.21), mount, util-linux"
      mkdir -p "$root/usr/lib/systemd/system" "$root/etc/default" "$root/var/lib/kubelet" "$root/etc/kubernetes/manifests"
      kubelet_service > "$root/usr/lib/systemd/system/kubelet.service"
      echo "KUBELET_EXTRA_ARGS=" > "$root/etc/default/kubelet"
      # the official spec: "Required because dpkg-deb doesn't keep empty directories"
      : > "$root/var/lib/kubelet/.kubelet-keep"; : > "$root/etc/kubernetes/manifests/.kubelet-keep"
      echo /etc/default/kubelet > "$root/DEBIAN/conffiles"
      kubelet_postinst > "$root/DEBIAN/postinst"; kubelet_prerm > "$root/DEBIAN/prerm"; kubelet_postrm > "$root/DEBIAN/postrm"
      chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
      ;;
    kubectl) section=admin summary="Command-line utility for interacting with a Kubernetes cluster";;
    *) die "unknown package $name";;
  esac
  {
    echo "Package: $name"
    echo "Version: $ver"
    echo "Architecture: amd64"
    echo "Maintainer: Kubernetes Authors <dev@kubernetes.io>"
    echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
    [ -n "$depends" ] && echo "Depends: $depends"
    echo "Section: $section"
    echo "Priority: optional"
    echo "Homepage: https://kubernetes.io"
    echo "Description: $summary"
    echo " $summary."
  } > "$root/DEBIAN/control"
  # Reproducible: every mtime (and dpkg-deb's ar / tar times) = the binary's, so a rebuild with the
  # same inputs gives the same bytes (a node that read the old Packages still gets matching debs).
  # gzip, not dpkg's default xz: 60-100 MB binaries, 2 shared cores (xz takes minutes per package)
  local epoch; epoch=$(stat -c %Y "$BIN/$name-$v")
  find "$root" -exec touch -h -d "@$epoch" {} +
  SOURCE_DATE_EPOCH=$epoch nice -n 10 dpkg-deb --root-owner-group -Zgzip -z6 --build "$root" "$out/${name}_${ver}_amd64.deb" >/dev/null
  rm -rf "$root"
}

# --- one repository per minor ----------------------------------------------------------------------

build_minor() {
  local v="$1" m dir key pkgs p bins=() tmp
  m=$(minor_of "$v")
  dir="$REPO/core:/stable:/$m/deb"
  read -r -a pkgs <<<"$(packages_of "$v")"
  for p in "${pkgs[@]}"; do bins+=("$p-$v"); done
  need_bins "${bins[@]}"
  local ids=()
  for p in "${bins[@]}"; do ids+=("$(file_ids "$BIN/$p")"); done
  key=$(input_key "$v" "$REV" "$FPR" "${ids[@]}")
  if [ -f "$dir/InRelease" ] && [ "$(cat "$STATE/repo-$m.key" 2>/dev/null)" = "$key" ]; then
    log "repository $m ($v: ${pkgs[*]}): cached"
  else
    tmp="$REPO/core:/stable:/.$m.tmp"
    rm -rf "$tmp"; mkdir -p "$tmp/amd64"
    for p in "${pkgs[@]}"; do timed "${p}_${v#v}-${REV}_amd64.deb" build_deb "$p" "$v" "$tmp/amd64"; done
    timed "index + signatures of $m" index_and_sign "$tmp" "$m"
    mkdir -p "${dir%/deb}"; rm -rf "$dir.old"
    if [ -d "$dir" ]; then mv "$dir" "$dir.old"; fi
    mv "$tmp" "$dir"; rm -rf "$dir.old"
    echo "$key" > "$STATE/repo-$m.key"
  fi
  echo "minor=$m ${pkgs[*]}"
}

# index_and_sign <dir> <minor>: Packages, Packages.gz, Release (Origin and Label as pkgs.k8s.io's,
# so apt-cache policy reads the same), InRelease (clearsigned), Release.gpg (detached), Release.key.
index_and_sign() {
  local d="$1" m="$2"
  ( cd "$d"
    apt-ftparchive packages amd64 > Packages 2>/dev/null
    gzip -9 -n -k Packages
    apt-ftparchive \
      -o "APT::FTPArchive::Release::Origin=obs://build.opensuse.org/isv:kubernetes:core:stable:$m/deb" \
      -o "APT::FTPArchive::Release::Label=isv:kubernetes:core:stable:$m" \
      -o APT::FTPArchive::Release::Architectures=amd64 \
      release . > ../".Release.$m"
    mv ../".Release.$m" Release
    gpg --batch --yes --local-user "$FPR" --digest-algo SHA256 --clearsign -o InRelease Release
    gpg --batch --yes --local-user "$FPR" --digest-algo SHA256 --armor --detach-sign -o Release.gpg Release
    gpg --batch --armor --export "$FPR" > Release.key )
}

WORKDIR=$(mktemp -d "$NODES_CACHE/.repo-work.XXXXXX")
trap 'stop_agent; rm -rf "$WORKDIR"' EXIT
t0=$(date +%s)
if [ -s "$GNUPGHOME/fingerprint" ]; then ensure_key; log "signing key $FPR: cached ($GNUPGHOME)"
else timed "signing key (gpg, rsa3072, no passphrase, $GNUPGHOME)" ensure_key; fi
for v in "${sel[@]}"; do build_minor "$v"; done
log "repository ready in $(( $(date +%s) - t0 ))s: $REPO (key $FPR)"
echo "repo=$REPO"
echo "keyring=$KEYRING"
