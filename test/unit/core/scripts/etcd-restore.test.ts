/**
 * Unit tests of the etcd restore helper: argv and script shape, validation, quoting, and the
 * rendered script's control flow under stub etcdutl / etcdctl / sleep on a fake manifests dir
 * (the real etcd restores are in test/integration/etcd).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ValidationError } from "../../../../lib/core/errors";
import {
  etcdHealthCommand,
  etcdRestoreCommand,
  renderEtcdDataDirSwitchScript,
  renderEtcdRestoreScript,
  renderHaEtcdRestoreScripts,
  resolveEtcdRestoreOptions,
  type EtcdRestoreScriptOptions,
} from "../../../../lib/core/scripts/etcd-restore";
import { makeStubs, runScript, shellcheck } from "./stubs";
import { validationErrorOf } from "./validation";

const SNAP = "/var/backups/etcd/etcd-snapshot-20260101T020000Z.db";
/** What the fake etcdutl reads as a valid snapshot (stubs.ts). */
const SNAPSHOT = "FAKE-ETCD-SNAPSHOT";

/** The parts of kubeadm's etcd.yaml that name the data directory. */
const KUBEADM_ETCD_YAML = `apiVersion: v1
kind: Pod
metadata:
  name: etcd
  namespace: kube-system
spec:
  containers:
  - command:
    - etcd
    - --advertise-client-urls=https://10.0.0.11:2379
    - --data-dir=/var/lib/etcd
    - --name=master
    - --initial-cluster=master=https://10.0.0.11:2380
    volumeMounts:
    - mountPath: /var/lib/etcd
      name: etcd-data
    - mountPath: /etc/kubernetes/pki/etcd
      name: etcd-certs
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki/etcd
      type: DirectoryOrCreate
    name: etcd-certs
  - hostPath:
      path: /var/lib/etcd
      type: DirectoryOrCreate
    name: etcd-data
`;

/** fn throws a ValidationError about `field`; returns it. */
function invalid(fn: () => unknown, field: string): ValidationError {
  const e = validationErrorOf(fn);
  expect(e.field).toBe(field);
  return e;
}

describe("etcd restore: commands", () => {
  it("restores into /var/lib/etcd-restore with etcdutl by default", () => {
    expect(etcdRestoreCommand({ snapshot: SNAP })).toEqual([
      "etcdutl",
      "snapshot",
      "restore",
      SNAP,
      "--data-dir=/var/lib/etcd-restore",
    ]);
    const o = resolveEtcdRestoreOptions({ snapshot: SNAP });
    expect(o.currentDataDir).toBe("/var/lib/etcd");
    expect(o.manifestsDir).toBe("/etc/kubernetes/manifests");
    expect(o.restartWaitSeconds).toBe(30);
  });

  it("passes the member's name, initial cluster, peer URL and token (the guide's flags)", () => {
    expect(
      etcdRestoreCommand({
        snapshot: SNAP,
        name: "master",
        initialCluster: [{ name: "master", peerUrl: "https://127.0.0.1:2380" }],
        initialClusterToken: "restore-1",
      }),
    ).toEqual([
      "etcdutl",
      "snapshot",
      "restore",
      SNAP,
      "--data-dir=/var/lib/etcd-restore",
      "--name=master",
      "--initial-cluster=master=https://127.0.0.1:2380",
      "--initial-advertise-peer-urls=https://127.0.0.1:2380",
      "--initial-cluster-token=restore-1",
    ]);
  });

  it("checks health over TLS with kubeadm's certificates", () => {
    expect(etcdHealthCommand({ snapshot: SNAP })).toEqual([
      "etcdctl",
      "--endpoints=https://127.0.0.1:2379",
      "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
      "--cert=/etc/kubernetes/pki/etcd/server.crt",
      "--key=/etc/kubernetes/pki/etcd/server.key",
      "endpoint",
      "health",
    ]);
  });

  it("with rootfs, file operations use <rootfs><path> while the manifest keeps host paths", () => {
    const o: EtcdRestoreScriptOptions = { snapshot: SNAP, rootfs: "/host" };
    expect(etcdRestoreCommand(o).slice(3)).toEqual([
      `/host${SNAP}`,
      "--data-dir=/host/var/lib/etcd-restore",
    ]);
    const script = renderEtcdRestoreScript(o);
    expect(script).toContain("manifests_dir=/host/etc/kubernetes/manifests");
    expect(script).toContain("new_dir=/var/lib/etcd-restore");
    expect(script).toContain("data_dir=/host/var/lib/etcd-restore");
  });
});

