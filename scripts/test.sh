#!/usr/bin/env bash
# Every test: type check, lint, unit, integration (real binaries, local control plane).
# Missing binaries are built first (cached under ~/.cache/kube-upkeep; see test/cluster/build.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "== type check"; tsc --noEmit -p tsconfig.json
echo "== lint"; eslint --max-warnings 0 . && prettier --check . >/dev/null
echo "== component binaries"; bash test/cluster/build.sh
export NODE_OPTIONS="${NODE_OPTIONS:-} --experimental-vm-modules --no-warnings=ExperimentalWarning"
echo "== jest"; jest --ci "$@"
