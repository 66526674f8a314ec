import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationError } from "../../../../lib/core/errors";
import {
  renderNodeUpgradeScript,
  type NodeUpgradeScriptOptions,
} from "../../../../lib/core/scripts/node-upgrade";
import { writeNodeTools } from "./stubs";

const SHELLCHECK = "/usr/bin/shellcheck";

/**
 * Fake node: stub apt-get / apt-mark / dnf / yum / kubeadm / kubelet / systemctl / id / sudo
 * record their argv in $LOG; package installs move the fake kubeadm/kubelet versions in $STATE.
 */
function fakeNode(kubelet: string, kubeadm: string, uid = 0) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-node-upgrade-"));
  const bin = path.join(dir, "bin");
  const state = path.join(dir, "state");
  writeNodeTools(bin, state, { kubelet, kubeadm, uid });
  // apt's configuration of this fake node: an empty etc/apt (no Kubernetes entry to switch), so
  // the host's own sources never matter
  fs.mkdirSync(path.join(dir, "root/etc/apt/sources.list.d"), { recursive: true });
  fs.writeFileSync(path.join(dir, "apt.conf"), `Dir "${dir}/root/";\n`);
  return {
    run(script: string, env: Record<string, string> = {}) {
      const file = path.join(dir, "upgrade.sh");
      fs.writeFileSync(file, script);
      const log = path.join(dir, "log");
      fs.writeFileSync(log, "");
      const r = spawnSync("/bin/sh", [file], {
        env: {
          PATH: `${bin}:/usr/bin:/bin`,
          LOG: log,
          STATE: state,
          APT_CONFIG: path.join(dir, "apt.conf"),
          ...env,
        },
        encoding: "utf8",
      });
      return {
        status: r.status,
        stderr: r.stderr,
        calls: fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean),
        kubelet: fs.readFileSync(path.join(state, "kubelet"), "utf8"),
      };
    },
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

const render = (o: Partial<NodeUpgradeScriptOptions> = {}) =>
  renderNodeUpgradeScript({ targetVersion: "v1.35.4", mode: "node", ...o });

