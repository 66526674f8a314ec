import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ValidationErrors } from "../../../../lib/core/errors";
import {
  renderNodeRollbackScript,
  type NodeRollbackScriptOptions,
} from "../../../../lib/core/scripts/node-rollback";
import { renderNodeUpgradeScript } from "../../../../lib/core/scripts/node-upgrade";
import { SHELLCHECK, writeNodeTools } from "./stubs";

const render = (o: Partial<NodeRollbackScriptOptions> = {}) =>
  renderNodeRollbackScript({ previousVersion: "v1.34.4", role: "worker", ...o });

/** A fake node at kubelet/kubeadm `at`: stub tools, apt configured under `<dir>/root`. */
function fakeNode(at: string) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-node-rollback-"));
  const root = path.join(dir, "root");
  const state = path.join(dir, "state");
  writeNodeTools(path.join(dir, "bin"), state, { kubelet: at, kubeadm: at });
  fs.mkdirSync(path.join(root, "etc/apt/sources.list.d"), { recursive: true });
  fs.mkdirSync(path.join(root, "var/lib/kubelet"), { recursive: true });
  fs.writeFileSync(path.join(dir, "apt.conf"), `Dir "${root}/";\n`);
  const run = (script: string) => {
    const log = path.join(dir, "log");
    fs.writeFileSync(log, "");
    const r = spawnSync("/bin/sh", ["-c", script], {
      env: {
        PATH: `${dir}/bin:/usr/bin:/bin`,
        LOG: log,
        STATE: state,
        APT_CONFIG: path.join(dir, "apt.conf"),
      },
      encoding: "utf8",
    });
    return {
      status: r.status,
      stderr: r.stderr,
      calls: fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .filter((c) => c !== "" && !/^(kubelet --version|kubeadm version)/.test(c)),
      kubelet: fs.readFileSync(path.join(state, "kubelet"), "utf8"),
    };
  };
  return { dir, root, run, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

describe("renderNodeRollbackScript", () => {
  it("passes shellcheck for every package manager, role and repository setting", () => {
    if (!fs.existsSync(SHELLCHECK))
      throw new Error(`${SHELLCHECK} missing: apt-get install shellcheck (listed in .ci/run)`);
    for (const packageManager of ["apt", "yum", "dnf"] as const)
      for (const role of ["worker", "control-plane"] as const)
        for (const packageRepository of [
          "auto" as const,
          false as const,
          `http://10.0.0.1:8080/core:/stable:/{minor}/${packageManager === "apt" ? "deb" : "rpm"}/`,
        ]) {
          const script = render({
            packageManager,
            role,
            packageRepository,
            ...(role === "control-plane"
              ? { etcdSnapshot: { snapshot: "/var/backups/etcd/pre-upgrade.db" } }
              : {}),
          });
          const r = spawnSync(SHELLCHECK, ["--shell=sh", "--severity=info", "-"], {
            input: script,
            encoding: "utf8",
          });
          expect({ packageManager, role, packageRepository, out: r.stdout }).toEqual({
            packageManager,
            role,
            packageRepository,
            out: "",
          });
        }
  });

  it("reports every bad field at once, each with its fix", () => {
    let err: unknown;
    try {
      render({
        previousVersion: "1.34",
        etcdSnapshot: { snapshot: "relative.db" },
        manifestBackupDir: "/etc/kubernetes/tmp/x",
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationErrors);
    const fields = (err as ValidationErrors).errors.map((e) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining(["previousVersion", "etcdSnapshot", "manifestBackupDir"]),
    );
    expect(() => render({ role: "control-plane", etcdSnapshot: { snapshot: "x.db" } })).toThrow(
      /etcdSnapshot\.snapshot/,
    );
    expect(() => render({ role: "control-plane", manifestsDir: "manifests" })).toThrow(
      /manifestsDir/,
    );
  });

  it("rolls a worker back: the repository entry, the packages, the kubelet configuration, a restart; a re-run does nothing", () => {
    const node = fakeNode("v1.35.4");
    try {
      const list = path.join(node.root, "etc/apt/sources.list.d/kubernetes.list");
      const entry = (minor: string, key: string) =>
        `deb [signed-by=/etc/apt/keyrings/${key}] https://pkgs.k8s.io/core:/stable:/${minor}/deb/ /\n`;
      fs.writeFileSync(list, entry("v1.35", "kubernetes-apt-keyring-v1.35.gpg"));
      fs.writeFileSync(
        `${list}.kube-upkeep-v1.34.save`,
        entry("v1.34", "kubernetes-apt-keyring.gpg"),
      );
      const kubelet = path.join(node.root, "var/lib/kubelet");
      fs.writeFileSync(path.join(kubelet, "config.yaml"), "failCgroupV1: true # 1.35's\n");
      fs.writeFileSync(
        path.join(kubelet, "config.yaml.kube-upkeep-v1.34.4.save"),
        "failCgroupV1: false # 1.34's\n",
      );

      const r = node.run(render({ hostRoot: node.root }));
      expect(r.stderr).toContain("node rolled back to v1.34.4");
      expect(r.status).toBe(0);
      expect(fs.readFileSync(list, "utf8")).toBe(entry("v1.34", "kubernetes-apt-keyring.gpg"));
      expect(fs.readFileSync(path.join(kubelet, "config.yaml"), "utf8")).toBe(
        "failCgroupV1: false # 1.34's\n",
      );
      expect(r.calls).toEqual([
        "apt-get update",
        "apt-mark unhold kubeadm kubelet kubectl",
        "apt-get install -y --allow-downgrades kubeadm=1.34.4-* kubelet=1.34.4-* kubectl=1.34.4-*",
        "apt-mark hold kubeadm kubelet kubectl",
        "systemctl daemon-reload",
        "systemctl restart kubelet",
      ]);
      expect(r.kubelet).toBe("v1.34.4");
      // no kept copy and no kubeadm backup of kubeadm-flags.env: left as it is, and said so
      expect(r.stderr).toContain(
        `no ${kubelet}/kubeadm-flags.env.kube-upkeep-v1.34.4.save nor a kubeadm backup of it`,
      );

      const again = node.run(render({ hostRoot: node.root }));
      expect([again.status, again.calls]).toEqual([0, []]);
      expect(again.stderr).toContain("already at v1.34.4: nothing to do");
    } finally {
      node.cleanup();
    }
  });

  it("restores what the upgrade script kept: the upgrade saves the kubelet configuration once", () => {
    const node = fakeNode("v1.34.4");
    try {
      const kubelet = path.join(node.root, "var/lib/kubelet");
      fs.writeFileSync(path.join(kubelet, "config.yaml"), "the 1.34 config\n");
      fs.writeFileSync(path.join(kubelet, "kubeadm-flags.env"), "KUBELET_KUBEADM_ARGS=\n");
      const up = node.run(
        renderNodeUpgradeScript({
          targetVersion: "v1.35.4",
          mode: "node",
          hostRoot: node.root,
          packageRepository: false,
        }),
      );
      expect([up.status, up.kubelet]).toEqual([0, "v1.35.4"]);
      // what kubeadm upgrade node does to the file
      fs.writeFileSync(path.join(kubelet, "config.yaml"), "the 1.35 config\n");
      const back = node.run(render({ hostRoot: node.root, packageRepository: false }));
      expect(back.status).toBe(0);
      expect(back.kubelet).toBe("v1.34.4");
      expect(fs.readFileSync(path.join(kubelet, "config.yaml"), "utf8")).toBe("the 1.34 config\n");
      expect(back.stderr).toContain("kubeadm-flags.env restored from");
    } finally {
      node.cleanup();
    }
  });

  it("control plane: the manifests come from the newest kubeadm backup of the previous version, the snapshot after them", () => {
    const script = render({
      role: "control-plane",
      etcdSnapshot: { snapshot: "/var/backups/etcd/pre.db", dataDir: "/var/lib/etcd-rollback" },
    });
    const at = (s: string) => script.indexOf(s);
    expect(at("kubeadm-backup-manifests-*")).toBeGreaterThan(0);
    expect(at("# 3. The static pod manifests")).toBeGreaterThan(at("# 2. kubeadm"));
    expect(at("# 4. The pre-upgrade etcd snapshot")).toBeGreaterThan(at("# 3. The static pod"));
    expect(at("# 5. The kubelet configuration")).toBeGreaterThan(at("# 4. The pre-upgrade"));
    // a re-run does not restore the snapshot again over what was written since
    expect(script).toMatch(/grep -q -- '?--data-dir=\/var\/lib\/etcd-rollback/);
    expect(script).toContain("etcdutl snapshot restore");
  });
});