describe("etcd restore: validation", () => {
  it("needs a snapshot, as an absolute normalized path", () => {
    invalid(() => resolveEtcdRestoreOptions({} as EtcdRestoreScriptOptions), "snapshot");
    invalid(() => resolveEtcdRestoreOptions({ snapshot: "backup.db" }), "snapshot");
    invalid(() => resolveEtcdRestoreOptions({ snapshot: "/tmp/../etc/x.db" }), "snapshot");
  });

  it("rejects values that would change the script's meaning", () => {
    invalid(() => renderEtcdRestoreScript({ snapshot: "/tmp/a.db; rm -rf /" }), "snapshot");
    invalid(
      () => renderEtcdRestoreScript({ snapshot: SNAP, dataDir: "/var/lib/$(id)" }),
      "dataDir",
    );
    invalid(() => renderEtcdRestoreScript({ snapshot: SNAP, etcdutl: "etcdutl -x" }), "etcdutl");
    invalid(
      () => renderEtcdRestoreScript({ snapshot: SNAP, endpoint: "https://x:2379/`id`" }),
      "endpoint",
    );
    invalid(
      () => renderEtcdRestoreScript({ snapshot: SNAP, initialClusterToken: "a b" }),
      "initialClusterToken",
    );
    invalid(
      () => renderEtcdRestoreScript({ snapshot: SNAP, etcdManifest: "../etcd.yaml" }),
      "etcdManifest",
    );
  });

  it("never restores over or inside the current data directory", () => {
    const e = invalid(
      () => resolveEtcdRestoreOptions({ snapshot: SNAP, dataDir: "/var/lib/etcd" }),
      "dataDir",
    );
    expect(e.message).toContain("Fix: restore into a new directory");
    invalid(
      () => resolveEtcdRestoreOptions({ snapshot: SNAP, dataDir: "/var/lib/etcd/new" }),
      "dataDir",
    );
    invalid(
      () =>
        resolveEtcdRestoreOptions({
          snapshot: SNAP,
          dataDir: "/var",
          currentDataDir: "/var/lib/etcd",
        }),
      "dataDir",
    );
    invalid(() => resolveEtcdRestoreOptions({ snapshot: SNAP, dataDir: "/" }), "dataDir");
    // found by the property test: "/" holds every path ("/" + "/" is not a prefix of them),
    // and the error names the setting that was given
    invalid(
      () => resolveEtcdRestoreOptions({ snapshot: SNAP, currentDataDir: "/" }),
      "currentDataDir",
    );
    expect(
      invalid(
        () => resolveEtcdRestoreOptions({ snapshot: SNAP, currentDataDir: "/var/lib" }),
        "currentDataDir",
      ).message,
    ).toContain("overlaps the data directory /var/lib/etcd-restore the snapshot is restored into");
  });

  it("keeps the stash outside the manifests directory", () => {
    invalid(
      () =>
        resolveEtcdRestoreOptions({ snapshot: SNAP, stashDir: "/etc/kubernetes/manifests/old" }),
      "stashDir",
    );
    // "/" as the manifests directory (it would hold the stash too) is refused as itself
    invalid(() => resolveEtcdRestoreOptions({ snapshot: SNAP, manifestsDir: "/" }), "manifestsDir");
  });

  // found by the property test: the stash moves `*`, which skips hidden files, and the kubelet
  // never runs them either; such a restore stopped the static pods, then failed
  it("refuses a hidden etcd manifest", () => {
    expect(
      invalid(
        () => resolveEtcdRestoreOptions({ snapshot: SNAP, etcdManifest: ".etcd.yaml" }),
        "etcdManifest",
      ).message,
    ).toContain("is a hidden file, which the kubelet never runs as a static pod");
  });

  it("needs name and initialCluster together, the name among the members", () => {
    invalid(() => resolveEtcdRestoreOptions({ snapshot: SNAP, name: "m1" }), "initialCluster");
    invalid(
      () =>
        resolveEtcdRestoreOptions({
          snapshot: SNAP,
          initialCluster: [{ name: "m1", peerUrl: "https://10.0.0.1:2380" }],
        }),
      "name",
    );
    const m1 = { name: "m1", peerUrl: "https://10.0.0.1:2380" };
    const bad: [Partial<EtcdRestoreScriptOptions>, string][] = [
      [{ name: "m2", initialCluster: [m1] }, "name"],
      [
        { name: "m1", initialCluster: [m1, { name: "m1", peerUrl: "https://10.0.0.2:2380" }] },
        "initialCluster[1].name",
      ],
      [
        { name: "m1", initialCluster: [m1, { name: "m2", peerUrl: "https://10.0.0.1:2380/" }] },
        "initialCluster[1].peerUrl",
      ],
      [{ name: "M1", initialCluster: [{ ...m1, name: "M1" }] }, "name"],
    ];
    for (const [opts, field] of bad)
      invalid(() => resolveEtcdRestoreOptions({ snapshot: SNAP, ...opts }), field);
  });

  it("bounds the waits", () => {
    invalid(
      () => resolveEtcdRestoreOptions({ snapshot: SNAP, restartWaitSeconds: -1 }),
      "restartWaitSeconds",
    );
    invalid(
      () => resolveEtcdRestoreOptions({ snapshot: SNAP, healthTimeoutSeconds: 0 }),
      "healthTimeoutSeconds",
    );
  });
});

