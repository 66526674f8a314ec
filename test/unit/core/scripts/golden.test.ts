/**
 * One golden file per rendered script (test/unit/core/scripts/golden/<name>.sh): every change to
 * a script shows up as a shell diff in review. `UPDATE_GOLDEN=1` rewrites the files.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { renderCertRenewalScript } from "../../../../lib/core/scripts/cert-renewal";
import {
  renderEtcdBackupFinishScript,
  renderEtcdBackupScript,
} from "../../../../lib/core/scripts/etcd-backup";
import {
  renderEtcdDataDirSwitchScript,
  renderEtcdRestoreScript,
  renderHaEtcdRestoreScripts,
} from "../../../../lib/core/scripts/etcd-restore";
import { renderNodePreflightScript } from "../../../../lib/core/scripts/node-preflight";
import { renderNodeRollbackScript } from "../../../../lib/core/scripts/node-rollback";
import {
  renderNodeUpgradeScript,
  resolvePackageSettings,
} from "../../../../lib/core/scripts/node-upgrade";
import {
  renderRepositoryProbe,
  renderRepositorySwitch,
} from "../../../../lib/core/scripts/package-repository";
import { renderResourceBackupScript } from "../../../../lib/core/scripts/resource-backup";
import {
  renderStaticPodManifestSteps,
  type StaticPodManifestOptions,
} from "../../../../lib/core/scripts/static-pod-manifests";
import { shellcheck } from "./stubs";

const GOLDEN = path.join(__dirname, "golden");
const UPDATE = process.env.UPDATE_GOLDEN === "1";

const MIRROR = "http://10.0.0.1:8080/core:/stable:/{minor}/rpm/";
const haMembers = ["cp-1", "cp-2", "cp-3"].map((name, i) => ({
  name,
  peerUrl: `https://10.0.0.1${i + 1}:2380`,
  clientUrl: `https://10.0.0.1${i + 1}:2379`,
}));

/**
 * The lines the package repository and static pod renderers return need the definitions of the
 * script around them; this is that frame (the same names the upgrade and restore scripts define).
 */
function frame(header: string[], body: string[]): string {
  return [
    "#!/usr/bin/env bash",
    "# golden-file frame: the definitions the rendered lines expect",
    "set -euo pipefail",
    ...header,
    "log() { printf '%s\\n' \"$*\" >&2; }",
    'fail() { log "ERROR: $*"; exit 1; }',
    ...body,
    "",
  ].join("\n");
}

function repositoryLines(kind: "switch" | "probe"): string {
  const s = resolvePackageSettings("golden", {
    targetVersion: "v1.35.4",
    packageManager: "dnf",
    packageRepository: MIRROR,
  });
  const header =
    kind === "switch"
      ? ['as_root() { "$@"; }', "KU_TMP=$(mktemp -d)"]
      : ['as_root() { "$@"; }', "T=$(mktemp -d)", "PM=dnf", "PROBE_OK=1"];
  return kind === "switch"
    ? frame(header, [...renderRepositorySwitch(s.repo, s.pm, s.target), 'echo "$repo_changed"'])
    : frame(header, [
        ...renderRepositoryProbe(s.repo, s.pm, s.target, s.update),
        'echo "$PROBE_OK"',
      ]);
}

function staticPodSteps(opts: StaticPodManifestOptions): string {
  const m = renderStaticPodManifestSteps(opts);
  const header = [
    "manifests_dir=/etc/kubernetes/manifests",
    "stash_parent=/etc/kubernetes/tmp",
    "restart_wait=25",
    'stash=""',
  ];
  if (opts.context === "function")
    return frame(header, [
      ...m.restoreFunction,
      "restart_static_pods() {",
      ...m.refuseLeftovers,
      ...m.stash,
      ...m.unstash,
      "}",
      "restart_static_pods",
    ]);
  return frame(header, [
    ...m.restoreFunction,
    "on_exit() {",
    "  status=$?",
    "  restore_manifests",
    '  exit "$status"',
    "}",
    ...m.refuseLeftovers,
    ...m.stash,
    ...m.unstash,
  ]);
}

