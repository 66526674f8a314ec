/**
 * Property tests of the etcd restore script (lib/core/scripts/etcd-restore.ts), run with bash on a
 * node under `rootfs` (a temp dir holding the snapshot and kubeadm-shaped manifests at the
 * paths the options name), with argv recorders (stubs.ts) for etcdutl, etcdctl and sleep, and
 * the real coreutils/awk for the file work.
 *
 *  - arbitrary strings as any option are rejected with a ValidationError naming the field, or
 *    reach etcdutl / etcdctl / the manifest unchanged: the script runs to the end, the recorded
 *    argv is the field guide's restore (below, written out independently of the renderer), and
 *    etcd's manifest names the new data directory;
 *  - generated valid settings (every character the validators allow, HA members, tokens): the
 *    same, each value one argv word, the original manifest kept, nothing left in the stash;
 *  - the data directories: any two paths are accepted iff neither is the other or inside it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { ValidationError } from "../../../../lib/core/errors";
import {
  renderEtcdRestoreScript,
  resolveEtcdRestoreOptions,
  type EtcdMember,
  type EtcdRestoreScriptOptions,
  type ResolvedEtcdRestoreOptions,
} from "../../../../lib/core/scripts/etcd-restore";
import { expectRejectedOrDelivered } from "./properties";
import { argvRecorder, runScript } from "./stubs";

jest.setTimeout(240_000);

/** The field guide's paths and kubeadm's (what an option left unset means). */
const GUIDE = {
  dataDir: "/var/lib/etcd-restore",
  currentDataDir: "/var/lib/etcd",
  manifestsDir: "/etc/kubernetes/manifests",
  etcdManifest: "etcd.yaml",
  stashDir: "/etc/kubernetes/tmp",
  endpoint: "https://127.0.0.1:2379",
  cacert: "/etc/kubernetes/pki/etcd/ca.crt",
  cert: "/etc/kubernetes/pki/etcd/server.crt",
  key: "/etc/kubernetes/pki/etcd/server.key",
  etcdutl: "etcdutl",
  etcdctl: "etcdctl",
};

/** kubeadm's etcd.yaml, with the data directory in its three places. */
function etcdManifest(dataDir: string): string {
  return [
    "apiVersion: v1",
    "kind: Pod",
    "metadata:",
    "  name: etcd",
    "spec:",
    "  containers:",
    "  - command:",
    "    - etcd",
    `    - --data-dir=${dataDir}`,
    "    volumeMounts:",
    `    - mountPath: ${dataDir}`,
    "      name: etcd-data",
    "  volumes:",
    "  - hostPath:",
    `      path: ${dataDir}`,
    "      type: DirectoryOrCreate",
    "    name: etcd-data",
    "",
  ].join("\n");
}

/**
 * The recorded calls of a restore, from the field guide: verify the snapshot, stop the static
 * pods (the wait), `etcdutl snapshot restore` into the new directory (HA: the member's flags),
 * then the health check and the member list over TLS. File paths under `root`.
 */
function guideCalls(o: EtcdRestoreScriptOptions, root: string): string[][] {
  const g = { ...GUIDE, ...o };
  const snap = root + o.snapshot;
  const restore = [g.etcdutl, "snapshot", "restore", snap, `--data-dir=${root}${g.dataDir}`];
  if (o.name !== undefined && o.initialCluster) {
    restore.push(
      `--name=${o.name}`,
      `--initial-cluster=${o.initialCluster.map((m) => `${m.name}=${m.peerUrl.replace(/\/$/, "")}`).join(",")}`,
      `--initial-advertise-peer-urls=${o.initialCluster.find((m) => m.name === o.name)!.peerUrl.replace(/\/$/, "")}`,
    );
  }
  if (o.initialClusterToken !== undefined)
    restore.push(`--initial-cluster-token=${o.initialClusterToken}`);
  const tls = [
    g.etcdctl,
    `--endpoints=${g.endpoint}`,
    `--cacert=${root}${g.cacert}`,
    `--cert=${root}${g.cert}`,
    `--key=${root}${g.key}`,
  ];
  return [
    [g.etcdutl, "snapshot", "status", snap, "-w", "json"],
    ["sleep", String(o.restartWaitSeconds ?? 30)],
    restore,
    [...tls, "endpoint", "health"],
    [...tls, "member", "list", "-w", "table"],
  ];
}

interface Restored {
  status: number | null;
  stderr: string;
  calls: string[][];
  root: string;
  /** The etcd manifest after the run, the manifests dir, and what the run left in the stash dir. */
  manifest: string;
  manifests: string[];
  stash: string[];
}

/**
 * Lays out a node under a fresh rootfs for `o` (snapshot, manifests naming the current data
 * directory) and runs the restore; `o.rootfs` is set here.
 */