describe("etcd restore: HA (one cluster description, one restore per member)", () => {
  const members = [
    { name: "master-1", peerUrl: "https://192.168.1.11:2380" },
    { name: "master-2", peerUrl: "https://192.168.1.12:2380" },
    {
      name: "master-3",
      peerUrl: "https://192.168.1.13:2380",
      clientUrl: "https://192.168.1.13:2379",
    },
  ];
  const initial =
    "--initial-cluster=master-1=https://192.168.1.11:2380,master-2=https://192.168.1.12:2380,master-3=https://192.168.1.13:2380";

  it("renders the guide's per-node commands from one description", () => {
    const r = renderHaEtcdRestoreScripts({
      snapshot: "/tmp/etcd-backup.db",
      members,
      initialClusterToken: "new-cluster",
    });
    expect(r.map((m) => m.name)).toEqual(["master-1", "master-2", "master-3"]);
    r.forEach((m, i) => {
      expect(m.restoreCommand).toEqual([
        "etcdutl",
        "snapshot",
        "restore",
        "/tmp/etcd-backup.db",
        "--data-dir=/var/lib/etcd-restore",
        `--name=${members[i].name}`,
        initial,
        `--initial-advertise-peer-urls=${members[i].peerUrl}`,
        "--initial-cluster-token=new-cluster",
      ]);
      expect(m.script).toContain(m.restoreCommand.join(" "));
      shellcheck(m.script);
    });
    expect(r[0].options.endpoint).toBe("https://127.0.0.1:2379");
    expect(r[2].options.endpoint).toBe("https://192.168.1.13:2379");
  });

  it("needs a token and distinct members", () => {
    invalid(
      () =>
        renderHaEtcdRestoreScripts({
          snapshot: SNAP,
          members,
        } as unknown as Parameters<typeof renderHaEtcdRestoreScripts>[0]),
      "initialClusterToken",
    );
    invalid(
      () => renderHaEtcdRestoreScripts({ snapshot: SNAP, members: [], initialClusterToken: "t" }),
      "members",
    );
    invalid(
      () =>
        renderHaEtcdRestoreScripts({
          snapshot: SNAP,
          members: [members[0], { ...members[1], name: "master-1" }],
          initialClusterToken: "t",
        }),
      "members[1].name",
    );
  });
});

