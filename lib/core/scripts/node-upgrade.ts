/**
 * The per-node upgrade script, rendered from typed options. It follows the official kubeadm
 * order (https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/):
 *
 * 0. point the package repository at the target minor (`packageRepository`, see
 *    ./package-repository.ts: pkgs.k8s.io has one repository per minor), refreshing the index
 *    when that changed a file;
 * 1. upgrade the kubeadm package (apt: `apt-mark unhold` / `apt-get install kubeadm=<ver>` /
 *    `apt-mark hold`; yum/dnf: `install kubeadm-<ver> --disableexcludes=kubernetes`);
 *    then keep the kubelet's config.yaml and kubeadm-flags.env as `<file>.kube-upkeep-<from>.save`
 *    (once), which the rollback restores (./node-rollback.ts);
 * 2. `kubeadm upgrade apply vX.Y.Z -y` on the first control-plane node, `kubeadm upgrade node`
 *    everywhere else;
 * 3. upgrade the kubelet and kubectl packages, pinned to the same version;
 * 4. `systemctl daemon-reload` and `systemctl restart kubelet`;
 * 5. check that `kubelet --version` reports the target.
 *
 * Work already done is skipped: when `kubelet --version` already reports the target the script
 * exits 0 without touching anything (a re-run after success); when `kubeadm version` already
 * reports it, the kubeadm package step is skipped (a re-run after a later step failed).
 *
 * Drain placement: the official worker procedure drains between `kubeadm upgrade node` and the
 * kubelet upgrade. kube-upkeep drains *before* this script (drain -> script -> wait Ready at the
 * target version -> uncordon): the script then runs as one unit on an empty node, a failure in
 * the package step leaves the node drained rather than half-upgraded with workloads on it, and the
 * same order holds for control-plane nodes (which the official guide drains before
 * `kubeadm upgrade node` too). The cost is that the node is out a little longer (the kubeadm
 * package download and `kubeadm upgrade node`, which only rewrites local config on workers).
 *
 * Every value reaching the script is validated against a strict pattern and quoted with `shq`.
 */
import { ValidationError } from "../errors";
import { parseKubeVersion, type KubeVersion } from "../version";
import {
  renderRepositorySwitch,
  resolvePackageRepository,
  type PackageRepository,
  type ResolvedPackageRepository,
} from "./package-repository";
import { shq, validateAbsolutePath } from "./shell";

export type PackageManager = "apt" | "yum" | "dnf";

