/**
 * The rendered per-node preflight (lib/core/scripts/node-preflight.ts), run with /bin/sh on fake
 * nodes: the node's apt configuration in a temp root (APT_CONFIG, read by the real apt-config),
 * its fixed host paths (/sys/fs/cgroup, /proc/swaps, /var/lib/kubelet, ...) under `hostRoot`, and
 * a PATH of stubs (kubelet, apt-get, apt-cache, dnf, df, crictl, curl, id, sudo) plus links to the
 * few real tools the script needs (sh, grep, sed, awk, ...), so that no other program of the
 * machine runs. Each stub records its argv; apt-get / dnf also save the temporary sources they
 * were pointed at. The apt path against a real apt and a real HTTP repository:
 * test/integration/scripts/package-repository.test.ts.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationError } from "../../../../lib/core/errors";
import {
  renderNodePreflightScript,
  type NodePreflightScriptOptions,
} from "../../../../lib/core/scripts/node-preflight";
import { SHELLCHECK } from "./stubs";

const REAL_TOOLS = [
  "sh",
  "grep",
  "sed",
  "awk",
  "mktemp",
  "head",
  "tr",
  "cat",
  "rm",
  "mkdir",
  "chmod",
  "chown",
  "dirname",
  "cp",
  "du",
  "apt-config",
  "true", // for `sudo -n true`
];

const STUBS: Record<string, string> = {
  kubelet: '[ "$1" = --version ] && echo "Kubernetes ${KUBELET_VERSION:-v1.34.2}"',
  // `id _apt`: no such user here (the probe then leaves the lists dir's owner alone)
  id: 'if [ "$1" = -u ]; then echo "${STUB_UID:-0}"; else exit 1; fi',
  sudo: '[ -z "${SUDO_FAIL:-}" ] || { echo "sudo: a password is required" >&2; exit 1; }\n[ "$1" = -n ] && shift\nexec "$@"',
  curl: 'out=""; url=""; while [ $# -gt 0 ]; do case $1 in -o) out=$2; shift ;; -*) ;; *) url=$1 ;; esac; shift; done\nprintf "KEY OF %s\\n" "$url" > "$out"',
  // saves the temporary sources it was pointed at, then fails with APT_UPDATE_RC
  "apt-get": [
    'for a in "$@"; do case $a in Dir::Etc::SourceParts=*) cat "${a#*=}"*.list > "$OUT/apt-parts" 2>/dev/null ;; esac; done',
    'case " $* " in *" update "*) [ -z "${APT_UPDATE_FAIL:-}" ] || { echo "E: Failed to fetch http://x/InRelease" >&2; exit 100; } ;; esac',
  ].join("\n"),
  "apt-cache":
    'for p in "$@"; do :; done\n[ -f "$VERSIONS/$p" ] && while read -r v; do printf "   %s | %s | https://pkgs.k8s.io/core:/stable:/v1.35/deb  Packages\\n" "$p" "$v"; done < "$VERSIONS/$p"\nexit 0',
  dnf: [
    'for a in "$@"; do case $a in --setopt=reposdir=*) cat "${a#--setopt=reposdir=}"/*.repo > "$OUT/dnf-repos" 2>/dev/null ;; esac; done',
    'for p in "$@"; do :; done',
    'echo "Available Packages"',
    '[ -f "$VERSIONS/$p" ] && while read -r v; do printf "%s.x86_64    %s    kubernetes\\n" "$p" "$v"; done < "$VERSIONS/$p"',
    "exit 0",
  ].join("\n"),
  // df -Pk PATH: DF_<ETC|CONTAINERD>_KIB for those paths (mounted there), else DF_KIB on /
  df: [
    'for p in "$@"; do :; done',
    "mnt=/; kib=${DF_KIB:-10485760}",
    'case $p in *etc/kubernetes*) [ -z "${DF_ETC_KIB:-}" ] || { mnt=/etc/kubernetes; kib=$DF_ETC_KIB; } ;; *containerd*) [ -z "${DF_CONTAINERD_KIB:-}" ] || { mnt=/var/lib/containerd; kib=$DF_CONTAINERD_KIB; } ;; esac',
    'echo "Filesystem 1024-blocks Used Available Capacity Mounted on"',
    'echo "fake 99999999 1 $kib 1% $mnt"',
  ].join("\n"),
  crictl: '[ -z "${CRICTL_FAIL:-}" ] || { echo "connect: connection refused" >&2; exit 1; }',
};

/** The program `name` on this machine's PATH (not a shell builtin of the same name). */
function which(name: string): string {
  for (const d of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const p = path.join(d, name);
    if (d.startsWith("/") && fs.existsSync(p) && fs.statSync(p).isFile()) return p;
  }
  throw new Error(`${name} is not on PATH`);
}