describe("etcd restore: rendered scripts are shellcheck-clean", () => {
  it("single member, with and without member flags, and the switch script", () => {
    shellcheck(renderEtcdRestoreScript({ snapshot: SNAP }));
    shellcheck(
      renderEtcdRestoreScript({
        snapshot: SNAP,
        name: "master",
        initialCluster: [{ name: "master", peerUrl: "https://10.0.0.11:2380" }],
        initialClusterToken: "t1",
        rootfs: "/host",
      }),
    );
    shellcheck(renderEtcdDataDirSwitchScript({ manifest: "/etc/kubernetes/manifests/etcd.yaml" }));
  });
});

// ---------------------------------------------------------------------------------------------
// The scripts run: switch script on a kubeadm manifest, full script under stubs.

function sandbox() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-restore-unit-"));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a script with only the system's tools on PATH. */
const bash = (script: string) => runScript(script, { PATH: "/usr/bin:/bin" });

describe("etcd restore: the data-dir switch on kubeadm's etcd.yaml", () => {
  it("rewrites --data-dir, the mountPath and the hostPath, nothing else, and keeps the original", () => {
    const s = sandbox();
    try {
      const manifest = path.join(s.dir, "etcd.yaml");
      fs.writeFileSync(manifest, KUBEADM_ETCD_YAML);
      const r = bash(renderEtcdDataDirSwitchScript({ manifest }));
      expect(r.stderr).toContain("(1 --data-dir, 1 mountPath, 1 hostPath lines)");
      expect(r.status).toBe(0);
      const after = fs.readFileSync(manifest, "utf8");
      expect(after).toBe(
        KUBEADM_ETCD_YAML.replace(
          "- --data-dir=/var/lib/etcd\n",
          "- --data-dir=/var/lib/etcd-restore\n",
        )
          .replace("- mountPath: /var/lib/etcd\n", "- mountPath: /var/lib/etcd-restore\n")
          .replace("      path: /var/lib/etcd\n", "      path: /var/lib/etcd-restore\n"),
      );
      const backups = fs
        .readdirSync(s.dir)
        .filter((f) => f.startsWith("etcd.yaml.before-restore-"));
      expect(backups).toHaveLength(1);
      expect(fs.readFileSync(path.join(s.dir, backups[0]), "utf8")).toBe(KUBEADM_ETCD_YAML);
    } finally {
      s.cleanup();
    }
  });

  it("changes nothing when the manifest does not name the current data directory exactly once", () => {
    const s = sandbox();
    try {
      const manifest = path.join(s.dir, "etcd.yaml");
      fs.writeFileSync(manifest, KUBEADM_ETCD_YAML);
      const r = bash(renderEtcdDataDirSwitchScript({ manifest, currentDataDir: "/data/etcd" }));
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        "has 0 lines '- --data-dir=/data/etcd' (expected 1); nothing changed",
      );
      expect(fs.readFileSync(manifest, "utf8")).toBe(KUBEADM_ETCD_YAML);
      expect(fs.readdirSync(s.dir)).toEqual(["etcd.yaml"]);
      // a prefix is not a match
      fs.writeFileSync(
        manifest,
        KUBEADM_ETCD_YAML.replace(/\/var\/lib\/etcd\n/g, "/var/lib/etcd2\n"),
      );
      expect(bash(renderEtcdDataDirSwitchScript({ manifest })).status).toBe(1);
    } finally {
      s.cleanup();
    }
  });
});

/** A node under rootfs: kubeadm's manifests, a snapshot, the shared stubs on PATH. */
function node() {
  const st = makeStubs();
  const manifests = path.join(st.dir, "etc/kubernetes/manifests");
  fs.mkdirSync(manifests, { recursive: true });
  fs.writeFileSync(path.join(manifests, "etcd.yaml"), KUBEADM_ETCD_YAML);
  fs.writeFileSync(path.join(manifests, "kube-apiserver.yaml"), "kind: Pod # apiserver\n");
  fs.mkdirSync(path.join(st.dir, "var/backups"), { recursive: true });
  fs.writeFileSync(path.join(st.dir, "var/backups/snap.db"), SNAPSHOT);
  const env = (extra: Record<string, string> = {}) => ({
    ...st.env,
    STUB_MANIFESTS: manifests,
    ...extra,
  });
  /** Recorded invocations, argv joined with spaces. */
  const calls = () => st.calls().map((argv) => argv.join(" "));
  const opts: EtcdRestoreScriptOptions = {
    snapshot: "/var/backups/snap.db",
    rootfs: st.dir,
    restartWaitSeconds: 25,
    healthTimeoutSeconds: 5,
  };
  return { dir: st.dir, cleanup: st.cleanup, manifests, calls, env, opts };
}

