/**
 * HA restore for real: one snapshot of a TLS etcd (taken by the backup script), restored into
 * three members from the scripts renderHaEtcdRestoreScripts renders for one typed cluster
 * description. Each member's `etcdutl snapshot restore` argv runs with its node's paths mapped
 * into a temp "node root"; the three members then start on loopback ports and must form one
 * cluster of three that holds the data.
 */
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { renderEtcdBackupScript } from "../../../lib/core/scripts/etcd-backup";
import {
  renderHaEtcdRestoreScripts,
  type EtcdMemberRestore,
} from "../../../lib/core/scripts/etcd-restore";
import {
  backupTlsOptions,
  countKeys,
  etcdctlOk,
  killAllEtcd,
  startEtcdMember,
  startTlsEtcd,
  waitHealthy,
  type RunningEtcd,
} from "../support/etcd";
import { freePort } from "../../cluster/ports";
import { makeEtcdPki, type EtcdPki } from "../support/pki";
import { requireBinaries, runOk, tempDir } from "../support/tools";

jest.setTimeout(240_000);

let bins: { etcd: string; etcdctl: string; etcdutl: string; kubeadm: string };
let tmp: { dir: string; cleanup(): void };
let pki: EtcdPki;
const members: RunningEtcd[] = [];

beforeAll(() => {
  bins = requireBinaries("etcd", "etcdctl", "etcdutl", "kubeadm");
  tmp = tempDir("etcd-ha");
  pki = makeEtcdPki(bins.kubeadm, tmp.dir);
});

afterAll(async () => {
  for (const m of members) await m.stop();
  killAllEtcd();
  tmp?.cleanup();
});

/** Maps the node-local absolute paths of an argv (bare or as --flag=/path) into `root`. */
function mapPaths(argv: readonly string[], root: string): string[] {
  return argv.map((a, i) => {
    if (i === 0) return a; // the program
    if (a.startsWith("/")) return root + a;
    const m = /^(--[a-z-]+=)(\/.*)$/.exec(a);
    return m ? m[1] + root + m[2] : a;
  });
}

interface MemberJson {
  header: { cluster_id: number | string };
  members: { ID: number | string; name: string; peerURLs: string[]; isLearner?: boolean }[];
}

describe("HA restore: three members from one snapshot and one cluster description", () => {
  it("forms one cluster of three holding the snapshot's data", async () => {
    // 1. a source etcd with data, backed up by the backup script
    const source = await startTlsEtcd(bins, pki, join(tmp.dir, "source-data"), "source");
    members.push(source);
    for (let i = 0; i < 25; i++)
      await etcdctlOk(bins.etcdctl, pki, [source.clientUrl], ["put", `/app/config/${i}`, `v${i}`]);
    const sourceId = (
      JSON.parse(
        await etcdctlOk(bins.etcdctl, pki, [source.clientUrl], ["member", "list", "-w", "json"]),
      ) as MemberJson
    ).header.cluster_id;
    const backupDir = join(tmp.dir, "backups");
    runOk([
      "bash",
      "-c",
      renderEtcdBackupScript({ ...backupTlsOptions(bins, pki, source.clientUrl), backupDir }),
    ]);
    const [snapshotName] = readdirSync(backupDir);
    await source.stop(); // the old cluster is gone

    // 2. one cluster description -> one restore per member
    const ports: { client: number; peer: number }[] = [];
    for (let i = 0; i < 3; i++) ports.push({ client: await freePort(), peer: await freePort() });
    const names = ["master-1", "master-2", "master-3"];
    const snapshot = `/var/backups/etcd/${snapshotName}`;
    const restores: EtcdMemberRestore[] = renderHaEtcdRestoreScripts({
      snapshot,
      initialClusterToken: "etcd-restore-ha-test",
      members: names.map((name, i) => ({
        name,
        peerUrl: `https://127.0.0.1:${ports[i].peer}`,
        clientUrl: `https://127.0.0.1:${ports[i].client}`,
      })),
      etcdutl: bins.etcdutl,
      etcdctl: bins.etcdctl,
    });
    expect(restores.map((r) => r.name)).toEqual(names);
    const initialCluster = names.map((n, i) => `${n}=https://127.0.0.1:${ports[i].peer}`).join(",");

    // 3. on each "node": the snapshot copied there, the member's restore command run
    restores.forEach((r, i) => {
      const root = join(tmp.dir, `node-${i + 1}`);
      mkdirSync(join(root, "var/backups/etcd"), { recursive: true });
      mkdirSync(join(root, "var/lib"), { recursive: true });
      copyFileSync(join(backupDir, snapshotName), root + snapshot);
      expect(r.restoreCommand).toContain(`--initial-cluster=${initialCluster}`);
      expect(r.script).toContain(`--name=${r.name}`);
      runOk(mapPaths(r.restoreCommand, root));
    });

    // 4. start the three members on their restored data directories
    restores.forEach((r, i) => {
      members.push(
        startEtcdMember(bins.etcd, pki, {
          name: r.name,
          dataDir: join(tmp.dir, `node-${i + 1}`, r.options.dataDir),
          clientPort: ports[i].client,
          peerPort: ports[i].peer,
          initialCluster,
          initialClusterToken: "etcd-restore-ha-test",
        }),
      );
    });
    const cluster = members.slice(1);
    await waitHealthy(bins.etcdctl, pki, cluster, 90_000);

    // one cluster of three, as described, and not the old cluster
    const views = await Promise.all(
      cluster.map(
        async (m) =>
          JSON.parse(
            await etcdctlOk(bins.etcdctl, pki, [m.clientUrl], ["member", "list", "-w", "json"]),
          ) as MemberJson,
      ),
    );
    const ids = new Set(views.map((v) => String(v.header.cluster_id)));
    expect(ids.size).toBe(1);
    expect([...ids][0]).not.toBe(String(sourceId));
    for (const v of views) {
      expect(v.members.map((m) => m.name).sort()).toEqual(names);
      expect(v.members.every((m) => !m.isLearner)).toBe(true);
      expect(v.members.map((m) => m.peerURLs[0]).sort()).toEqual(
        ports.map((p) => `https://127.0.0.1:${p.peer}`).sort(),
      );
    }

    // the data is on every member
    for (const m of cluster) {
      expect(await countKeys(bins.etcdctl, pki, m.clientUrl, "/app/config/")).toBe(25);
      const v = await etcdctlOk(
        bins.etcdctl,
        pki,
        [m.clientUrl],
        ["get", "/app/config/17", "--print-value-only", "--consistency=s"],
      );
      expect(v.trim()).toBe("v17");
    }
    // and the cluster has quorum: a write on one member is read on another
    await etcdctlOk(bins.etcdctl, pki, [cluster[0].clientUrl], ["put", "/after-restore", "ok"]);
    const read = await etcdctlOk(
      bins.etcdctl,
      pki,
      [cluster[2].clientUrl],
      ["get", "/after-restore", "--print-value-only"],
    );
    expect(read.trim()).toBe("ok");
  });
});