function restoreOnNode(o: EtcdRestoreScriptOptions, check: (r: Restored) => void): void {
  const rec = argvRecorder(["etcdutl", "etcdctl", "sleep"], `no-stop-${Math.random()}`);
  try {
    const root = path.join(path.dirname(rec.bin), "root");
    const opts = { ...o, rootfs: root };
    const r: ResolvedEtcdRestoreOptions = resolveEtcdRestoreOptions(opts); // the layout only
    for (const p of [r.etcdutl, r.etcdctl]) if (!p.includes("/")) rec.add(p);
    fs.mkdirSync(path.join(root, path.dirname(r.snapshot)), { recursive: true });
    if (r.snapshot !== "/") fs.writeFileSync(path.join(root, r.snapshot), "SNAPSHOT");
    const manifests = path.join(root, r.manifestsDir);
    fs.mkdirSync(manifests, { recursive: true });
    fs.writeFileSync(path.join(manifests, r.etcdManifest), etcdManifest(r.currentDataDir));
    fs.writeFileSync(path.join(manifests, "kube-apiserver.yaml"), "kind: Pod\n");
    const run = runScript(renderEtcdRestoreScript(opts), {
      ...rec.env,
      PATH: `${rec.bin}:/usr/bin:/bin`,
    });
    const stashDir = path.join(root, r.stashDir);
    check({
      status: run.status,
      stderr: run.stderr,
      calls: rec.calls().map((c) => [path.basename(c.program), ...c.args]),
      root,
      manifest: fs.readFileSync(path.join(manifests, r.etcdManifest), "utf8"),
      manifests: fs.readdirSync(manifests).sort(),
      // (filtered: the stash dir may be any directory, even the rootfs)
      stash: (fs.existsSync(stashDir) ? fs.readdirSync(stashDir) : []).filter((f) =>
        /^kube-upkeep-restore\.|\.before-restore-/.test(f),
      ),
    });
  } finally {
    rec.cleanup();
  }
}

/** The restore went through as the guide says, and the manifest now names the new directory. */
function expectGuideRestore(o: EtcdRestoreScriptOptions, r: Restored): void {
  const g = { ...GUIDE, ...o };
  expect({ status: r.status, stderr: r.stderr }).toEqual({
    status: 0,
    stderr: expect.stringContaining(`done: etcd runs on ${g.dataDir}`),
  });
  expect(r.calls).toEqual(guideCalls(o, r.root));
  expect(r.manifest).toBe(etcdManifest(g.dataDir));
  expect(r.manifests).toEqual([g.etcdManifest, "kube-apiserver.yaml"].sort());
  // the original manifest is kept next to the (removed) stash
  expect(r.stash).toEqual([expect.stringMatching(/\.before-restore-\d{8}T\d{6}Z$/)]);
  expect(r.stash[0].startsWith(`${g.etcdManifest}.before-restore-`)).toBe(true);
}

/** Options that put the value of one field in place; the member fields need their partner. */
function withField(field: string, value: string): EtcdRestoreScriptOptions {
  const base = { snapshot: "/var/backups/etcd/snap.db", restartWaitSeconds: 25 };
  const member = (m: Partial<EtcdMember>): EtcdMember[] => [
    { name: "cp-1", peerUrl: "https://10.0.0.11:2380", ...m },
  ];
  if (field === "name") return { ...base, name: value, initialCluster: member({ name: value }) };
  if (field === "initialCluster[0].peerUrl")
    return { ...base, name: "cp-1", initialCluster: member({ peerUrl: value }) };
  return { ...base, [field]: value };
}

const FIELDS = [
  "snapshot",
  "dataDir",
  "currentDataDir",
  "manifestsDir",
  "etcdManifest",
  "stashDir",
  "endpoint",
  "cacert",
  "cert",
  "key",
  "etcdutl",
  "etcdctl",
  "initialClusterToken",
  "name",
  "initialCluster[0].peerUrl",
];

describe("etcd restore: arbitrary option values are rejected, or delivered unchanged", () => {
  test("every string option", () => {
    expectRejectedOrDelivered(
      FIELDS,
      (o) => {
        const [field, value] = Object.entries(o)[0];
        return renderEtcdRestoreScript({ ...withField(field, value), rootfs: "/host" });
      },
      (field, value) => {
        const o = withField(field, value);
        restoreOnNode(o, (r) => {
          if (field === "snapshot" && value === "/") {
            // the rootfs itself: a directory, not a snapshot file
            expect(r.status).toBe(1);
            expect(r.stderr).toContain(`ERROR: snapshot ${r.root}/ does not exist`);
          } else if ((field === "etcdutl" || field === "etcdctl") && value.includes("/")) {
            // an absolute program path: bash ran exactly that word (nothing is there)
            expect(r.status).toBe(1);
            expect(r.stderr).toContain(`${value}: `);
            expect(r.manifest).toBe(etcdManifest(GUIDE.currentDataDir));
          } else expectGuideRestore(o, r);
        });
      },
      1500,
    );
  });
});