describe("etcd restore: the full script under stubs", () => {
  it("verifies, stops the static pods, restores, switches the data dir, starts and checks health", () => {
    const n = node();
    try {
      const r = runScript(renderEtcdRestoreScript(n.opts), n.env());
      expect(r.stderr).toContain("done: etcd runs on /var/lib/etcd-restore");
      expect(r.status).toBe(0);
      const calls = n.calls();
      expect(calls[0]).toBe(`etcdutl snapshot status ${n.dir}/var/backups/snap.db -w json`);
      expect(calls[1]).toBe("sleep 25");
      expect(calls[2]).toBe("manifests:"); // every manifest was out while waiting
      expect(calls[3]).toBe(
        `etcdutl snapshot restore ${n.dir}/var/backups/snap.db --data-dir=${n.dir}/var/lib/etcd-restore`,
      );
      expect(calls[4]).toMatch(
        /^etcdctl --endpoints=https:\/\/127\.0\.0\.1:2379 .* endpoint health$/,
      );
      expect(calls[5]).toMatch(/ member list -w table$/);
      expect(fs.readdirSync(n.manifests).sort()).toEqual(["etcd.yaml", "kube-apiserver.yaml"]);
      const etcd = fs.readFileSync(path.join(n.manifests, "etcd.yaml"), "utf8");
      expect(etcd).toContain("- --data-dir=/var/lib/etcd-restore\n");
      expect(etcd).toContain("      path: /var/lib/etcd-restore\n");
      const tmp = fs.readdirSync(path.join(n.dir, "etc/kubernetes/tmp"));
      expect(tmp).toHaveLength(1);
      expect(tmp[0]).toMatch(/^etcd\.yaml\.before-restore-\d{8}T\d{6}Z$/);
      expect(fs.existsSync(path.join(n.dir, "var/lib/etcd-restore/member"))).toBe(true);
    } finally {
      n.cleanup();
    }
  });

  it("puts the original manifests back and removes the half-restored directory when etcdutl fails", () => {
    const n = node();
    try {
      const r = runScript(renderEtcdRestoreScript(n.opts), n.env({ STUB_RESTORE_FAIL: "1" }));
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(
        "ERROR: etcdutl snapshot restore failed: restore failed: disk full (fake etcdutl)",
      );
      expect(fs.readFileSync(path.join(n.manifests, "etcd.yaml"), "utf8")).toBe(KUBEADM_ETCD_YAML);
      expect(fs.readdirSync(n.manifests).sort()).toEqual(["etcd.yaml", "kube-apiserver.yaml"]);
      expect(fs.existsSync(path.join(n.dir, "var/lib/etcd-restore"))).toBe(false);
      expect(fs.readdirSync(path.join(n.dir, "etc/kubernetes/tmp"))).toEqual([]);
    } finally {
      n.cleanup();
    }
  });

  it("refuses before touching anything: unreadable snapshot, existing data dir", () => {
    const n = node();
    try {
      fs.writeFileSync(path.join(n.dir, "var/backups/snap.db"), "TRUNCATED");
      let r = runScript(renderEtcdRestoreScript(n.opts), n.env());
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("is not a readable etcd snapshot: invalid database");
      fs.writeFileSync(path.join(n.dir, "var/backups/snap.db"), SNAPSHOT);
      fs.mkdirSync(path.join(n.dir, "var/lib/etcd-restore"), { recursive: true });
      r = runScript(renderEtcdRestoreScript(n.opts), n.env());
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("exists already; restore into a new directory");
      expect(n.calls().some((c) => c.startsWith("sleep"))).toBe(false);
      expect(fs.readFileSync(path.join(n.manifests, "etcd.yaml"), "utf8")).toBe(KUBEADM_ETCD_YAML);
    } finally {
      n.cleanup();
    }
  });
});
