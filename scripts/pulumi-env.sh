#!/usr/bin/env bash
# Source this file: puts the Pulumi engine that test/cluster/build-pulumi.sh built and cached
# first on PATH (with Node.js >= 24, which the language host runs) and makes Pulumi work
# offline: a local file backend, passphrase secrets, no update checks, no plugin downloads
# (the providers are found as ambient plugins on PATH).
# Every variable already set in the environment is kept.
KU_CACHE="${KU_CACHE:-$HOME/.cache/kube-upkeep}"
KU_PULUMI_BIN="$KU_CACHE/pulumi/bin"
_ku_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=node-env.sh
. "$_ku_here/node-env.sh" || return 1 2>/dev/null || exit 1
case ":$PATH:" in
  *":$KU_PULUMI_BIN:"*) ;;
  *) export PATH="$KU_PULUMI_BIN:$PATH" ;;
esac
hash -r
export PULUMI_HOME="${PULUMI_HOME:-$KU_CACHE/pulumi/home}"
export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"
# Default passphrase for test stacks only; set your own (or PULUMI_CONFIG_PASSPHRASE_FILE) for real ones.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE="kube-upkeep-test"
fi
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$KU_CACHE/pulumi/state}"
case "$PULUMI_BACKEND_URL" in
  file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;;
esac
mkdir -p "$PULUMI_HOME"
if [ ! -x "$KU_PULUMI_BIN/pulumi" ] || [ ! -x "$KU_PULUMI_BIN/pulumi-language-nodejs" ]; then
  echo "pulumi-env: the Pulumi engine is not built in $KU_PULUMI_BIN: run bash test/cluster/build-pulumi.sh" >&2
fi
unset _ku_here
