#!/usr/bin/env bash
# Runs a command with Node.js >= 24 first on PATH (installed into the cache by node-env.sh
# when the machine's node is older) and the project's node_modules/.bin.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=node-env.sh
. "$here/node-env.sh"
export PATH="$here/../node_modules/.bin:$PATH"
exec "$@"