/** Every script kube-upkeep renders, with fixed representative options. */
const scripts: Record<string, () => string> = {
  "node-upgrade-control-plane-first": () =>
    renderNodeUpgradeScript({ targetVersion: "v1.35.4", mode: "apply" }),
  "node-upgrade-control-plane-other": () =>
    renderNodeUpgradeScript({
      targetVersion: "v1.35.4",
      mode: "node",
      kubeadmFlags: ["--certificate-renewal=false"],
    }),
  // a worker renders like another control-plane node; here with a mirror, dnf and no sudo
  "node-upgrade-worker": () =>
    renderNodeUpgradeScript({
      targetVersion: "1.35.4",
      mode: "node",
      packageManager: "dnf",
      packageVersion: "1.35.4-150500.1.1",
      packageRepository: MIRROR,
      upgradeKubectl: false,
      sudo: "never",
    }),
  "node-preflight": () => renderNodePreflightScript({ nodeName: "w-1", targetVersion: "v1.35.4" }),
  "package-repository-switch": () => repositoryLines("switch"),
  "package-repository-probe": () => repositoryLines("probe"),
  "node-rollback-worker": () =>
    renderNodeRollbackScript({ previousVersion: "v1.34.4", role: "worker" }),
  "node-rollback-control-plane": () =>
    renderNodeRollbackScript({
      previousVersion: "v1.34.4",
      role: "control-plane",
      etcdSnapshot: { snapshot: "/var/lib/etcd-backup/etcd-snapshot-20260101T000000Z.db" },
    }),
  "etcd-backup": () => renderEtcdBackupScript({ retention: { days: 7, count: 5 } }),
  "etcd-backup-finish": () => renderEtcdBackupFinishScript({ retention: { count: 5 } }),
  "etcd-restore": () =>
    renderEtcdRestoreScript({ snapshot: "/var/lib/etcd-backup/etcd-snapshot.db" }),
  // one member of an HA restore (cp-2 of three; the others differ in their name and URLs only)
  "etcd-restore-ha-member": () =>
    renderHaEtcdRestoreScripts({
      snapshot: "/var/lib/etcd-backup/etcd-snapshot.db",
      members: haMembers,
      initialClusterToken: "etcd-restore-20260101",
    })[1].script,
  "etcd-data-dir-switch": () =>
    renderEtcdDataDirSwitchScript({ manifest: "/etc/kubernetes/manifests/etcd.yaml" }),
  "cert-renewal": () => renderCertRenewalScript({ rootfs: "/host" }),
  "resource-backup": () =>
    renderResourceBackupScript({ namespaces: ["app", "web"], retention: { days: 14, count: 10 } }),
  "static-pod-manifests-function": () =>
    staticPodSteps({
      stashPrefix: "kube-upkeep-manifests",
      context: "function",
      requireManifests: true,
    }),
  "static-pod-manifests-top-level": () =>
    staticPodSteps({
      stashPrefix: "kube-upkeep-restore",
      leftoverPrefixes: ["kube-upkeep-restore", "kube-upkeep-manifests"],
      context: "top-level",
      exitHandler: "on_exit",
    }),
};

describe("rendered scripts match their golden files", () => {
  test.each(Object.keys(scripts))("%s.sh", (name) => {
    const file = path.join(GOLDEN, `${name}.sh`);
    const rendered = scripts[name]();
    if (UPDATE) {
      fs.mkdirSync(GOLDEN, { recursive: true });
      fs.writeFileSync(file, rendered);
    }
    if (!fs.existsSync(file))
      throw new Error(`${file} is missing: run with UPDATE_GOLDEN=1 to write it`);
    expect(rendered).toBe(fs.readFileSync(file, "utf8"));
    shellcheck(rendered);
  });

  test("every golden file belongs to a rendered script", () => {
    const files = fs.readdirSync(GOLDEN).filter((f) => f.endsWith(".sh"));
    expect(files.sort()).toEqual(
      Object.keys(scripts)
        .map((n) => `${n}.sh`)
        .sort(),
    );
  });
});
