#!/usr/bin/env bash
# Every test: type check, lint, unit, integration (real binaries, local control plane).
# Missing binaries are built first (cached under ~/.cache/kube-upkeep; see test/cluster/build.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The real nodes' base rootfs is network-bound (debootstrap): built alongside the CPU-bound builds.
rootfs_log=$(mktemp); bash test/nodes/build-rootfs.sh >"$rootfs_log" 2>&1 & rootfs_pid=$!
echo "== type check"; tsc --noEmit -p tsconfig.json
echo "== lint"; eslint --max-warnings 0 . && prettier --check . >/dev/null
echo "== component binaries"; bash test/cluster/build.sh etcd kwok kubernetes nodes
# The Pulumi engine for the engine/e2e tests. The command provider is left out: the Go module
# proxy does not serve github.com/pulumi/pulumi-command/provider (docs/pulumi-engine.md), so the
# e2e tests use the stand-in in test/e2e/command-provider and say so.
echo "== Pulumi engine"; bash test/cluster/build-pulumi.sh cli langhost shim kubernetes
echo "== real-node base rootfs"; wait "$rootfs_pid" || { cat "$rootfs_log"; exit 1; }; tail -1 "$rootfs_log"
export NODE_OPTIONS="${NODE_OPTIONS:-} --experimental-vm-modules --no-warnings=ExperimentalWarning"
echo "== jest"; jest --ci "$@"