/** A path segment of every character validateAbsolutePath allows. */
const segment = fc
  .string({ unit: fc.constantFrom(..."abcXYZ019._+@:=,-".split("")), minLength: 1, maxLength: 10 })
  .filter((s) => s !== "." && s !== "..");
/** An absolute path under its own top-level directory (so the option paths never collide). */
const under = (top: string) =>
  fc.array(segment, { minLength: 1, maxLength: 3 }).map((a) => `/${top}/${a.join("/")}`);
/** A manifest file name: not hidden (the kubelet ignores those). */
const fileName = fc
  .string({ unit: fc.constantFrom(..."abcXYZ019._+-".split("")), minLength: 1, maxLength: 20 })
  .filter((s) => !s.startsWith("."));
const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$/);
/** A host name label a URL parser takes (a numeric last label would be read as IPv4). */
const hostLabel = fc.stringMatching(/^[a-z]([-a-z0-9]{0,8}[a-z0-9])?$/);
const host = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.0.${a}.${b}`),
  fc.array(hostLabel, { minLength: 1, maxLength: 3 }).map((l) => l.join(".")),
  fc.constant("[::1]"),
);
const url = fc
  .tuple(
    fc.constantFrom("http", "https"),
    host,
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  )
  .map(([scheme, h, port]) => `${scheme}://${h}${port === undefined ? "" : `:${port}`}`);
const members = fc
  .uniqueArray(fc.tuple(dnsLabel, url), {
    minLength: 1,
    maxLength: 3,
    selector: ([n]) => n,
  })
  .filter((ms) => new Set(ms.map(([, u]) => u)).size === ms.length)
  .map((ms) => ms.map(([name, peerUrl]) => ({ name, peerUrl })));
const token = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/);

const settings = fc
  .record({
    snapshot: under("s"),
    dataDir: under("d"),
    currentDataDir: under("c"),
    manifestsDir: under("m"),
    etcdManifest: fileName,
    stashDir: under("t"),
    endpoint: url,
    cacert: under("p"),
    cert: under("p"),
    key: under("p"),
    etcdutl: fc.constantFrom("etcdutl", "etcdutl-3.6", "e.t+c_d"),
    etcdctl: fc.constantFrom("etcdctl", "etcdctl-3.6", "E-t.c+l"),
    restartWaitSeconds: fc.integer({ min: 0, max: 3600 }),
    healthTimeoutSeconds: fc.integer({ min: 1, max: 86400 }),
    ha: fc.option(fc.tuple(members, fc.nat(2)), { nil: undefined }),
    initialClusterToken: fc.option(token, { nil: undefined }),
  })
  .map(({ ha, ...o }): EtcdRestoreScriptOptions => {
    if (!ha) return o;
    const [initialCluster, self] = ha;
    return { ...o, initialCluster, name: initialCluster[self % initialCluster.length].name };
  });

describe("etcd restore: generated valid settings", () => {
  test("the field guide's restore, each value one argv word; the manifest switched, the original kept", () => {
    fc.assert(
      fc.property(settings, (o) => restoreOnNode(o, (r) => expectGuideRestore(o, r))),
      { numRuns: 40 },
    );
  });

  test("data directories: accepted iff neither is the other or inside it", () => {
    const anyPath = fc.oneof(
      fc.constant("/"),
      fc
        .array(fc.constantFrom("var", "lib", "etcd", "x"), { minLength: 1, maxLength: 4 })
        .map((a) => `/${a.join("/")}`),
    );
    fc.assert(
      fc.property(anyPath, anyPath, (dataDir, currentDataDir) => {
        const rel = (a: string, b: string) => path.posix.relative(b, a);
        const inside = (a: string, b: string) => !rel(a, b).startsWith("..");
        const ok = !inside(dataDir, currentDataDir) && !inside(currentDataDir, dataDir);
        let accepted = true;
        try {
          resolveEtcdRestoreOptions({ snapshot: "/s.db", dataDir, currentDataDir });
        } catch (e) {
          expect(e).toBeInstanceOf(ValidationError);
          expect(["dataDir", "currentDataDir"]).toContain((e as ValidationError).field);
          accepted = false;
        }
        expect({ dataDir, currentDataDir, accepted }).toEqual({
          dataDir,
          currentDataDir,
          accepted: ok,
        });
      }),
      { numRuns: 300 },
    );
  });
});
