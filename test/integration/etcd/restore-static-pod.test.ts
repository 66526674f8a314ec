/**
 * The whole rendered restore script (renderEtcdRestoreScript), run unchanged with bash on a
 * kubeadm control-plane node's files: /etc/kubernetes made by the built kubeadm in a temp root
 * (its real etcd.yaml, ports moved to free loopback ports through kubeadm's etcd extraArgs),
 * etcd run from that manifest by a stand-in for the kubelet's static pods (support/
 * static-pods.ts: chroot <root> etcd <the manifest's command>). The script's `rootfs` is the
 * temp root, exactly as when it runs from a container with the host's / mounted.
 *
 * Checks the guide's journey on a static-pod etcd: snapshot, later changes, restore; the pods
 * stop while the manifests are out, etcd comes back on the new data directory (mounted through
 * a matching hostPath), with the snapshot's data, one member with the given peer URL.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { renderEtcdBackupScript } from "../../../lib/core/scripts/etcd-backup";
import { renderEtcdRestoreScript } from "../../../lib/core/scripts/etcd-restore";
import {
  backupTlsOptions,
  countKeys,
  etcdctlOk,
  waitHealthy,
  type RunningEtcd,
} from "../support/etcd";
import { freePort } from "../../cluster/ports";
import { makeKubeadmRoot, type EtcdPki } from "../support/pki";
import { MiniKubelet } from "../support/static-pods";
import { requireBinaries, requireRoot, runAsync, runOk, tempDir } from "../support/tools";

jest.setTimeout(300_000);

/** A value easy to find in the snapshot's bytes. */
const MARKER = "kube-upkeep-marker-value-0123456789abcdef";

let tmp: { dir: string; cleanup(): void };
let kubelet: MiniKubelet | undefined;

afterAll(async () => {
  await kubelet?.stop();
  tmp?.cleanup();
});

