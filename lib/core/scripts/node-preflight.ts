/**
 * The per-node preflight, rendered from typed options: a POSIX sh script that checks, before the
 * node is drained, what would make its upgrade fail or leave it with a dead kubelet, and changes
 * nothing on the node. Each failure is one line naming the node, the check and the fix:
 *
 *   kube-upkeep preflight: node w-1: FAIL packages: kubeadm 1.35.4-* is not in ... Fix: ...
 *
 * Checks (each can be turned off in `checks`):
 *
 * - `packages`: kubeadm, kubelet (and kubectl when it is upgraded) at the package version exist
 *   in the repository the upgrade will use, i.e. after the `packageRepository` switch. The switch
 *   is done in a private temp dir only: apt reads a temporary sources list and keeps its package
 *   lists there (`-o Dir::Etc::SourceList=... -o Dir::Etc::SourceParts=... -o
 *   Dir::State::Lists=...`, pkgcache off), then `apt-cache madison`; yum/dnf read a temporary
 *   repository dir (`--setopt=reposdir=`, `--setopt=cachedir=`), then `list --showduplicates`.
 *   The target's key is fetched into the temp dir too.
 * - `cgroup` (targets >= 1.35 only): the node has cgroup v2 (`/sys/fs/cgroup/cgroup.controllers`),
 *   or the kubelet configuration sets `failCgroupV1: false`; kubelet 1.35 refuses to start on
 *   cgroup v1 otherwise (KEP-5573).
 * - `disk`: at least `minFreeDiskMiB` free on each filesystem holding the package downloads
 *   (/var/cache/apt/archives, /var/cache/dnf or /var/cache/yum), the package files (/usr/bin), the
 *   kubelet (/var/lib/kubelet) and the images (the containerd root from
 *   /etc/containerd/config.toml, default /var/lib/containerd); on a node with local etcd data
 *   (/var/lib/etcd/member) also room on /etc/kubernetes for kubeadm's copy of it (kubeadm upgrade
 *   backs up the etcd data to /etc/kubernetes/tmp before it upgrades etcd) plus the minimum.
 * - `swap`: no active swap (/proc/swaps), or the kubelet configuration sets `failSwapOn: false`.
 * - `containerRuntime`: `crictl info` answers on the kubelet's runtime endpoint
 *   (`containerRuntimeEndpoint` of the kubelet configuration, else kubeadm-flags.env, else
 *   containerd's socket); without crictl, the socket exists (and `ctr version` answers for
 *   containerd when ctr is there).
 *
 * A node whose `kubelet --version` already reports the target passes at once (the upgrade script
 * skips it too), so a re-run after a finished upgrade checks nothing. The kubelet configuration
 * read is the node's file (/var/lib/kubelet/config.yaml): `kubeadm upgrade node` rewrites it from
 * the cluster's kubelet-config ConfigMap, so a setting made only in the file is lost in the
 * upgrade; set it in the ConfigMap (kubeadm's KubeletConfiguration).
 *
 * Every value reaching the script is validated and quoted.
 */
import { ValidationError } from "../errors";
import { renderRepositoryProbe } from "./package-repository";
import {
  asRootFunction,
  resolvePackageSettings,
  type NodeUpgradeScriptOptions,
} from "./node-upgrade";
import { shArg, shq, validateAbsolutePath, validateDnsName, validateInteger } from "./shell";

/** The checks of the preflight, each on unless set to false. */
export interface NodePreflightChecks {
  /** The target packages exist in the repository the upgrade will use. @default true */
  readonly packages?: boolean;
  /** cgroup v2 (or `failCgroupV1: false`) for targets >= 1.35. @default true */
  readonly cgroup?: boolean;
  /** Free disk for packages, images and kubeadm's etcd backup. @default true */
  readonly disk?: boolean;
  /** Swap off, or `failSwapOn: false`. @default true */
  readonly swap?: boolean;
  /** The container runtime answers. @default true */
  readonly containerRuntime?: boolean;
}

/** The names of the checks, in the order they run. */
export const PREFLIGHT_CHECKS = ["packages", "cgroup", "disk", "swap", "containerRuntime"] as const;

