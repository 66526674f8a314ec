/**
 * The rendered package-repository switch and the preflight's package check against a real apt:
 * a local repository shaped like pkgs.k8s.io (support/apt-repo.ts: one flat repository per minor,
 * real .deb packages, a signed Release, Release.key) served over plain HTTP, and a node's apt
 * configuration in a temp root (APT_CONFIG with Dir "<root>/"), configured the way the install
 * guide configures a node (keyring + signed-by entry for v1.34). Real apt-get / apt-cache / gpg /
 * curl; only kubelet, kubeadm, systemctl, apt-mark and crictl are stubs (and the upgrade's
 * `apt-get install` runs the real one with --download-only: the packages are really resolved and
 * fetched from the switched repository, not installed).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  renderNodePreflightScript,
  type NodePreflightScriptOptions,
} from "../../../lib/core/scripts/node-preflight";
import {
  renderNodeUpgradeScript,
  type NodeUpgradeScriptOptions,
} from "../../../lib/core/scripts/node-upgrade";
import { fakeAptRoot, startAptRepo, type AptRepoServer } from "../support/apt-repo";
import { requireHostTool, requireRoot } from "../support/tools";

jest.setTimeout(180_000);

let dir: string;
let repo: AptRepoServer;

beforeAll(async () => {
  requireRoot("apt-get update and the dpkg lock need root, as on a node");
  requireHostTool("/usr/bin/apt-get", "apt");
  requireHostTool("/usr/bin/curl", "curl");
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-pkg-repo-"));
  fs.chmodSync(dir, 0o755);
  repo = await startAptRepo(path.join(dir, "repo"), {
    "v1.34": { kubeadm: ["1.34.2-1.1"], kubelet: ["1.34.2-1.1"], kubectl: ["1.34.2-1.1"] },
    "v1.35": {
      kubeadm: ["1.35.3-1.1", "1.35.4-1.1"],
      kubelet: ["1.35.3-1.1", "1.35.4-1.1"],
      kubectl: ["1.35.3-1.1", "1.35.4-1.1"],
    },
  });
});
afterAll(() => {
  repo?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** A fresh node: its apt root (kubernetes.list at `minor`), host paths and stub tools. */