const made: string[] = [];
let sockServer: net.Server | undefined;
afterAll(() => {
  sockServer?.close();
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

interface NodeSetup {
  /** kubernetes.list of the node's apt sources (undefined: none). */
  aptList?: string;
  /** /etc/yum.repos.d/kubernetes.repo */
  yumRepo?: string;
  /** Versions per package the repository "has" (apt-cache madison / dnf list). */
  versions?: Record<string, string[]>;
  cgroupV2?: boolean;
  kubeletConfig?: string;
  swaps?: number;
  files?: Record<string, string>;
  /** stub names left out of PATH (e.g. crictl) */
  without?: string[];
}

function fakeNode(setup: NodeSetup = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-preflight-"));
  made.push(dir);
  const host = path.join(dir, "host");
  const aptRoot = path.join(dir, "apt");
  const parts = path.join(aptRoot, "etc/apt/sources.list.d");
  fs.mkdirSync(parts, { recursive: true });
  fs.mkdirSync(path.join(aptRoot, "etc/apt/apt.conf.d"));
  fs.writeFileSync(path.join(dir, "apt.conf"), `Dir "${aptRoot}/";\n`);
  if (setup.aptList !== undefined)
    fs.writeFileSync(path.join(parts, "kubernetes.list"), setup.aptList);
  const write = (rel: string, content: string) => {
    fs.mkdirSync(path.dirname(path.join(host, rel)), { recursive: true });
    fs.writeFileSync(path.join(host, rel), content);
  };
  if (setup.yumRepo !== undefined) write("etc/yum.repos.d/kubernetes.repo", setup.yumRepo);
  if (setup.cgroupV2 ?? true) write("sys/fs/cgroup/cgroup.controllers", "cpu memory\n");
  write(
    "proc/swaps",
    "Filename Type Size Used Priority\n" + "/swapfile file 1048572 0 -2\n".repeat(setup.swaps ?? 0),
  );
  if (setup.kubeletConfig !== undefined) write("var/lib/kubelet/config.yaml", setup.kubeletConfig);
  for (const [rel, content] of Object.entries(setup.files ?? {})) write(rel, content);
  const versions = path.join(dir, "versions");
  fs.mkdirSync(versions);
  const all = ["kubeadm", "kubelet", "kubectl"];
  for (const p of all)
    fs.writeFileSync(
      path.join(versions, p),
      (setup.versions?.[p] ?? ["1.35.3-1.1", "1.35.4-1.1"]).map((v) => v + "\n").join(""),
    );
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  const log = path.join(dir, "calls.log");
  for (const [name, body] of Object.entries(STUBS)) {
    if (setup.without?.includes(name)) continue;
    fs.writeFileSync(
      path.join(bin, name),
      `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> "$LOG"\n${body}\n`,
      { mode: 0o755 },
    );
  }
  for (const t of REAL_TOOLS) {
    fs.symlinkSync(which(t), path.join(bin, t));
  }
  const out = path.join(dir, "out");
  fs.mkdirSync(out);
  const tmp = path.join(dir, "tmp");
  fs.mkdirSync(tmp);
  return {
    dir,
    host,
    aptRoot,
    out,
    tmp,
    run(o: Partial<NodePreflightScriptOptions> = {}, env: Record<string, string> = {}) {
      fs.writeFileSync(log, "");
      const script = renderNodePreflightScript({
        nodeName: "w-1",
        targetVersion: "v1.35.4",
        hostRoot: host,
        ...o,
      });
      const r = spawnSync(path.join(bin, "sh"), ["-s"], {
        input: script,
        env: {
          PATH: bin,
          LOG: log,
          OUT: out,
          VERSIONS: versions,
          APT_CONFIG: path.join(dir, "apt.conf"),
          TMPDIR: tmp,
          ...env,
        },
        encoding: "utf8",
      });
      const lines = (s: string) => s.split("\n").filter(Boolean);
      return {
        status: r.status,
        stdout: lines(r.stdout),
        stderr: lines(r.stderr),
        calls: lines(fs.readFileSync(log, "utf8")),
      };
    },
    saved: (name: string) => fs.readFileSync(path.join(out, name), "utf8"),
  };
}

/** Every file under the node's apt root and host paths, with content and mtime. */
function snapshot(...roots: string[]): Record<string, string> {
  const res: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) res[p] = `${fs.statSync(p).mtimeMs} ${fs.readFileSync(p, "base64")}`;
    }
  };
  roots.forEach(walk);
  return res;
}