/** Options of the preflight that are not the upgrade script's. */
export interface NodePreflightOptions {
  /** Checks to run (each on unless false). */
  readonly checks?: NodePreflightChecks;
  /**
   * Minimum free space, in MiB, on each filesystem the upgrade writes to (package downloads and
   * files, kubelet, container images). 2 GiB: the three packages take about 40 MiB to download and
   * 250 MiB installed, a minor's control-plane images several hundred MiB (compressed in the
   * content store plus unpacked), and the kubelet's default hard eviction thresholds
   * (nodefs.available 10%, imagefs.available 15%) must not be reached while they are pulled.
   * @default 2048
   */
  readonly minFreeDiskMiB?: number;
  /**
   * The kubelet configuration file read for `failCgroupV1`, `failSwapOn` and
   * `containerRuntimeEndpoint`.
   * @default "/var/lib/kubelet/config.yaml" (kubeadm's)
   */
  readonly kubeletConfigPath?: string;
}

export interface NodePreflightScriptOptions
  extends Omit<NodeUpgradeScriptOptions, "mode">, NodePreflightOptions {
  /** The Kubernetes node name (for the messages). */
  readonly nodeName: string;
}

const WHERE = "renderNodePreflightScript";

/** Whether kubeadm is told to skip its SystemVerification check (`all` included). */
function ignoresSystemVerification(flags: readonly string[]): boolean {
  return flags.some((f) => {
    const m = /^--ignore-preflight-errors=(.*)$/.exec(f);
    return m !== null && m[1].split(",").some((c) => /^(systemverification|all)$/i.test(c));
  });
}

/** Validated and defaulted preflight-only options. */
export function resolvePreflightOptions(
  where: string,
  opts: NodePreflightOptions,
): {
  checks: Record<(typeof PREFLIGHT_CHECKS)[number], boolean>;
  minFreeMiB: number;
  kubeletConfig: string;
} {
  const given = opts.checks ?? {};
  if (typeof given !== "object" || given === null || Array.isArray(given))
    throw new ValidationError(
      where,
      "checks",
      given,
      "not an object of checks",
      `give e.g. { swap: false }; the checks are ${PREFLIGHT_CHECKS.join(", ")}`,
    );
  const checks = {} as Record<(typeof PREFLIGHT_CHECKS)[number], boolean>;
  for (const [k, v] of Object.entries(given)) {
    if (!(PREFLIGHT_CHECKS as readonly string[]).includes(k))
      throw new ValidationError(
        where,
        `checks.${k}`,
        v,
        "unknown check",
        `the checks are ${PREFLIGHT_CHECKS.join(", ")}`,
      );
    if (v !== undefined && typeof v !== "boolean")
      throw new ValidationError(
        where,
        `checks.${k}`,
        v,
        "not a boolean",
        "give false to skip the check, or leave it unset",
      );
  }
  for (const c of PREFLIGHT_CHECKS) checks[c] = (given as NodePreflightChecks)[c] !== false;
  const minFreeMiB = validateInteger(
    where,
    "minFreeDiskMiB",
    opts.minFreeDiskMiB ?? 2048,
    0,
    16 * 1024 * 1024,
  );
  const kubeletConfig = validateAbsolutePath(
    where,
    "kubeletConfigPath",
    opts.kubeletConfigPath ?? "/var/lib/kubelet/config.yaml",
  );
  return { checks, minFreeMiB, kubeletConfig };
}

