/**
 * The package-repository switch of the rendered upgrade script (lib/core/scripts/package-repository.ts)
 * on fake nodes: the node's apt configuration lives in a temp root (APT_CONFIG with Dir
 * "<root>/", read through the real apt-config), yum's repository dir under `hostRoot`; curl is a
 * stub that "downloads" a key naming the URL it was asked for, the package tools are the stubs of
 * stubs.ts. The same switch against a real apt and a real HTTP repository:
 * test/integration/scripts/package-repository.test.ts.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationError } from "../../../../lib/core/errors";
import {
  renderNodeUpgradeScript,
  type NodeUpgradeScriptOptions,
} from "../../../../lib/core/scripts/node-upgrade";
import { resolvePackageRepository } from "../../../../lib/core/scripts/package-repository";
import { parseKubeVersion } from "../../../../lib/core/version";
import { writeNodeTools } from "./stubs";

const OFFICIAL = (minor: string, keyring = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg") =>
  `deb [signed-by=${keyring}] https://pkgs.k8s.io/core:/stable:/${minor}/deb/ /`;

const REPO_V134 = [
  "[kubernetes]",
  "name=Kubernetes",
  "baseurl=https://pkgs.k8s.io/core:/stable:/v1.34/rpm/",
  "enabled=1",
  "gpgcheck=1",
  "gpgkey=https://pkgs.k8s.io/core:/stable:/v1.34/rpm/repodata/repomd.xml.key",
  "exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni",
  "",
].join("\n");

const nodes: { cleanup(): void }[] = [];
afterAll(() => nodes.forEach((n) => n.cleanup()));

/** A fake node at v1.34.2 whose apt sources.list.d / yum.repos.d hold `files`. */
function fakeNode(files: Record<string, string> = {}, o: { failKey?: boolean } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-pkg-switch-"));
  const root = path.join(dir, "root");
  const aptDir = path.join(root, "etc/apt");
  const partsDir = path.join(aptDir, "sources.list.d");
  const yumDir = path.join(root, "etc/yum.repos.d");
  fs.mkdirSync(partsDir, { recursive: true });
  fs.mkdirSync(yumDir, { recursive: true });
  for (const [name, content] of Object.entries(files))
    fs.writeFileSync(path.join(name.endsWith(".repo") ? yumDir : partsDir, name), content);
  fs.writeFileSync(path.join(dir, "apt.conf"), `Dir "${root}/";\n`);
  const bin = path.join(dir, "bin");
  const state = path.join(dir, "state");
  writeNodeTools(bin, state, { kubelet: "v1.34.2", kubeadm: "v1.34.2" });
  fs.writeFileSync(
    path.join(bin, "curl"),
    [
      "#!/bin/sh",
      'printf \'%s\\n\' "curl $*" >> "$LOG"',
      o.failKey ? 'echo "curl: (7) Failed to connect" >&2; exit 7' : "",
      'out=""; url=""; while [ $# -gt 0 ]; do case $1 in -o) out=$2; shift ;; -*) ;; *) url=$1 ;; esac; shift; done',
      'printf "KEY OF %s\\n" "$url" > "$out"',
    ].join("\n"),
    { mode: 0o755 },
  );
  const log = path.join(dir, "log");
  const node = {
    dir,
    root,
    aptDir,
    partsDir,
    yumDir,
    read: (p: string) => fs.readFileSync(p, "utf8"),
    ls: (d: string) => fs.readdirSync(d).sort(),
    run(opts: Partial<NodeUpgradeScriptOptions> = {}) {
      fs.writeFileSync(log, "");
      fs.writeFileSync(path.join(state, "kubelet"), "v1.34.2");
      fs.writeFileSync(path.join(state, "kubeadm"), "v1.34.2");
      const script = renderNodeUpgradeScript({
        targetVersion: "v1.35.4",
        mode: "node",
        hostRoot: root,
        ...opts,
      });
      const r = spawnSync("/bin/sh", ["-s"], {
        input: script,
        env: {
          PATH: `${bin}:/usr/bin:/bin`,
          LOG: log,
          STATE: state,
          APT_CONFIG: path.join(dir, "apt.conf"),
          TMPDIR: dir,
        },
        encoding: "utf8",
      });
      return {
        status: r.status,
        stderr: r.stderr,
        calls: fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean),
      };
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  nodes.push(node);
  return node;
}

describe("packageRepository: apt", () => {
  test('"auto" moves the official v1.34 entry to v1.35 with a new keyring, keeps the old file, refreshes the index once; a re-run changes nothing', () => {
    const node = fakeNode({ "kubernetes.list": OFFICIAL("v1.34") + "\n" });
    const r = node.run();
    expect(r.status).toBe(0);
    const keyring = path.join(node.aptDir, "keyrings/kubernetes-apt-keyring-v1.35.gpg");
    expect(node.read(path.join(node.partsDir, "kubernetes.list"))).toBe(
      OFFICIAL("v1.35", keyring) + "\n",
    );
    expect(node.read(path.join(node.partsDir, "kubernetes.list.kube-upkeep-v1.34.save"))).toBe(
      OFFICIAL("v1.34") + "\n",
    );
    // the key of the target minor, from the entry's host (not from a fixed pkgs.k8s.io)
    expect(node.read(keyring)).toBe(
      "KEY OF https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key\n",
    );
    expect((fs.statSync(keyring).mode & 0o777).toString(8)).toBe("644");
    // the index is refreshed once, after the switch and before the first install
    expect(r.calls[0]).toBe("kubelet --version");
    expect(r.calls[1]).toMatch(
      /^curl -fsSL --connect-timeout 20 --max-time 120 --retry 2 -o \S+ https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v1\.35\/deb\/Release\.key$/,
    );
    expect(r.calls.slice(2, 5)).toEqual([
      "apt-get update",
      "kubeadm version -o short",
      "apt-mark unhold kubeadm",
    ]);
    expect(r.calls.filter((c) => c === "apt-get update")).toHaveLength(1);
    // no temp files left next to the sources or the keyring; the temp dir is gone
    expect(node.ls(node.partsDir)).toEqual([
      "kubernetes.list",
      "kubernetes.list.kube-upkeep-v1.34.save",
    ]);
    expect(node.ls(path.join(node.aptDir, "keyrings"))).toEqual([
      "kubernetes-apt-keyring-v1.35.gpg",
    ]);
    expect(node.ls(node.dir).filter((f) => f.startsWith("kube-upkeep"))).toEqual([]);

    const again = node.run();
    expect(again.status).toBe(0);
    expect(again.stderr).toContain("package repository: already at v1.35");
    expect(again.calls.some((c) => c.startsWith("curl"))).toBe(false);
    expect(node.read(path.join(node.partsDir, "kubernetes.list.kube-upkeep-v1.34.save"))).toBe(
      OFFICIAL("v1.34") + "\n",
    );
  });

  test('"auto" rewrites only the pkgs.k8s.io-shaped entries of a file (any host, other options kept); other lines, comments and files stay', () => {
    const mirror =
      "deb [arch=amd64 signed-by=/usr/share/keyrings/k8s.gpg] http://mirror.internal:8080/k8s/core:/stable:/v1.34/deb/ /";
    const node = fakeNode({
      "kubernetes.list": [
        "# deb https://pkgs.k8s.io/core:/stable:/v1.33/deb/ /",
        mirror,
        "deb http://deb.debian.org/debian bookworm main",
        "",
      ].join("\n"),
      "other.list": "deb http://example.invalid/debian bookworm main\n",
    });
    const r = node.run();
    expect(r.status).toBe(0);
    const keyring = path.join(node.aptDir, "keyrings/kubernetes-apt-keyring-v1.35.gpg");
    expect(node.read(path.join(node.partsDir, "kubernetes.list"))).toBe(
      [
        "# deb https://pkgs.k8s.io/core:/stable:/v1.33/deb/ /",
        `deb [arch=amd64 signed-by=${keyring}] http://mirror.internal:8080/k8s/core:/stable:/v1.35/deb/ /`,
        "deb http://deb.debian.org/debian bookworm main",
        "",
      ].join("\n"),
    );
    expect(node.read(keyring)).toBe(
      "KEY OF http://mirror.internal:8080/k8s/core:/stable:/v1.35/deb/Release.key\n",
    );
    expect(node.read(path.join(node.partsDir, "other.list"))).toBe(
      "deb http://example.invalid/debian bookworm main\n",
    );
    expect(node.ls(node.partsDir)).toEqual([
      "kubernetes.list",
      "kubernetes.list.kube-upkeep-v1.34.save",
      "other.list",
    ]);
  });

  test('"auto" with no pkgs.k8s.io-shaped entry, or one already at the target, changes nothing and fetches nothing', () => {
    const cases: Record<string, string>[] = [
      {},
      { "mirror.list": "deb http://mirror.internal/kubernetes stable main\n" },
      { "kubernetes.list": OFFICIAL("v1.35") + "\n" },
    ];
    for (const files of cases) {
      const node = fakeNode(files);
      const r = node.run();
      expect(r.status).toBe(0);
      expect(r.calls.slice(0, 3)).toEqual([
        "kubelet --version",
        "kubeadm version -o short",
        "apt-get update",
      ]);
      expect(node.ls(node.partsDir)).toEqual(Object.keys(files).sort());
      expect(fs.existsSync(path.join(node.aptDir, "keyrings"))).toBe(false);
      expect(r.stderr).toMatch(
        Object.keys(files).includes("kubernetes.list")
          ? /package repository: already at v1\.35/
          : /package repository: no pkgs\.k8s\.io-shaped entry/,
      );
    }
  });

  test("a key that cannot be fetched stops the script before anything is changed", () => {
    const node = fakeNode({ "kubernetes.list": OFFICIAL("v1.34") + "\n" }, { failKey: true });
    const r = node.run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "package repository: could not get the key of v1.35 from https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key; the sources are unchanged",
    );
    expect(node.read(path.join(node.partsDir, "kubernetes.list"))).toBe(OFFICIAL("v1.34") + "\n");
    expect(node.ls(node.partsDir)).toEqual(["kubernetes.list"]);
    expect(r.calls.some((c) => c.startsWith("apt-get") || c.startsWith("kubeadm upgrade"))).toBe(
      false,
    );
  });

  test("a URL template writes kube-upkeep's kubernetes.list (old one kept), idempotent; false leaves every file alone", () => {
    const node = fakeNode({ "kubernetes.list": OFFICIAL("v1.34") + "\n" });
    const url = "http://10.0.0.1:8080/core:/stable:/{minor}/deb/";
    const r = node.run({ packageRepository: url });
    expect(r.status).toBe(0);
    const keyring = path.join(node.aptDir, "keyrings/kubernetes-apt-keyring-v1.35.gpg");
    expect(node.read(path.join(node.partsDir, "kubernetes.list"))).toBe(
      `deb [signed-by=${keyring}] http://10.0.0.1:8080/core:/stable:/v1.35/deb/ /\n`,
    );
    expect(node.read(keyring)).toBe(
      "KEY OF http://10.0.0.1:8080/core:/stable:/v1.35/deb/Release.key\n",
    );
    expect(node.read(path.join(node.partsDir, "kubernetes.list.kube-upkeep-v1.34.save"))).toBe(
      OFFICIAL("v1.34") + "\n",
    );
    const again = node.run({ packageRepository: url });
    expect(again.stderr).toContain(
      "already points at http://10.0.0.1:8080/core:/stable:/v1.35/deb/",
    );
    expect(again.calls.some((c) => c.startsWith("curl"))).toBe(false);

    const left = fakeNode({ "kubernetes.list": OFFICIAL("v1.34") + "\n" });
    const l = left.run({ packageRepository: false });
    expect(l.status).toBe(0);
    expect(left.ls(left.partsDir)).toEqual(["kubernetes.list"]);
    expect(left.read(path.join(left.partsDir, "kubernetes.list"))).toBe(OFFICIAL("v1.34") + "\n");
  });

  test("a template on a node without kubernetes.list writes it, with nothing to keep", () => {
    const node = fakeNode({});
    const r = node.run({ packageRepository: "https://mirror.internal/k8s/{minor}/deb/" });
    expect(r.status).toBe(0);
    expect(node.ls(node.partsDir)).toEqual(["kubernetes.list"]);
  });
});