export interface NodeUpgradeScriptOptions {
  /** The Kubernetes version to upgrade to, "v1.35.4" or "1.35.4". */
  readonly targetVersion: string;
  /**
   * `apply` runs `kubeadm upgrade apply <target> -y` (the first control-plane node only);
   * `node` runs `kubeadm upgrade node` (other control-plane nodes and workers).
   */
  readonly mode: "apply" | "node";
  /** @default "apt" */
  readonly packageManager?: PackageManager;
  /**
   * The package version to install. apt on pkgs.k8s.io: "1.35.4-1.1"; rpm: "1.35.4-150500.1.1".
   * A trailing "*" glob is allowed, as in the official docs.
   * @default "<major.minor.patch>-*" (the newest package build of the target)
   */
  readonly packageVersion?: string;
  /**
   * Refresh the package index first (`apt-get update`; yum/dnf refresh metadata on their own).
   * @default true
   */
  readonly updatePackageIndex?: boolean;
  /**
   * Also upgrade kubectl (pinned with kubelet, as the official procedure does).
   * @default true
   */
  readonly upgradeKubectl?: boolean;
  /**
   * How to gain root: "auto" uses `sudo -n` when not running as uid 0, "always" always uses it,
   * "never" runs commands directly.
   * @default "auto"
   */
  readonly sudo?: "auto" | "always" | "never";
  /**
   * Extra flags for `kubeadm upgrade apply|node`, e.g. ["--certificate-renewal=false"].
   * Each must look like `--name` or `--name=value` (value of [A-Za-z0-9._,:=/-]).
   * @default []
   */
  readonly kubeadmFlags?: readonly string[];
  /**
   * The Kubernetes package repository to install from (pkgs.k8s.io has one per minor):
   * - `"auto"`: pkgs.k8s.io-shaped entries (`.../core:/stable:/vX.Y/deb/`, rpm `.../rpm/`, any
   *   host) of another minor move to the target's, keyring included; none: sources untouched;
   * - a URL, `{minor}` replaced by e.g. `v1.35` (`"http://10.0.0.1:8080/core:/stable:/{minor}/deb/"`):
   *   kube-upkeep writes `sources.list.d/kubernetes.list` (key `<url>Release.key`) or
   *   `/etc/yum.repos.d/kubernetes.repo` (key `<url>repodata/repomd.xml.key`) for it;
   * - `false` / `"leave"`: the sources are left alone (custom mirrors).
   * A changed file is kept as `<file>.kube-upkeep-<from minor>.save`. See ./package-repository.ts.
   * @default "auto"
   */
  readonly packageRepository?: PackageRepository;
  /**
   * @internal For tests: a directory prefixed to the fixed host paths the scripts read or write
   * that apt's configuration does not name (/etc/yum.repos.d, /sys/fs/cgroup, /proc/swaps, ...).
   * @default "" (the host's own paths)
   */
  readonly hostRoot?: string;
}

/**
 * The suffix the upgrade script keeps a kubelet file's pre-upgrade copy under (`version` may be a
 * shell expansion such as "$from_version").
 */
export function kubeletSaveSuffix(version: string): string {
  return `.kube-upkeep-${version}.save`;
}

/** The files of /var/lib/kubelet the upgrade keeps and the rollback restores. */
export const KUBELET_KEPT_FILES = "config.yaml kubeadm-flags.env";

const WHERE = "renderNodeUpgradeScript";

/** The package settings shared by the upgrade script and the preflight, validated and defaulted. */
export interface ResolvedPackageSettings {
  readonly target: KubeVersion;
  readonly pm: PackageManager;
  readonly sudo: "auto" | "always" | "never";
  readonly pkgVersion: string;
  readonly update: boolean;
  readonly kubectl: boolean;
  readonly repo: ResolvedPackageRepository;
  readonly hostRoot: string;
}

/**
 * Validates and defaults the options both the upgrade script and the preflight use (target,
 * package manager, package version, sudo, repository). Throws ValidationError of `where`.
 */
export function resolvePackageSettings(
  where: string,
  opts: Omit<NodeUpgradeScriptOptions, "mode" | "kubeadmFlags">,
): ResolvedPackageSettings {
  const target = parseKubeVersion(opts.targetVersion, where, "targetVersion");
  const pm = opts.packageManager ?? "apt";
  if (pm !== "apt" && pm !== "yum" && pm !== "dnf") {
    throw new ValidationError(
      where,
      "packageManager",
      pm,
      "unsupported package manager",
      'use "apt", "yum" or "dnf", or override the command',
    );
  }
  const sudo = opts.sudo ?? "auto";
  if (!["auto", "always", "never"].includes(sudo)) {
    throw new ValidationError(
      where,
      "sudo",
      sudo,
      "unknown value",
      'use "auto", "always" or "never"',
    );
  }
  const pkgVersion = validatePackageVersion(where, opts.packageVersion ?? `${target.semver}-*`);
  if (!pkgVersion.startsWith(`${target.semver}-`) && pkgVersion !== target.semver) {
    throw new ValidationError(
      where,
      "packageVersion",
      pkgVersion,
      `does not match targetVersion ${target.text}`,
      `give a version starting with "${target.semver}-"`,
    );
  }
  const repo = resolvePackageRepository(where, "packageRepository", opts.packageRepository, target);
  const hostRoot =
    opts.hostRoot === undefined || opts.hostRoot === ""
      ? ""
      : validateAbsolutePath(where, "hostRoot", opts.hostRoot);
  return {
    target,
    pm,
    sudo: sudo as ResolvedPackageSettings["sudo"],
    pkgVersion,
    update: opts.updatePackageIndex ?? true,
    kubectl: opts.upgradeKubectl ?? true,
    repo,
    hostRoot,
  };
}

