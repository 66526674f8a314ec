#!/usr/bin/env bash
# golden-file frame: the definitions the rendered lines expect
set -euo pipefail
as_root() { "$@"; }
T=$(mktemp -d)
PM=dnf
PROBE_OK=1
log() { printf '%s\n' "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }
YUM_REPOS=/etc/yum.repos.d
REPO_URL=http://10.0.0.1:8080/core:/stable:/v1.35/rpm/
PROBE_OK=1
mkdir -p "$T/repos" "$T/cache"
PROBE_REPOS="$T/repos"
PROBE_DESC=""
printf '%s\n' '[kubernetes]' 'name=Kubernetes' "baseurl=${REPO_URL}" 'enabled=1' 'gpgcheck=1' "gpgkey=${REPO_URL}repodata/repomd.xml.key" 'exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni' >"$T/repos/kubernetes.repo"
PROBE_DESC="$REPO_URL"
if [ -z "$PROBE_DESC" ]; then
  PROBE_REPOS="$YUM_REPOS"
  PROBE_DESC="the node's repositories ($YUM_REPOS)"
fi
ku_versions() {
  as_root "$PM" -q --setopt=reposdir="$PROBE_REPOS" --setopt=cachedir="$T/cache" --disableexcludes=all \
    list --showduplicates "$1" 2>>"$T/rpm.log" </dev/null | awk -v p="$1" 'index($1, p ".") == 1 { print $2 }'
}
echo "$PROBE_OK"