describe("packageRepository: yum / dnf", () => {
  test('"auto" moves baseurl and gpgkey of kubernetes.repo to v1.35, keeps the old file, expires the metadata cache', () => {
    const node = fakeNode({ "kubernetes.repo": REPO_V134 });
    const r = node.run({ packageManager: "dnf" });
    expect(r.status).toBe(0);
    expect(node.read(path.join(node.yumDir, "kubernetes.repo"))).toBe(
      REPO_V134.replace(/v1\.34/g, "v1.35"),
    );
    expect(node.read(path.join(node.yumDir, "kubernetes.repo.kube-upkeep-v1.34.save"))).toBe(
      REPO_V134,
    );
    expect(r.calls.slice(0, 4)).toEqual([
      "kubelet --version",
      "dnf clean expire-cache",
      "kubeadm version -o short",
      "dnf install -y kubeadm-1.35.4-* --disableexcludes=kubernetes",
    ]);
    const again = node.run({ packageManager: "dnf" });
    expect(again.calls).not.toContain("dnf clean expire-cache");
  });

  test("a URL template writes the install guide's kubernetes.repo for it", () => {
    const node = fakeNode({});
    const r = node.run({
      packageManager: "yum",
      packageRepository: "http://10.0.0.1:8080/core:/stable:/{minor}/rpm/",
    });
    expect(r.status).toBe(0);
    expect(node.read(path.join(node.yumDir, "kubernetes.repo"))).toBe(
      REPO_V134.replace(/https:\/\/pkgs\.k8s\.io/g, "http://10.0.0.1:8080").replace(
        /v1\.34/g,
        "v1.35",
      ),
    );
    expect(r.calls).toContain("yum clean expire-cache");
  });
});