describe("renderEtcdRestoreScript on a kubeadm node with a static-pod etcd", () => {
  it("rolls back a refused (damaged) snapshot; then restores: pods stopped, etcd.yaml switched, the snapshot's data back", async () => {
    const bins = requireBinaries("etcd", "etcdctl", "etcdutl", "kubeadm");
    requireRoot("etcd runs chrooted into the kubeadm node root");
    tmp = tempDir("restore-static-pod");
    const root = join(tmp.dir, "node");
    const [client, peer, metrics] = [await freePort(), await freePort(), await freePort()];
    const extra = (name: string, value: string) => [`    - name: ${name}`, `      value: ${value}`];
    const node = makeKubeadmRoot(bins.kubeadm, root, {
      clusterExtra: [
        "etcd:",
        "  local:",
        "    extraArgs:",
        ...extra("listen-client-urls", `https://127.0.0.1:${client}`),
        ...extra("advertise-client-urls", `https://127.0.0.1:${client}`),
        ...extra("listen-peer-urls", `https://127.0.0.1:${peer}`),
        ...extra("initial-advertise-peer-urls", `https://127.0.0.1:${peer}`),
        ...extra("initial-cluster", `cp-1=https://127.0.0.1:${peer}`),
        ...extra("listen-metrics-urls", `http://127.0.0.1:${metrics}`),
      ],
    });
    copyFileSync(bins.etcd, join(root, "usr/local/bin/etcd"));
    const etcdPki = join(node.pkiDir, "etcd");
    const pki: EtcdPki = {
      certDir: node.pkiDir,
      ca: join(etcdPki, "ca.crt"),
      caKey: join(etcdPki, "ca.key"),
      serverCert: join(etcdPki, "server.crt"),
      serverKey: join(etcdPki, "server.key"),
      peerCert: join(etcdPki, "peer.crt"),
      peerKey: join(etcdPki, "peer.key"),
      clientCert: join(etcdPki, "healthcheck-client.crt"),
      clientKey: join(etcdPki, "healthcheck-client.key"),
    };
    const endpoint = `https://127.0.0.1:${client}`;
    const member = {
      exited: () => false,
      log: () => kubelet!.log(),
      name: "cp-1",
      clientUrl: endpoint,
    } as unknown as RunningEtcd;
    const manifests = readdirSync(node.manifestsDir).sort();
    expect(manifests).toContain("etcd.yaml");
    expect(manifests).toContain("kube-apiserver.yaml");

    // the node runs: etcd from kubeadm's manifest
    kubelet = new MiniKubelet(root);
    kubelet.start();
    await waitHealthy(bins.etcdctl, pki, [member], 60_000);
    expect(kubelet.events).toEqual(["start etcd --data-dir=/var/lib/etcd"]);

    // data, the nightly backup, then changes after it
    const put = (k: string, v: string) => etcdctlOk(bins.etcdctl, pki, [endpoint], ["put", k, v]);
    for (let i = 0; i < 20; i++) await put(`/registry/configmaps/prod/cm-${i}`, `data-${i}`);
    await put("/registry/secrets/prod/marker", MARKER);
    const backupOut = runOk([
      "bash",
      "-c",
      renderEtcdBackupScript({
        ...backupTlsOptions(bins, pki, endpoint),
        backupDir: join(root, "var/backups/etcd"),
      }),
    ]);
    const snapshotName = readdirSync(join(root, "var/backups/etcd"))[0];
    expect(backupOut.trim()).toBe(join(root, "var/backups/etcd", snapshotName));
    await etcdctlOk(
      bins.etcdctl,
      pki,
      [endpoint],
      ["del", "/registry/configmaps/prod/", "--prefix"],
    );
    await put("/registry/namespaces/created-after-backup", "x");
    expect(await countKeys(bins.etcdctl, pki, endpoint, "/registry/configmaps/prod/")).toBe(0);

    const etcdYaml = readFileSync(join(node.manifestsDir, "etcd.yaml"), "utf8");
    const options = (snapshot: string) => ({
      snapshot,
      rootfs: root,
      dataDir: "/var/lib/etcd-restore",
      name: "cp-1",
      initialCluster: [{ name: "cp-1", peerUrl: `https://127.0.0.1:${peer}` }],
      initialClusterToken: "restore-static-pod",
      endpoint,
      restartWaitSeconds: 3,
      healthTimeoutSeconds: 60,
      etcdutl: bins.etcdutl,
      etcdctl: bins.etcdctl,
    });

    // a damaged snapshot (one byte of a value flipped: readable, wrong checksum): etcdutl
    // restore refuses it after the pods were stopped; the script puts everything back
    const snap = readFileSync(join(root, "var/backups/etcd", snapshotName));
    const at = snap.indexOf(MARKER);
    expect(at).toBeGreaterThan(0);
    snap[at + 3] ^= 0x01;
    writeFileSync(join(root, "var/backups/etcd/damaged.db"), snap);
    const bad = await runAsync(
      ["bash", "-c", renderEtcdRestoreScript(options("/var/backups/etcd/damaged.db"))],
      { timeoutMs: 180_000 },
    );
    expect(bad.stderr).toContain("ERROR: etcdutl snapshot restore failed:");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("moved the static pod manifests back");
    expect(existsSync(join(root, "var/lib/etcd-restore"))).toBe(false);
    expect(readFileSync(join(node.manifestsDir, "etcd.yaml"), "utf8")).toBe(etcdYaml);
    expect(readdirSync(node.manifestsDir).sort()).toEqual(manifests);
    expect(readdirSync(join(root, "etc/kubernetes/tmp"))).toEqual([]);
    await waitHealthy(bins.etcdctl, pki, [member], 60_000);
    expect(kubelet.events).toEqual([
      "start etcd --data-dir=/var/lib/etcd",
      "stop etcd",
      "start etcd --data-dir=/var/lib/etcd",
    ]);
    // still the state after the backup: nothing was lost by the failed attempt
    expect(await countKeys(bins.etcdctl, pki, endpoint, "/registry/namespaces/")).toBe(1);

    // the restore, exactly as rendered, with the node's / at `root`
    const script = renderEtcdRestoreScript(options(`/var/backups/etcd/${snapshotName}`));
    const r = await runAsync(["bash", "-c", script], { timeoutMs: 180_000 });
    expect(r.stderr).toContain("done: etcd runs on /var/lib/etcd-restore");
    expect(r.status).toBe(0);

    // the pods were stopped while every manifest was out, then etcd started on the new dir
    expect(kubelet.listings).toContainEqual([]);
    expect(kubelet.events.slice(3)).toEqual([
      "stop etcd",
      "start etcd --data-dir=/var/lib/etcd-restore",
    ]);
    expect(kubelet.runningArgs()).toContain("--data-dir=/var/lib/etcd-restore");
    expect(readdirSync(node.manifestsDir).sort()).toEqual(manifests);
    const pod = parse(readFileSync(join(node.manifestsDir, "etcd.yaml"), "utf8")) as {
      spec: { volumes: { name: string; hostPath?: { path: string } }[] };
    };
    expect(pod.spec.volumes.find((v) => v.name === "etcd-data")?.hostPath?.path).toBe(
      "/var/lib/etcd-restore",
    );
    const kept = readdirSync(join(root, "etc/kubernetes/tmp"));
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatch(/^etcd\.yaml\.before-restore-/);
    expect(readFileSync(join(root, "etc/kubernetes/tmp", kept[0]), "utf8")).toContain(
      "--data-dir=/var/lib/etcd\n",
    );
    expect(existsSync(join(root, "var/lib/etcd/member"))).toBe(true); // the old data is untouched

    // the snapshot's state: the deleted keys are back, the later key is gone
    expect(await countKeys(bins.etcdctl, pki, endpoint, "/registry/configmaps/prod/")).toBe(20);
    expect(await countKeys(bins.etcdctl, pki, endpoint, "/registry/namespaces/")).toBe(0);
    const v = await etcdctlOk(
      bins.etcdctl,
      pki,
      [endpoint],
      ["get", "/registry/configmaps/prod/cm-13", "--print-value-only"],
    );
    expect(v.trim()).toBe("data-13");
    const members = JSON.parse(
      await etcdctlOk(bins.etcdctl, pki, [endpoint], ["member", "list", "-w", "json"]),
    ) as { members: { name: string; peerURLs: string[] }[] };
    expect(members.members.map((m) => [m.name, m.peerURLs])).toEqual([
      ["cp-1", [`https://127.0.0.1:${peer}`]],
    ]);
  });
});