/** Renders the POSIX sh preflight of one node. Throws ValidationError on bad options. */
export function renderNodePreflightScript(opts: NodePreflightScriptOptions): string {
  const node = validateDnsName(WHERE, "nodeName", opts.nodeName);
  const s = resolvePackageSettings(WHERE, opts);
  const { checks, minFreeMiB, kubeletConfig } = resolvePreflightOptions(WHERE, opts);
  const { target, pm, hostRoot } = s;
  const root = hostRoot;
  const packages = s.kubectl ? ["kubeadm", "kubelet", "kubectl"] : ["kubeadm", "kubelet"];
  const cacheDir =
    pm === "apt" ? "/var/cache/apt/archives" : pm === "dnf" ? "/var/cache/dnf" : "/var/cache/yum";

  const header = [
    "#!/bin/sh",
    `# kube-upkeep preflight of node ${node} for the upgrade to ${target.text} (${pm}).`,
    "# Changes nothing on the node: everything it sets up lives in a temp dir, removed at exit.",
    "# Rendered by kube-upkeep: every value below was validated and quoted.",
    "set -u",
    "",
    `NODE=${shq(node)}`,
    `TARGET=${shq(target.text)}`,
    `PKG_VERSION=${shq(s.pkgVersion)}`,
    ...(pm === "apt" ? [] : [`PM=${shq(pm)}`]),
    `KUBELET_CONFIG=${shArg(root + kubeletConfig)}`,
    `MIN_FREE_MIB=${minFreeMiB}`,
    `HOST_ROOT=${shArg(root)}`,
    "FAILED=0",
    "",
    ...(pm === "apt" ? ["log() { printf 'kube-upkeep preflight: %s\\n' \"$*\" >&2; }"] : []),
    asRootFunction(s.sudo),
  ];
  const sections = [
    header.join("\n") +
      String.raw`
ok() { printf 'kube-upkeep preflight: node %s: ok %s: %s\n' "$NODE" "$1" "$2"; }
fail() {
  FAILED=$((FAILED + 1))
  printf 'kube-upkeep preflight: node %s: FAIL %s: %s. Fix: %s\n' "$NODE" "$1" "$2" "$3" >&2
}
summary() {
  if [ "$FAILED" -gt 0 ]; then
    printf 'kube-upkeep preflight: node %s: %s check(s) failed for the upgrade to %s; nothing was changed and the node was not drained\n' "$NODE" "$FAILED" "$TARGET" >&2
    exit 1
  fi
  printf 'kube-upkeep preflight: node %s: ready for the upgrade to %s\n' "$NODE" "$TARGET"
  exit 0
}

# A node already at the target is skipped by the upgrade script: nothing to check.
kubelet_version=$(kubelet --version 2>/dev/null || true)
if [ "${"${"}kubelet_version##* }" = "$TARGET" ]; then
  ok upgrade "kubelet already at $TARGET: nothing to check (the upgrade leaves this node alone)"
  exit 0
fi
if ! as_root true >/dev/null 2>&1; then
  fail root "cannot run commands as root (sudo -n)" ${shArg("connect as root, or let the SSH user run sudo -n without a password (script.sudo)")}
  summary
fi
T=$(mktemp -d "${"${"}TMPDIR:-/tmp}/kube-upkeep-preflight.XXXXXX") || {
  fail tmp "cannot create a temp dir" "check that ${"${"}TMPDIR:-/tmp} is writable"
  summary
}
trap 'as_root rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP

# The kubelet configuration (read once; missing: the kubelet's defaults apply).
if kcfg=$(as_root cat "$KUBELET_CONFIG" 2>/dev/null); then
  kcfg_note=""
else
  kcfg=""
  kcfg_note=" (there is no $KUBELET_CONFIG: the kubelet defaults apply)"
fi
# true when the kubelet configuration sets top-level key $1 to false
kubelet_false() {
  printf '%s\n' "$kcfg" | grep -Eq "^$1:[[:space:]]*(false|False|FALSE)[[:space:]]*(#.*)?\$"
}`,
  ];

  if (checks.packages)
    sections.push(String.raw`# packages: ${packages.join(", ")} ${s.pkgVersion} in the repository the upgrade will use.
${renderRepositoryProbe(s.repo, pm, target, s.update, root).join("\n")}
if [ "$PROBE_OK" = 1 ]; then
  for p in ${packages.join(" ")}; do
    ku_versions "$p" >"$T/versions-$p" 2>/dev/null || true
    found=""
    while read -r v; do
      v=${"${"}v#*:}
      # shellcheck disable=SC2254 # PKG_VERSION is a pattern (1.35.4-*)
      case "$v" in $PKG_VERSION) found=$v ;; esac
    done <"$T/versions-$p"
    if [ -n "$found" ]; then
      ok packages "$p $found in $PROBE_DESC"
    else
      have=$(head -n 5 "$T/versions-$p" | tr '\n' ' ')
      fail packages "$p $PKG_VERSION is not in $PROBE_DESC (versions there: ${"${"}have:-none})" "publish $p $PKG_VERSION there, give a script.packageVersion the repository has, or point script.packageRepository at a repository that has it"
    fi
  done
fi`);

  if (checks.cgroup && (target.major > 1 || target.minor >= 35))
    // kubeadm's upgrade checks (RunUpgradeChecks, apply and node) fail SystemVerification on
    // cgroup v1 for 1.35 unless told to skip it: known here from the flags the upgrade gets
    sections.push(String.raw`# cgroup: kubelet >= 1.35 refuses to start on cgroup v1 unless failCgroupV1: false (KEP-5573).
if [ -f ${shArg(`${root}/sys/fs/cgroup/cgroup.controllers`)} ]; then
  ok cgroup "cgroup v2"
elif kubelet_false failCgroupV1; then
${
  ignoresSystemVerification(opts.kubeadmFlags ?? [])
    ? String.raw`  ok cgroup "cgroup v1, allowed by failCgroupV1: false in $KUBELET_CONFIG; kubeadm skips SystemVerification (script.kubeadmFlags)"`
    : String.raw`  fail cgroup "cgroup v1 with failCgroupV1: false in $KUBELET_CONFIG: kubelet $TARGET starts, but kubeadm upgrade $TARGET fails its SystemVerification preflight on cgroup v1 unless told to skip it" "add --ignore-preflight-errors=SystemVerification to script.kubeadmFlags (kubeadm asks for this explicit choice), or move the node to cgroup v2"`
}
else
  fail cgroup "the node has cgroup v1 only, and kubelet $TARGET does not start on cgroup v1 unless its configuration sets failCgroupV1: false; $KUBELET_CONFIG does not${"${"}kcfg_note}" "move the node to cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line, reboot), or set failCgroupV1: false in the cluster's KubeletConfiguration (the kubelet-config ConfigMap in kube-system, which kubeadm upgrade node writes to $KUBELET_CONFIG), or turn this check off (preflight.checks.cgroup: false)"
fi`);

  if (checks.disk)
    sections.push(String.raw`# disk: MIN_FREE_MIB free on each filesystem the upgrade writes to (one line per filesystem).
ku_mounts=" "
# $1 path, $2 what it holds; sets ku_free (MiB) and ku_mnt, returns 1 when df cannot tell
ku_df() {
  ku_p=$1
  while [ ! -e "$ku_p" ] && [ "$ku_p" != / ] && [ -n "$ku_p" ]; do ku_p=$(dirname "$ku_p"); done
  ku_line=$(df -Pk "$ku_p" 2>/dev/null | awk 'NR == 2 { print $4, $6 }')
  [ -n "$ku_line" ] || return 1
  ku_free=$((${"${"}ku_line%% *} / 1024))
  ku_mnt=${"${"}ku_line#* }
}
ku_disk() {
  if ! ku_df "$1"; then
    fail disk "df cannot read the filesystem of $1 ($2)" "check the mount"
    return
  fi
  case $ku_mounts in *" $ku_mnt "*) return ;; esac
  ku_mounts="$ku_mounts$ku_mnt "
  if [ "$ku_free" -lt "$MIN_FREE_MIB" ]; then
    fail disk "only $ku_free MiB free on $ku_mnt ($2: $1), less than $MIN_FREE_MIB MiB" "free space there (apt-get clean / dnf clean packages, crictl rmi --prune, old logs), or lower preflight.minFreeDiskMiB"
  else
    ok disk "$ku_free MiB free on $ku_mnt ($2)"
  fi
}
ku_croot=$(awk -F'"' '/^[[:space:]]*\[/ { exit } /^[[:space:]]*root[[:space:]]*=/ { print $2; exit }' ${shArg(`${root}/etc/containerd/config.toml`)} 2>/dev/null)
ku_disk ${shArg(root + cacheDir)} "package downloads"
ku_disk ${shArg(`${root}/usr/bin`)} "package files"
ku_disk ${shArg(`${root}/var/lib/kubelet`)} "kubelet"
ku_disk "$HOST_ROOT${"${"}ku_croot:-/var/lib/containerd}" "container images"
# kubeadm upgrade copies the local etcd data to /etc/kubernetes/tmp before it upgrades etcd
if [ -d ${shArg(`${root}/var/lib/etcd/member`)} ]; then
  ku_etcd_kib=$(as_root du -sk ${shArg(`${root}/var/lib/etcd`)} 2>/dev/null | awk '{ print $1 }')
  ku_etcd_mib=$((${"${"}ku_etcd_kib:-0} / 1024))
  ku_need=$((ku_etcd_mib + MIN_FREE_MIB))
  if ! ku_df ${shArg(`${root}/etc/kubernetes/tmp`)}; then
    fail disk "df cannot read the filesystem of /etc/kubernetes" "check the mount"
  elif [ "$ku_free" -lt "$ku_need" ]; then
    fail disk "kubeadm upgrade copies the etcd data (/var/lib/etcd, $ku_etcd_mib MiB) to /etc/kubernetes/tmp first: $ku_free MiB free on $ku_mnt, $ku_need MiB wanted (the copy plus $MIN_FREE_MIB MiB)" "free space on $ku_mnt, e.g. remove old /etc/kubernetes/tmp/kubeadm-backup-* directories (keep the newest), or lower preflight.minFreeDiskMiB"
  else
    ok disk "$ku_free MiB free on $ku_mnt for kubeadm's copy of the etcd data ($ku_etcd_mib MiB)"
  fi
fi`);

  if (checks.swap) {
    const swaps = shArg(`${root}/proc/swaps`);
    sections.push(String.raw`# swap: the kubelet does not start with swap on unless failSwapOn: false.
ku_swaps=0
if [ -r ${swaps} ]; then ku_swaps=$(awk 'NR > 1 && NF > 0 { n++ } END { print n + 0 }' ${swaps}); fi
if [ "$ku_swaps" -eq 0 ]; then
  ok swap "no swap active"
elif kubelet_false failSwapOn; then
  ok swap "$ku_swaps swap area(s) active, allowed by failSwapOn: false in $KUBELET_CONFIG"
else
  fail swap "$ku_swaps swap area(s) active (/proc/swaps) and $KUBELET_CONFIG does not set failSwapOn: false${"${"}kcfg_note}: the kubelet would not start" "turn swap off (swapoff -a, and remove it from /etc/fstab), or allow it with failSwapOn: false (and memorySwap.swapBehavior) in the cluster's KubeletConfiguration, or turn this check off (preflight.checks.swap: false)"
fi`);
  }

  if (checks.containerRuntime)
    sections.push(String.raw`# containerRuntime: the runtime the kubelet uses answers.
ku_endpoint=$(printf '%s\n' "$kcfg" | sed -nE 's/^containerRuntimeEndpoint:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' | head -n 1)
if [ -z "$ku_endpoint" ]; then
  ku_endpoint=$(sed -nE 's/.*--container-runtime-endpoint[= ]"?([^" ]+).*/\1/p' ${shArg(`${root}/var/lib/kubelet/kubeadm-flags.env`)} 2>/dev/null | head -n 1)
fi
ku_endpoint=${"${"}ku_endpoint:-unix:///var/run/containerd/containerd.sock}
ku_socket="$HOST_ROOT${"${"}ku_endpoint#unix://}"
if command -v crictl >/dev/null 2>&1; then
  if as_root crictl --runtime-endpoint "$ku_endpoint" --timeout 10s info >/dev/null 2>"$T/crictl.err" </dev/null; then
    ok containerRuntime "crictl info answers on $ku_endpoint"
  else
    fail containerRuntime "crictl info on $ku_endpoint failed: $(head -n 2 "$T/crictl.err" | tr '\n' ' ')" "start the container runtime (systemctl status containerd), or fix the kubelet's containerRuntimeEndpoint"
  fi
elif [ -S "$ku_socket" ]; then
  case $ku_socket in
    *containerd*)
      if command -v ctr >/dev/null 2>&1; then
        if as_root ctr --address "$ku_socket" version >/dev/null 2>"$T/ctr.err" </dev/null; then
          ok containerRuntime "ctr version answers on $ku_socket (no crictl)"
        else
          fail containerRuntime "ctr version on $ku_socket failed: $(head -n 2 "$T/ctr.err" | tr '\n' ' ')" "start containerd (systemctl status containerd)"
        fi
      else
        ok containerRuntime "CRI socket $ku_socket exists (neither crictl nor ctr to ask it)"
      fi
      ;;
    *) ok containerRuntime "CRI socket $ku_socket exists (no crictl to ask it)" ;;
  esac
else
  fail containerRuntime "no CRI socket at $ku_socket and no crictl to ask the runtime" "start the container runtime (systemctl start containerd), or install crictl (cri-tools)"
fi`);

  return [...sections, "summary\n"].join("\n\n");
}