describe("packageRepository validation", () => {
  const target = parseKubeVersion("v1.35.4", "t", "t");
  test("values", () => {
    expect(resolvePackageRepository("w", "f", undefined, target)).toEqual({ kind: "auto" });
    expect(resolvePackageRepository("w", "f", "auto", target)).toEqual({ kind: "auto" });
    expect(resolvePackageRepository("w", "f", false, target)).toEqual({ kind: "leave" });
    expect(resolvePackageRepository("w", "f", "leave", target)).toEqual({ kind: "leave" });
    expect(
      resolvePackageRepository("w", "f", "http://10.0.0.1:8080/core:/stable:/{minor}/deb/", target),
    ).toEqual({ kind: "url", url: "http://10.0.0.1:8080/core:/stable:/v1.35/deb/" });
    // a fixed URL is used as it is
    expect(resolvePackageRepository("w", "f", "https://m.internal/k8s/", target)).toEqual({
      kind: "url",
      url: "https://m.internal/k8s/",
    });
  });

  test("bad values name the field and the fix", () => {
    for (const [v, problem] of [
      ["pkgs.k8s.io", 'neither "auto", "leave" nor an http(s) URL'],
      ["ftp://m/k8s/", 'neither "auto", "leave" nor an http(s) URL'],
      ["http://m/core:/stable:/{major}/deb/", "has a placeholder other than {minor}"],
      ["http://m/k8s", 'does not end in "/"'],
      ["http://m/k 8s/", "characters that must not reach a shell"],
      ["http://m/k8s/$(reboot)/", "characters that must not reach a shell"],
      ["http://user:pw@m/k8s/", "characters that must not reach a shell"],
      [true, "not a repository setting"],
    ] as const) {
      let err: unknown;
      try {
        renderNodeUpgradeScript({
          targetVersion: "v1.35.4",
          mode: "node",
          packageRepository: v as never,
        });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      const e = err as ValidationError;
      expect({ v, field: e.field, problem: e.problem.includes(problem) }).toEqual({
        v,
        field: "packageRepository",
        problem: true,
      });
      expect(e.fix).toContain("{minor} becomes v1.35");
    }
  });
});