/** `as_root`: runs a command as root the way `sudo` says. */
export function asRootFunction(sudo: "auto" | "always" | "never"): string {
  if (sudo === "never") return 'as_root() { "$@"; }';
  if (sudo === "always") return 'as_root() { sudo -n "$@"; }';
  return 'as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }';
}

function validatePackageVersion(where: string, value: string): string {
  if (
    typeof value !== "string" ||
    !/^[0-9][0-9A-Za-z.+~:_-]*\*?$/.test(value) ||
    value.length > 64
  ) {
    throw new ValidationError(
      where,
      "packageVersion",
      value,
      "not a package version",
      'give a version such as "1.35.4-1.1" (apt), "1.35.4-150500.1.1" (rpm) or "1.35.4-*"',
    );
  }
  return value;
}

function validateKubeadmFlag(value: string, i: number): string {
  if (typeof value !== "string" || !/^--[a-z][a-z0-9-]*(=[A-Za-z0-9._,:=/-]+)?$/.test(value)) {
    throw new ValidationError(
      WHERE,
      `kubeadmFlags[${i}]`,
      value,
      "not a kubeadm flag",
      'write it as "--name" or "--name=value"',
    );
  }
  return value;
}

/** Renders the POSIX sh script that upgrades one node. Throws ValidationError on bad options. */
export function renderNodeUpgradeScript(opts: NodeUpgradeScriptOptions): string {
  if (opts.mode !== "apply" && opts.mode !== "node") {
    parseKubeVersion(opts.targetVersion, WHERE, "targetVersion");
    throw new ValidationError(WHERE, "mode", opts.mode, "unknown mode", 'use "apply" or "node"');
  }
  const { target, pm, sudo, pkgVersion, update, kubectl, repo, hostRoot } = resolvePackageSettings(
    WHERE,
    opts,
  );
  const flags = (opts.kubeadmFlags ?? []).map(validateKubeadmFlag);
  const nodePkgs = kubectl ? ["kubelet", "kubectl"] : ["kubelet"];

  const L: string[] = [];
  L.push(
    "#!/bin/sh",
    `# kube-upkeep node upgrade to ${target.text} (kubeadm upgrade ${opts.mode}, ${pm}).`,
    "# Rendered by kube-upkeep: every value below was validated and quoted.",
    "set -eu",
    "",
    `TARGET=${shq(target.text)}`,
    `PKG_VERSION=${shq(pkgVersion)}`,
    "",
    "log() { printf 'kube-upkeep: %s\\n' \"$*\" >&2; }",
    asRootFunction(sudo),
  );
  L.push(
    "",
    "# Skip everything when a previous run finished: the kubelet is the last thing upgraded.",
    "kubelet_version=$(kubelet --version 2>/dev/null || true)",
    'if [ "${kubelet_version##* }" = "$TARGET" ]; then',
    '  log "kubelet already at $TARGET: nothing to do"',
    "  exit 0",
    "fi",
    'log "kubelet at ${kubelet_version##* }, upgrading to $TARGET"',
    "",
    ...renderRepositorySwitch(repo, pm, target, hostRoot),
    ...(pm === "apt" ? ["index_updated=0"] : []),
    'if [ "$repo_changed" = 1 ]; then',
    ...(pm === "apt"
      ? [
          '  log "package repository changed: refreshing the package index"',
          "  as_root apt-get update",
          "  index_updated=1",
        ]
      : [
          `  log "package repository changed: expiring the ${pm} metadata cache"`,
          `  as_root ${pm} clean expire-cache`,
        ]),
    "fi",
    "",
    "# 1. kubeadm package (skipped when kubeadm is already at the target).",
    "kubeadm_version=$(kubeadm version -o short 2>/dev/null || true)",
    'if [ "$kubeadm_version" = "$TARGET" ]; then',
    '  log "kubeadm already at $TARGET"',
    "else",
  );
  const install = (pkgs: string[], indent: string) => {
    if (pm === "apt") {
      const specs = pkgs.map((p) => `"${p}=$PKG_VERSION"`).join(" ");
      L.push(
        `${indent}as_root apt-mark unhold ${pkgs.join(" ")}`,
        `${indent}as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y ${specs}`,
        `${indent}as_root apt-mark hold ${pkgs.join(" ")}`,
      );
    } else {
      const specs = pkgs.map((p) => `"${p}-$PKG_VERSION"`).join(" ");
      L.push(`${indent}as_root ${pm} install -y ${specs} --disableexcludes=kubernetes`);
    }
  };
  if (pm === "apt" && update)
    L.push('  if [ "$index_updated" = 0 ]; then as_root apt-get update; fi');
  install(["kubeadm"], "  ");
  L.push(
    "  kubeadm_version=$(kubeadm version -o short)",
    '  if [ "$kubeadm_version" != "$TARGET" ]; then',
    '    log "kubeadm reports $kubeadm_version after the package upgrade, expected $TARGET"',
    "    exit 1",
    "  fi",
    "fi",
    "",
  );
  // "--name=value": the name is [a-z0-9-] (bare), the value is quoted on its own.
  const flagText = flags
    .map((f) => {
      const eq = f.indexOf("=");
      return " " + (eq < 0 ? shq(f) : `${shq(f.slice(0, eq))}=${shq(f.slice(eq + 1))}`);
    })
    .join("");
  L.push(
    `# Keep the kubelet's configuration of this version for a rollback (once; node-rollback.ts).`,
    `KUBELET_DIR=${shq(`${hostRoot}/var/lib/kubelet`)}`,
    'from_version="${kubelet_version##* }"',
    "case $from_version in",
    "  v[0-9]*)",
    `    for f in ${KUBELET_KEPT_FILES}; do`,
    `      if [ -f "$KUBELET_DIR/$f" ] && [ ! -e "$KUBELET_DIR/$f${kubeletSaveSuffix("$from_version")}" ]; then`,
    `        as_root cp -p "$KUBELET_DIR/$f" "$KUBELET_DIR/$f${kubeletSaveSuffix("$from_version")}"`,
    "      fi",
    "    done",
    "    ;;",
    "esac",
    "",
  );
  if (opts.mode === "apply") {
    L.push(
      "# 2. First control-plane node: upgrade the control plane.",
      'log "kubeadm upgrade apply $TARGET"',
      `as_root kubeadm upgrade apply "$TARGET" -y${flagText}`,
    );
  } else {
    L.push(
      "# 2. Other nodes: upgrade the local control-plane components / kubelet configuration.",
      'log "kubeadm upgrade node"',
      `as_root kubeadm upgrade node${flagText}`,
    );
  }
  L.push("", `# 3. ${nodePkgs.join(" and ")}, pinned to the same version.`);
  install(nodePkgs, "");
  L.push(
    "",
    "# 4. Restart the kubelet on the new binary.",
    "as_root systemctl daemon-reload",
    "as_root systemctl restart kubelet",
    "",
    "# 5. Check.",
    "kubelet_version=$(kubelet --version)",
    'if [ "${kubelet_version##* }" != "$TARGET" ]; then',
    '  log "kubelet reports ${kubelet_version##* } after the upgrade, expected $TARGET"',
    "  exit 1",
    "fi",
    'log "node upgraded to $TARGET"',
    "",
  );
  return L.join("\n");
}