const OFFICIAL_V134 =
  "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /\n";
const P = "kube-upkeep preflight: node w-1:";

describe("renderNodePreflightScript on a fake node", () => {
  test("apt, auto: the node's v1.34 entry is moved to v1.35 in a temp dir; every check passes; nothing on the node changes", () => {
    const node = fakeNode({
      aptList: OFFICIAL_V134,
      kubeletConfig: "kind: KubeletConfiguration\n",
    });
    const before = snapshot(node.host, node.aptRoot);
    const r = node.run();
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    const list = path.join(node.aptRoot, "etc/apt/sources.list.d/kubernetes.list");
    const repo = `https://pkgs.k8s.io/core:/stable:/v1.35/deb/ (from ${list})`;
    expect(r.stdout).toEqual([
      `${P} ok packages: kubeadm 1.35.4-1.1 in ${repo}`,
      `${P} ok packages: kubelet 1.35.4-1.1 in ${repo}`,
      `${P} ok packages: kubectl 1.35.4-1.1 in ${repo}`,
      `${P} ok cgroup: cgroup v2`,
      `${P} ok disk: 10240 MiB free on / (package downloads)`,
      `${P} ok swap: no swap active`,
      `${P} ok containerRuntime: crictl info answers on unix:///var/run/containerd/containerd.sock`,
      `${P} ready for the upgrade to v1.35.4`,
    ]);
    // apt was pointed at the temp dir only, with its own lists and no caches
    const update = r.calls.find((c) => c.startsWith("apt-get") && c.endsWith(" update"))!;
    const t = /Dir::Etc::SourceList=(\S+)\/sources\.list /.exec(update)![1]!;
    expect(t.startsWith(node.tmp + "/kube-upkeep-preflight.")).toBe(true);
    expect(update).toBe(
      `apt-get -o Dir::Etc::SourceList=${t}/sources.list -o Dir::Etc::SourceParts=${t}/parts/ -o Dir::State::Lists=${t}/lists -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -q update`,
    );
    expect(node.saved("apt-parts")).toBe(
      `deb [signed-by=${t}/keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.35/deb/ /\n`,
    );
    expect(r.calls.filter((c) => c.startsWith("curl"))).toEqual([
      expect.stringMatching(
        /^curl -fsSL --connect-timeout 20 --max-time 120 --retry 2 -o \S+ https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v1\.35\/deb\/Release\.key$/,
      ),
    ]);
    expect(r.calls.filter((c) => c.startsWith("apt-cache")).map((c) => c.split(" ").pop())).toEqual(
      ["kubeadm", "kubelet", "kubectl"],
    );
    expect(snapshot(node.host, node.aptRoot)).toEqual(before);
    expect(fs.readdirSync(node.tmp)).toEqual([]);
  });

  test("packages missing from the target repository: one line each, naming the node, the check, what is there and the fix", () => {
    const node = fakeNode({ aptList: OFFICIAL_V134, versions: { kubelet: ["1.35.3-1.1"] } });
    const r = node.run();
    expect(r.status).toBe(1);
    const list = path.join(node.aptRoot, "etc/apt/sources.list.d/kubernetes.list");
    expect(r.stderr).toEqual([
      `${P} FAIL packages: kubelet 1.35.4-* is not in https://pkgs.k8s.io/core:/stable:/v1.35/deb/ (from ${list}) (versions there: 1.35.3-1.1 ). Fix: publish kubelet 1.35.4-* there, give a script.packageVersion the repository has, or point script.packageRepository at a repository that has it`,
      `${P} 1 check(s) failed for the upgrade to v1.35.4; nothing was changed and the node was not drained`,
    ]);
    expect(r.stdout).toContain(
      `${P} ok packages: kubeadm 1.35.4-1.1 in https://pkgs.k8s.io/core:/stable:/v1.35/deb/ (from ${list})`,
    );
    // kubectl not upgraded: not checked
    const noKubectl = node.run({ upgradeKubectl: false, packageVersion: "1.35.4-1.1" });
    expect(noKubectl.calls.some((c) => c.endsWith("madison kubectl"))).toBe(false);
  });

  test("the package index of the target repository cannot be fetched: the apt error, not a false 'missing'", () => {
    const node = fakeNode({ aptList: OFFICIAL_V134 });
    const r = node.run({}, { APT_UPDATE_FAIL: "1" });
    expect(r.status).toBe(1);
    expect(r.stderr[0]).toBe(
      `${P} FAIL package-index: apt-get update of https://pkgs.k8s.io/core:/stable:/v1.35/deb/ (from ${path.join(node.aptRoot, "etc/apt/sources.list.d/kubernetes.list")}) failed: E: Failed to fetch http://x/InRelease . Fix: fix the repository or the node's network, or set script.packageRepository`,
    );
    expect(r.calls.some((c) => c.startsWith("apt-cache"))).toBe(false);
  });

  test("a URL template: the probe's only source is that repository; false: the node's own sources, and with updatePackageIndex false its own lists", () => {
    const node = fakeNode({ aptList: OFFICIAL_V134 });
    const r = node.run({ packageRepository: "http://10.0.0.1:8080/core:/stable:/{minor}/deb/" });
    expect(r.status).toBe(0);
    expect(node.saved("apt-parts")).toMatch(
      /^deb \[signed-by=\S+\/keyring\.gpg\] http:\/\/10\.0\.0\.1:8080\/core:\/stable:\/v1\.35\/deb\/ \/\n$/,
    );
    expect(r.calls.find((c) => c.startsWith("curl"))).toMatch(
      / http:\/\/10\.0\.0\.1:8080\/core:\/stable:\/v1\.35\/deb\/Release\.key$/,
    );
    expect(r.stdout[0]).toBe(
      `${P} ok packages: kubeadm 1.35.4-1.1 in http://10.0.0.1:8080/core:/stable:/v1.35/deb/`,
    );

    const left = node.run({ packageRepository: false });
    expect(left.status).toBe(0);
    const etc = path.join(node.aptRoot, "etc/apt");
    const update = left.calls.find((c) => c.startsWith("apt-get"))!;
    expect(update).toContain(
      `-o Dir::Etc::SourceList=${etc}/sources.list -o Dir::Etc::SourceParts=${etc}/sources.list.d/ -o Dir::State::Lists=`,
    );
    expect(left.calls.some((c) => c.startsWith("curl"))).toBe(false);
    expect(node.saved("apt-parts")).toBe(OFFICIAL_V134);

    const noUpdate = node.run({ packageRepository: false, updatePackageIndex: false });
    expect(noUpdate.calls.some((c) => c.startsWith("apt-get"))).toBe(false);
    expect(noUpdate.calls.filter((c) => c.startsWith("apt-cache"))[0]).toBe(
      "apt-cache -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= madison kubeadm",
    );
  });

  test("auto without a pkgs.k8s.io-shaped entry checks the node's own sources and says so", () => {
    const node = fakeNode({
      aptList: "deb http://mirror.internal/kubernetes stable main\n",
      versions: { kubeadm: [] },
    });
    const r = node.run();
    expect(r.status).toBe(1);
    expect(r.stderr[0]).toContain(
      `FAIL packages: kubeadm 1.35.4-* is not in the node's apt sources (${path.join(node.aptRoot, "etc/apt/sources.list")}, ${path.join(node.aptRoot, "etc/apt/sources.list.d/")}; no pkgs.k8s.io-shaped entry to move) (versions there: none)`,
    );
  });

  test("a node already at the target passes at once and runs nothing else", () => {
    const node = fakeNode({ cgroupV2: false, swaps: 1 });
    const r = node.run({}, { KUBELET_VERSION: "v1.35.4" });
    expect(r).toEqual({
      status: 0,
      stdout: [
        `${P} ok upgrade: kubelet already at v1.35.4: nothing to check (the upgrade leaves this node alone)`,
      ],
      stderr: [],
      calls: ["kubelet --version"],
    });
  });

  test("cgroup v1: fails for 1.35 unless failCgroupV1: false; not checked for 1.34", () => {
    const v1 = fakeNode({
      cgroupV2: false,
      kubeletConfig: "kind: KubeletConfiguration\nfailSwapOn: true\n",
    });
    const r = v1.run();
    expect(r.status).toBe(1);
    const cfg = path.join(v1.host, "var/lib/kubelet/config.yaml");
    expect(r.stderr[0]).toBe(
      `${P} FAIL cgroup: the node has cgroup v1 only, and kubelet v1.35.4 does not start on cgroup v1 unless its configuration sets failCgroupV1: false; ${cfg} does not. Fix: move the node to cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line, reboot), or set failCgroupV1: false in the cluster's KubeletConfiguration (the kubelet-config ConfigMap in kube-system, which kubeadm upgrade node writes to ${cfg}), or turn this check off (preflight.checks.cgroup: false)`,
    );
    const allowed = fakeNode({
      cgroupV2: false,
      kubeletConfig: "kind: KubeletConfiguration\nfailCgroupV1: false # harness\n",
    });
    const allowedCfg = path.join(allowed.host, "var/lib/kubelet/config.yaml");
    // kubeadm upgrade 1.35 fails its own SystemVerification on cgroup v1 unless told to skip it
    const untold = allowed.run();
    expect(untold.status).toBe(1);
    expect(untold.stderr[0]).toBe(
      `${P} FAIL cgroup: cgroup v1 with failCgroupV1: false in ${allowedCfg}: kubelet v1.35.4 starts, but kubeadm upgrade v1.35.4 fails its SystemVerification preflight on cgroup v1 unless told to skip it. Fix: add --ignore-preflight-errors=SystemVerification to script.kubeadmFlags (kubeadm asks for this explicit choice), or move the node to cgroup v2`,
    );
    for (const flag of [
      "--ignore-preflight-errors=SystemVerification",
      "--ignore-preflight-errors=ImagePull,systemverification",
      "--ignore-preflight-errors=all",
    ]) {
      const a = allowed.run({ kubeadmFlags: [flag] });
      expect({ flag, status: a.status }).toEqual({ flag, status: 0 });
      expect(a.stdout).toContain(
        `${P} ok cgroup: cgroup v1, allowed by failCgroupV1: false in ${allowedCfg}; kubeadm skips SystemVerification (script.kubeadmFlags)`,
      );
    }
    expect(allowed.run({ kubeadmFlags: ["--ignore-preflight-errors=ImagePull"] }).status).toBe(1);
    // a nested key of the same name is not the kubelet's setting
    const nested = fakeNode({
      cgroupV2: false,
      kubeletConfig: "kind: KubeletConfiguration\nx:\n  failCgroupV1: false\n",
    });
    expect(nested.run().status).toBe(1);
    const older = v1.run({ targetVersion: "v1.34.5", checks: { packages: false } });
    expect(older.status).toBe(0);
    expect(older.stdout.some((l) => l.includes("cgroup"))).toBe(false);
    expect(v1.run({ checks: { cgroup: false } }).status).toBe(0);
  });

  test("swap on fails unless failSwapOn: false; a missing kubelet configuration is said", () => {
    const node = fakeNode({ swaps: 2 });
    const r = node.run();
    expect(r.status).toBe(1);
    const cfg = path.join(node.host, "var/lib/kubelet/config.yaml");
    expect(r.stderr[0]).toBe(
      `${P} FAIL swap: 2 swap area(s) active (/proc/swaps) and ${cfg} does not set failSwapOn: false (there is no ${cfg}: the kubelet defaults apply): the kubelet would not start. Fix: turn swap off (swapoff -a, and remove it from /etc/fstab), or allow it with failSwapOn: false (and memorySwap.swapBehavior) in the cluster's KubeletConfiguration, or turn this check off (preflight.checks.swap: false)`,
    );
    const allowed = fakeNode({ swaps: 1, kubeletConfig: "failSwapOn: false\n" });
    expect(allowed.run().stdout).toContain(
      `${P} ok swap: 1 swap area(s) active, allowed by failSwapOn: false in ${path.join(allowed.host, "var/lib/kubelet/config.yaml")}`,
    );
  });

  test("disk: below minFreeDiskMiB fails per filesystem; the containerd root from its config; room for kubeadm's copy of the etcd data", () => {
    const node = fakeNode({
      files: {
        "etc/containerd/config.toml":
          'version = 2\nroot = "/data/containerd"\n[plugins]\n  root = "/elsewhere"\n',
        "data/containerd/.keep": "",
        "etc/kubernetes/.keep": "",
        "var/lib/etcd/member/snap/db": "x".repeat(3 * 1024 * 1024),
      },
    });
    const r = node.run(
      {},
      {
        DF_KIB: String(1024 * 1024),
        DF_CONTAINERD_KIB: String(5000 * 1024),
        DF_ETC_KIB: String(2049 * 1024),
      },
    );
    expect(r.status).toBe(1);
    expect(r.calls).toContain(`df -Pk ${path.join(node.host, "data/containerd")}`);
    expect(r.stderr.slice(0, 2)).toEqual([
      `${P} FAIL disk: only 1024 MiB free on / (package downloads: ${path.join(node.host, "var/cache/apt/archives")}), less than 2048 MiB. Fix: free space there (apt-get clean / dnf clean packages, crictl rmi --prune, old logs), or lower preflight.minFreeDiskMiB`,
      `${P} FAIL disk: kubeadm upgrade copies the etcd data (/var/lib/etcd, 3 MiB) to /etc/kubernetes/tmp first: 2049 MiB free on /etc/kubernetes, 2051 MiB wanted (the copy plus 2048 MiB). Fix: free space on /etc/kubernetes, e.g. remove old /etc/kubernetes/tmp/kubeadm-backup-* directories (keep the newest), or lower preflight.minFreeDiskMiB`,
    ]);
    expect(r.stdout).toContain(
      `${P} ok disk: 5000 MiB free on /var/lib/containerd (container images)`,
    );
    const lower = node.run({ minFreeDiskMiB: 512 }, { DF_KIB: String(1024 * 1024) });
    expect(lower.status).toBe(0);
    expect(lower.stdout).toContain(
      `${P} ok disk: 1024 MiB free on / for kubeadm's copy of the etcd data (3 MiB)`,
    );
  });

  test("container runtime: crictl on the kubelet's endpoint; without crictl the socket", async () => {
    const flags = {
      "var/lib/kubelet/kubeadm-flags.env":
        'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///run/crio/crio.sock --pod-infra-container-image=x"\n',
    };
    const node = fakeNode({ files: flags });
    const r = node.run({}, { CRICTL_FAIL: "1" });
    expect(r.status).toBe(1);
    expect(r.calls).toContain(
      "crictl --runtime-endpoint unix:///run/crio/crio.sock --timeout 10s info",
    );
    expect(r.stderr[0]).toBe(
      `${P} FAIL containerRuntime: crictl info on unix:///run/crio/crio.sock failed: connect: connection refused . Fix: start the container runtime (systemctl status containerd), or fix the kubelet's containerRuntimeEndpoint`,
    );
    const cfg = fakeNode({
      kubeletConfig: 'containerRuntimeEndpoint: "unix:///run/k/cri.sock"\n',
      files: flags,
    });
    expect(cfg.run().calls).toContain(
      "crictl --runtime-endpoint unix:///run/k/cri.sock --timeout 10s info",
    );

    const bare = fakeNode({
      without: ["crictl"],
      kubeletConfig: "containerRuntimeEndpoint: unix:///run/k/cri.sock\n",
    });
    const none = bare.run();
    expect(none.stderr[0]).toBe(
      `${P} FAIL containerRuntime: no CRI socket at ${path.join(bare.host, "run/k/cri.sock")} and no crictl to ask the runtime. Fix: start the container runtime (systemctl start containerd), or install crictl (cri-tools)`,
    );
    fs.mkdirSync(path.join(bare.host, "run/k"), { recursive: true });
    const sock = path.join(bare.host, "run/k/cri.sock");
    sockServer = net.createServer();
    await new Promise<void>((resolve) => sockServer!.listen(sock, resolve));
    const withSocket = bare.run();
    expect(withSocket.status).toBe(0);
    expect(withSocket.stdout).toContain(
      `${P} ok containerRuntime: CRI socket ${sock} exists (no crictl to ask it)`,
    );
  });

  test("checks turned off run nothing of theirs; not root and sudo -n refused: one clear failure, nothing else", () => {
    const node = fakeNode({ cgroupV2: false, swaps: 1 });
    const r = node.run({
      checks: { packages: false, cgroup: false, disk: false, swap: false, containerRuntime: false },
    });
    expect(r.status).toBe(0);
    expect(r.calls.filter((c) => !c.startsWith("kubelet") && !c.startsWith("id"))).toEqual([]);
    const sudo = node.run({}, { STUB_UID: "1000", SUDO_FAIL: "1" });
    expect(sudo.status).toBe(1);
    expect(sudo.stderr).toEqual([
      `${P} FAIL root: cannot run commands as root (sudo -n). Fix: connect as root, or let the SSH user run sudo -n without a password (script.sudo)`,
      `${P} 1 check(s) failed for the upgrade to v1.35.4; nothing was changed and the node was not drained`,
    ]);
    const viaSudo = node.run({ checks: { cgroup: false, swap: false } }, { STUB_UID: "1000" });
    expect(viaSudo.calls).toContain("sudo -n true");
    expect({ status: viaSudo.status, stderr: viaSudo.stderr }).toEqual({ status: 0, stderr: [] });
    for (const run of ["apt-get -o Dir::Etc::SourceList=", "cat ", "crictl ", "apt-cache "])
      expect([run, viaSudo.calls.some((c) => c.startsWith(`sudo -n ${run}`))]).toEqual([run, true]);
  });

  test("dnf, auto: kubernetes.repo moved to v1.35 in a temp repository dir, dnf list --showduplicates against it", () => {
    const repoV134 =
      "[kubernetes]\nname=Kubernetes\nbaseurl=https://pkgs.k8s.io/core:/stable:/v1.34/rpm/\nenabled=1\ngpgcheck=1\ngpgkey=https://pkgs.k8s.io/core:/stable:/v1.34/rpm/repodata/repomd.xml.key\n";
    const node = fakeNode({
      yumRepo: repoV134,
      versions: {
        kubeadm: ["1.35.4-150500.1.1"],
        kubelet: ["1.35.4-150500.1.1"],
        kubectl: ["1.35.4-150500.1.1"],
      },
    });
    const before = snapshot(node.host);
    const r = node.run({ packageManager: "dnf" });
    expect(r.stderr).toEqual([]);
    expect(r.status).toBe(0);
    const list = r.calls.find((c) => c.startsWith("dnf"))!;
    expect(list).toMatch(
      /^dnf -q --setopt=reposdir=\S+\/repos --setopt=cachedir=\S+\/cache --disableexcludes=all list --showduplicates kubeadm$/,
    );
    expect(node.saved("dnf-repos")).toBe(repoV134.replace(/v1\.34/g, "v1.35"));
    expect(r.stdout[0]).toBe(
      `${P} ok packages: kubeadm 1.35.4-150500.1.1 in ${path.join(node.host, "etc/yum.repos.d/kubernetes.repo")} moved to v1.35`,
    );
    expect(snapshot(node.host)).toEqual(before);
    const missing = node.run({ packageManager: "dnf", packageVersion: "1.35.4-150500.1.2" });
    expect(missing.status).toBe(1);
    expect(missing.stderr[0]).toContain("FAIL packages: kubeadm 1.35.4-150500.1.2 is not in");
  });
});