function node(minor = "v1.34", kubelet = "v1.34.2") {
  const base = path.join(dir, `node-${++n}`);
  const aptRoot = path.join(base, "apt");
  const keyringPath = path.join(aptRoot, "etc/apt/keyrings/kubernetes-apt-keyring.gpg");
  const entry = `deb [signed-by=${keyringPath}] ${repo.url(minor)} /\n`;
  const aptConfig = fakeAptRoot(aptRoot, entry, repo.keyring);
  const host = path.join(base, "host");
  fs.mkdirSync(path.join(host, "sys/fs/cgroup"), { recursive: true });
  fs.writeFileSync(path.join(host, "sys/fs/cgroup/cgroup.controllers"), "cpu memory pids\n");
  fs.mkdirSync(path.join(host, "proc"), { recursive: true });
  fs.writeFileSync(path.join(host, "proc/swaps"), "Filename\tType\tSize\tUsed\tPriority\n");
  fs.mkdirSync(path.join(host, "var/lib/kubelet"), { recursive: true });
  fs.writeFileSync(path.join(host, "var/lib/kubelet/config.yaml"), "kind: KubeletConfiguration\n");
  const bin = path.join(base, "bin");
  const state = path.join(base, "state");
  fs.mkdirSync(bin);
  fs.mkdirSync(state);
  fs.writeFileSync(path.join(state, "kubelet"), kubelet);
  fs.writeFileSync(path.join(state, "kubeadm"), kubelet);
  const log = path.join(base, "calls.log");
  fs.writeFileSync(log, "");
  const stub = (name: string, body: string) =>
    fs.writeFileSync(
      path.join(bin, name),
      `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> "$LOG"\n${body}\n`,
      { mode: 0o755 },
    );
  stub("kubelet", `[ "$1" = --version ] && printf 'Kubernetes %s\\n' "$(cat "$STATE/kubelet")"`);
  stub("kubeadm", `[ "$1" = version ] && cat "$STATE/kubeadm"; exit 0`);
  stub("systemctl", "exit 0");
  stub("apt-mark", "exit 0");
  stub("crictl", "exit 0");
  // the upgrade's installs: the real apt-get resolves and downloads them (no dpkg run), then the
  // stub moves the reported versions as an install would
  stub(
    "apt-get",
    [
      'case " $* " in',
      '  *" install "*)',
      '    /usr/bin/apt-get -q --download-only "$@" || exit $?',
      '    for a in "$@"; do case $a in kube*=*) p=${a%%=*}; v=${a#*=}; printf \'v%s\' "${v%%-*}" > "$STATE/$p" ;; esac; done',
      "    ;;",
      '  *) exec /usr/bin/apt-get "$@" ;;',
      "esac",
    ].join("\n"),
  );
  const env = {
    PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
    APT_CONFIG: aptConfig,
    LOG: log,
    STATE: state,
    HOME: base,
    LC_ALL: "C",
    TMPDIR: base,
  };
  const run = (script: string) => {
    const r = spawnSync("/bin/sh", ["-s"], { input: script, env, encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return {
    aptRoot,
    host,
    list: path.join(aptRoot, "etc/apt/sources.list.d/kubernetes.list"),
    keyringDir: path.join(aptRoot, "etc/apt/keyrings"),
    entry,
    state,
    calls: () => fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean),
    preflight: (o: Partial<NodePreflightScriptOptions> = {}) =>
      run(
        renderNodePreflightScript({
          nodeName: "w-1",
          targetVersion: "v1.35.4",
          hostRoot: host,
          ...o,
        }),
      ),
    upgrade: (o: Partial<NodeUpgradeScriptOptions> = {}) =>
      run(renderNodeUpgradeScript({ targetVersion: "v1.35.4", mode: "node", ...o })),
  };
}

/** Every file under `root` with its content and mtime (what "changes nothing" compares). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        out[path.relative(root, p)] = `${st.mtimeMs} ${fs.readFileSync(p).toString("base64")}`;
      }
    }
  };
  walk(root);
  return out;
}

describe("preflight: the packages in the repository the upgrade will use (real apt)", () => {
  test("auto: the node's v1.34 entry, moved to v1.35 in a temp dir only: present passes, and the node's apt files are unchanged", () => {
    const nd = node();
    const before = snapshot(nd.aptRoot);
    const r = nd.preflight();
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
    for (const p of ["kubeadm", "kubelet", "kubectl"])
      expect(r.stdout).toContain(
        `kube-upkeep preflight: node w-1: ok packages: ${p} 1.35.4-1.1 in ${repo.url("v1.35")} (from ${nd.list})`,
      );
    expect(r.stdout).toContain("ok cgroup: cgroup v2");
    expect(r.stdout).toContain("ok swap: no swap active");
    expect(r.stdout).toContain("kube-upkeep preflight: node w-1: ready for the upgrade to v1.35.4");
    // nothing of the node's apt configuration, lists or caches was written
    expect(snapshot(nd.aptRoot)).toEqual(before);
    // and the temp dir is gone
    expect(
      fs.readdirSync(path.dirname(nd.aptRoot)).filter((f) => f.startsWith("kube-upkeep")),
    ).toEqual([]);
    // it really asked the v1.35 repository
    expect(repo.requests()).toContain("GET /core:/stable:/v1.35/deb/InRelease");
  });

  test("absent: a patch the repository does not have fails naming the node, the check, the versions there and the fix", () => {
    const nd = node();
    const r = nd.preflight({ targetVersion: "v1.35.9" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `kube-upkeep preflight: node w-1: FAIL packages: kubeadm 1.35.9-* is not in ${repo.url("v1.35")} (from ${nd.list}) (versions there: 1.35.4-1.1 1.35.3-1.1 ). Fix: publish kubeadm 1.35.9-* there, give a script.packageVersion the repository has, or point script.packageRepository at a repository that has it`,
    );
    expect(r.stderr).toContain("FAIL packages: kubelet 1.35.9-*");
    expect(r.stderr).toContain("FAIL packages: kubectl 1.35.9-*");
    expect(r.stderr).toContain(
      "node w-1: 3 check(s) failed for the upgrade to v1.35.9; nothing was changed and the node was not drained",
    );
  });

  test("a fixed URL of the old minor (the repository lacks the target) fails; the same base as a {minor} template passes", () => {
    const nd = node();
    const fixed = nd.preflight({ packageRepository: repo.url("v1.34") });
    expect(fixed.status).toBe(1);
    expect(fixed.stderr).toContain(
      `FAIL packages: kubeadm 1.35.4-* is not in ${repo.url("v1.34")} (versions there: 1.34.2-1.1 )`,
    );
    const template = nd.preflight({
      packageRepository: `${repo.base}/core:/stable:/{minor}/deb/`,
    });
    expect(template.stderr).toBe("");
    expect(template.status).toBe(0);
    expect(template.stdout).toContain(`ok packages: kubeadm 1.35.4-1.1 in ${repo.url("v1.35")}`);
  });

  test("an unreachable repository fails on its key, with the URL", () => {
    const nd = node();
    const r = nd.preflight({ packageRepository: "http://127.0.0.1:9/core:/stable:/{minor}/deb/" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "FAIL package-repository: cannot download the key of v1.35 from http://127.0.0.1:9/core:/stable:/v1.35/deb/Release.key",
    );
  });
});

describe("upgrade script: the repository switch (real apt)", () => {
  test("auto: kubernetes.list moves to v1.35 with the v1.35 key in a new keyring, the old file is kept; the packages come from v1.35; a re-run changes nothing", () => {
    const nd = node();
    const r = nd.upgrade();
    const keyring = path.join(nd.keyringDir, "kubernetes-apt-keyring-v1.35.gpg");
    expect({
      status: r.status,
      log: r.stderr.split("\n").filter((l) => l.includes("repository")),
    }).toEqual({
      status: 0,
      log: [
        `kube-upkeep: package repository: key of v1.35 from ${repo.url("v1.35")}Release.key in ${keyring}`,
        `kube-upkeep: package repository: the previous ${nd.list} is kept as ${nd.list}.kube-upkeep-v1.34.save`,
        `kube-upkeep: package repository: ${nd.list} moved from v1.34 to v1.35`,
        "kube-upkeep: package repository changed: refreshing the package index",
      ],
    });
    expect(fs.readFileSync(nd.list, "utf8")).toBe(
      `deb [signed-by=${keyring}] ${repo.url("v1.35")} /\n`,
    );
    expect(fs.readFileSync(`${nd.list}.kube-upkeep-v1.34.save`, "utf8")).toBe(nd.entry);
    // the dearmored key (binary OpenPGP, not armored), and the old keyring untouched
    expect(fs.readFileSync(keyring).equals(repo.keyring)).toBe(true);
    expect(fs.statSync(keyring).mode & 0o777).toBe(0o644);
    expect(
      fs.readFileSync(path.join(nd.keyringDir, "kubernetes-apt-keyring.gpg")).equals(repo.keyring),
    ).toBe(true);
    // the real apt resolved the pinned versions from the v1.35 repository
    const archives = fs.readdirSync(path.join(nd.aptRoot, "var/cache/apt/archives"));
    for (const p of ["kubeadm", "kubelet", "kubectl"])
      expect(archives).toContain(`${p}_1.35.4-1.1_amd64.deb`);
    expect(nd.calls().filter((c) => c === "apt-get update")).toHaveLength(1);
    expect(fs.readFileSync(path.join(nd.state, "kubelet"), "utf8")).toBe("v1.35.4");

    // re-run (a later step failed: the kubelet is still old): the switch sees v1.35 and does nothing
    fs.writeFileSync(path.join(nd.state, "kubelet"), "v1.34.2");
    const keyFetches = repo.requests().filter((q) => q.endsWith("/v1.35/deb/Release.key")).length;
    const listBefore = snapshot(path.join(nd.aptRoot, "etc"));
    const again = nd.upgrade();
    expect(again.status).toBe(0);
    expect(again.stderr).toContain("package repository: already at v1.35");
    expect(snapshot(path.join(nd.aptRoot, "etc"))).toEqual(listBefore);
    expect(repo.requests().filter((q) => q.endsWith("/v1.35/deb/Release.key")).length).toBe(
      keyFetches,
    );
  });

  test("a {minor} URL on a plain-HTTP base (the e2e's way): kube-upkeep's kubernetes.list, old one kept", () => {
    const nd = node();
    const r = nd.upgrade({ packageRepository: `${repo.base}/core:/stable:/{minor}/deb/` });
    expect(r.status).toBe(0);
    const keyring = path.join(nd.keyringDir, "kubernetes-apt-keyring-v1.35.gpg");
    expect(fs.readFileSync(nd.list, "utf8")).toBe(
      `deb [signed-by=${keyring}] ${repo.url("v1.35")} /\n`,
    );
    expect(fs.readFileSync(`${nd.list}.kube-upkeep-v1.34.save`, "utf8")).toBe(nd.entry);
    expect(fs.readdirSync(path.join(nd.aptRoot, "var/cache/apt/archives"))).toContain(
      "kubeadm_1.35.4-1.1_amd64.deb",
    );
  });

  test("packageRepository false: the sources stay at v1.34 and the install fails there (what the preflight prevents)", () => {
    const nd = node();
    const r = nd.upgrade({ packageRepository: false });
    expect(r.status).not.toBe(0);
    expect(fs.readFileSync(nd.list, "utf8")).toBe(nd.entry);
    expect(r.stderr).toMatch(/Version '1\.35\.4-\*' for 'kubeadm' was not found/);
  });
});