describe("renderNodeUpgradeScript", () => {
  it("passes shellcheck for every package manager and mode", () => {
    if (!fs.existsSync(SHELLCHECK))
      throw new Error(`${SHELLCHECK} missing: apt-get install shellcheck (listed in .ci/run)`);
    // sudo and the repository setting are independent: every sudo mode with the default
    // repository, every repository setting with sudo "auto"
    for (const packageManager of ["apt", "yum", "dnf"] as const)
      for (const mode of ["apply", "node"] as const)
        for (const [sudo, packageRepository] of [
          ["auto", "auto"],
          ["always", "auto"],
          ["never", "auto"],
          ["auto", false],
          [
            "auto",
            `http://10.0.0.1:8080/core:/stable:/{minor}/${packageManager === "apt" ? "deb" : "rpm"}/`,
          ],
        ] as const) {
          const script = render({
            packageManager,
            mode,
            sudo,
            packageRepository,
            kubeadmFlags: ["--certificate-renewal=false"],
          });
          const r = spawnSync(SHELLCHECK, ["-s", "sh", "-"], { input: script, encoding: "utf8" });
          expect({ packageManager, mode, sudo, packageRepository, out: r.stdout }).toEqual({
            packageManager,
            mode,
            sudo,
            packageRepository,
            out: "",
          });
        }
  });

  it("apt, first control-plane node: the official order, pinned and held", () => {
    const node = fakeNode("v1.34.2", "v1.34.2");
    try {
      const r = node.run(render({ mode: "apply" }));
      expect(r.status).toBe(0);
      expect(r.calls).toEqual([
        "kubelet --version",
        "kubeadm version -o short",
        "apt-get update",
        "apt-mark unhold kubeadm",
        "apt-get install -y kubeadm=1.35.4-*",
        "apt-mark hold kubeadm",
        "kubeadm version -o short",
        "kubeadm upgrade apply v1.35.4 -y",
        "apt-mark unhold kubelet kubectl",
        "apt-get install -y kubelet=1.35.4-* kubectl=1.35.4-*",
        "apt-mark hold kubelet kubectl",
        "systemctl daemon-reload",
        "systemctl restart kubelet",
        "kubelet --version",
      ]);
      expect(r.kubelet).toBe("v1.35.4");
      expect(r.stderr).toContain("kube-upkeep: node upgraded to v1.35.4");
    } finally {
      node.cleanup();
    }
  });

  it("dnf, other nodes: kubeadm upgrade node, --disableexcludes=kubernetes, exact package version", () => {
    const node = fakeNode("v1.34.2", "v1.34.2");
    try {
      const r = node.run(
        render({
          packageManager: "dnf",
          packageVersion: "1.35.4-150500.1.1",
          upgradeKubectl: false,
        }),
      );
      expect(r.status).toBe(0);
      expect(r.calls).toEqual([
        "kubelet --version",
        "kubeadm version -o short",
        "dnf install -y kubeadm-1.35.4-150500.1.1 --disableexcludes=kubernetes",
        "kubeadm version -o short",
        "kubeadm upgrade node",
        "dnf install -y kubelet-1.35.4-150500.1.1 --disableexcludes=kubernetes",
        "systemctl daemon-reload",
        "systemctl restart kubelet",
        "kubelet --version",
      ]);
    } finally {
      node.cleanup();
    }
  });

  it("skips everything when the kubelet is already at the target, and the kubeadm package when kubeadm is", () => {
    const done = fakeNode("v1.35.4", "v1.35.4");
    try {
      const r = done.run(render({ mode: "apply" }));
      expect(r.status).toBe(0);
      expect(r.calls).toEqual(["kubelet --version"]);
      expect(r.stderr).toContain("kubelet already at v1.35.4: nothing to do");
    } finally {
      done.cleanup();
    }
    const half = fakeNode("v1.34.2", "v1.35.4");
    try {
      const r = half.run(render());
      expect(r.status).toBe(0);
      expect(r.calls.slice(0, 3)).toEqual([
        "kubelet --version",
        "kubeadm version -o short",
        "kubeadm upgrade node",
      ]);
    } finally {
      half.cleanup();
    }
  });

  it("uses sudo -n when not root, and stops at the first failing command", () => {
    const node = fakeNode("v1.34.2", "v1.34.2", 1000);
    try {
      const r = node.run(render());
      expect(r.status).toBe(0);
      expect(r.calls).toContain("sudo -n apt-get update");
      expect(r.calls).toContain("sudo -n kubeadm upgrade node");
    } finally {
      node.cleanup();
    }
    const failing = fakeNode("v1.34.2", "v1.34.2", 1000);
    try {
      const f = failing.run(render({ sudo: "never" }), { FAIL_INSTALL: "1" });
      expect(f.status).toBe(100);
      expect(f.calls.at(-1)).toBe("apt-get install -y kubeadm=1.35.4-*");
      expect(f.stderr).toContain("E: Unable to locate package");
      expect(f.calls.some((c) => c.startsWith("sudo"))).toBe(false);
    } finally {
      failing.cleanup();
    }
  });

  it("validates every value before it reaches the script", () => {
    const bad: [Partial<NodeUpgradeScriptOptions>, RegExp][] = [
      [
        { targetVersion: "v1.35.4; reboot" },
        /invalid targetVersion .*not an exact Kubernetes version/,
      ],
      [{ mode: "upgrade" as never }, /invalid mode/],
      [{ packageManager: "zypper" as never }, /invalid packageManager "zypper"/],
      [{ packageVersion: "1.35.4-1.1 && reboot" }, /invalid packageVersion/],
      [{ packageVersion: "1.34.9-1.1" }, /does not match targetVersion v1.35.4/],
      [{ kubeadmFlags: ["--ignore-preflight-errors=all;reboot"] }, /invalid kubeadmFlags\[0\]/],
      [{ sudo: "maybe" as never }, /invalid sudo/],
      [{ packageRepository: "pkgs.k8s.io" }, /invalid packageRepository "pkgs.k8s.io": neither/],
    ];
    for (const [o, re] of bad) {
      expect(() => render(o)).toThrow(ValidationError);
      expect(() => render(o)).toThrow(re);
    }
    // a version glob and flags are quoted in the script
    const s = render({ kubeadmFlags: ["--certificate-renewal=false"] });
    expect(s).toContain("PKG_VERSION=1.35.4-\\*");
    expect(s).toContain("as_root kubeadm upgrade node --certificate-renewal=false");
    expect(execFileSync("/bin/sh", ["-n", "-c", s]).toString()).toBe("");
  });
});