describe("renderNodePreflightScript", () => {
  test("passes shellcheck (POSIX sh) for every package manager, repository setting and target", () => {
    for (const packageManager of ["apt", "yum", "dnf"] as const)
      for (const packageRepository of [
        "auto",
        false,
        "http://10.0.0.1:8080/core:/stable:/{minor}/deb/",
      ] as const)
        for (const targetVersion of ["v1.34.5", "v1.35.4"]) {
          const script = renderNodePreflightScript({
            nodeName: "w-1",
            targetVersion,
            packageManager,
            packageRepository,
          });
          const r = spawnSync(SHELLCHECK, ["-s", "sh", "-"], { input: script, encoding: "utf8" });
          expect({ packageManager, packageRepository, targetVersion, out: r.stdout }).toEqual({
            packageManager,
            packageRepository,
            targetVersion,
            out: "",
          });
        }
  });

  test("validates every option, naming the field", () => {
    const base = { nodeName: "w-1", targetVersion: "v1.35.4" };
    const bad: [Partial<NodePreflightScriptOptions>, string, RegExp][] = [
      [{ nodeName: "W_1;reboot" }, "nodeName", /not a DNS-1123 name/],
      [
        { checks: { disk: false, ram: false } as never },
        "checks.ram",
        /unknown check.*packages, cgroup, disk, swap, containerRuntime/,
      ],
      [{ checks: { swap: "no" } as never }, "checks.swap", /not a boolean/],
      [{ checks: [] as never }, "checks", /not an object of checks/],
      [{ minFreeDiskMiB: -1 }, "minFreeDiskMiB", /integer from 0/],
      [{ minFreeDiskMiB: 1.5 }, "minFreeDiskMiB", /integer from 0/],
      [{ kubeletConfigPath: "var/lib/kubelet/config.yaml" }, "kubeletConfigPath", /relative/],
      [{ packageRepository: "http://m/$(reboot)/" }, "packageRepository", /must not reach a shell/],
      [{ packageVersion: "1.34.1-1.1" }, "packageVersion", /does not match targetVersion/],
    ];
    for (const [o, field, re] of bad) {
      let err: unknown;
      try {
        renderNodePreflightScript({ ...base, ...o });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect({
        field: (err as ValidationError).field,
        ok: re.test((err as Error).message),
      }).toEqual({ field, ok: true });
    }
  });
});
