/**
 * The field guide's exercise on a real control plane: back up, lose a namespace, restore it.
 *
 * Runs on its OWN kwokctl cluster (binary runtime: real etcd 3.6, kube-apiserver,
 * controller-manager), so stopping and restarting the control plane disturbs no other test.
 * kwokctl's etcd serves plain http on loopback; its start command (with `--data-dir=`) lives in
 * the cluster's kwok.yaml, which `kwokctl start cluster` reads, so kwok.yaml plays the part of
 * kubeadm's etcd.yaml and `kwokctl stop/start cluster` the part of moving the static pod
 * manifests out and back. Everything else is kube-upkeep's own code:
 *  - backup: the EtcdBackup CronJob's commands from the synthesized YAML (busybox shell step);
 *  - restore: etcdRestoreCommand (etcdutl snapshot restore into a new data dir, member name and
 *    peer URL from kwok.yaml), renderEtcdDataDirSwitchScript on kwok.yaml, etcdHealthCommand.
 * (`kwokctl snapshot save/restore` exist but are deliberately not used.)
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type V1ConfigMap,
  type V1Deployment,
  type V1Secret,
} from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { EtcdBackup } from "../../../lib/cdk8s/etcd-backup";
import { ETCD_SNAPSHOT_NAME_PATTERN } from "../../../lib/core/scripts/etcd-backup";
import {
  etcdHealthCommand,
  etcdRestoreCommand,
  renderEtcdDataDirSwitchScript,
} from "../../../lib/core/scripts/etcd-restore";
import {
  binaries,
  isClusterReady,
  kwokctlEnv,
  deleteStaleTestClusters,
  startCluster,
  stopCluster,
  TEST_CLUSTER_PREFIX,
  type ClusterInfo,
} from "../../cluster/cluster";
import { statusOf, waitFor } from "../../cluster/fixtures";
import { cronJobsIn, podSteps, prepareHostPaths, runPod, synthYaml } from "../support/cronjob";
import { busyboxBin, requireBinaries, run, runOk, tempDir } from "../support/tools";

jest.setTimeout(420_000);

const exec = promisify(execFile);
const CLUSTER = `${TEST_CLUSTER_PREFIX}${process.pid}-restore`;
const NS = "restore-journey";

let info: ClusterInfo;
let kc: KubeConfig;
let tmp: { dir: string; cleanup(): void };

async function kwokctl(args: string[]): Promise<string> {
  const bins = binaries();
  try {
    const { stdout, stderr } = await exec(bins.kwokctl, [...args, "--name", CLUSTER], {
      env: kwokctlEnv(bins),
      timeout: 180_000,
    });
    return stdout + stderr;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`kwokctl ${args.join(" ")}: ${err.message}\n${err.stdout}${err.stderr}`);
  }
}

/** etcd's start arguments as kwokctl will run them (kwok.yaml, component "etcd"). */
function etcdArgs(): Map<string, string> {
  const docs = parseAllDocuments(readFileSync(join(info.workdir, "kwok.yaml"), "utf8")).map(
    (d) => d.toJS() as { components?: { name: string; args?: string[] }[] },
  );
  const etcd = docs.flatMap((d) => d?.components ?? []).find((c) => c.name === "etcd");
  if (!etcd?.args) throw new Error(`no etcd component in ${info.workdir}/kwok.yaml`);
  return new Map(
    etcd.args.map((a) => {
      const i = a.indexOf("=");
      return [a.slice(0, i), a.slice(i + 1)] as [string, string];
    }),
  );
}

beforeAll(async () => {
  requireBinaries(
    "etcd",
    "etcdctl",
    "etcdutl",
    "kubectl",
    "kwokctl",
    "kwok",
    "kubeApiserver",
    "kubeControllerManager",
    "kubeScheduler",
  );
  tmp = tempDir("restore-journey");
  // a crashed earlier run may have left its journey cluster behind
  await deleteStaleTestClusters();
  info = await startCluster({ name: CLUSTER });
  kc = new KubeConfig();
  kc.loadFromFile(info.kubeconfigPath);
});

afterAll(async () => {
  if (info) {
    try {
      await stopCluster(CLUSTER);
    } finally {
      // stopCluster runs `kwokctl delete cluster`; make sure nothing of ours is left
      if (existsSync(info.workdir)) await kwokctl(["delete", "cluster"]).catch(() => undefined);
    }
  }
  tmp?.cleanup();
});

const strip = (o: { metadata?: { uid?: string; name?: string; labels?: object } }) => ({
  name: o.metadata?.name,
  uid: o.metadata?.uid,
  labels: o.metadata?.labels,
});

describe("restore journey on the local control plane", () => {
  it("brings a deleted namespace back, with its ConfigMaps, Secret and Deployment unchanged", async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);

    // 1. a namespace with objects
    await core.createNamespace({ body: { metadata: { name: NS, labels: { team: "upkeep" } } } });
    const cms: V1ConfigMap[] = [];
    const cmData: Record<string, Record<string, string>> = {
      "app-config": { "app.properties": "mode=production\nreplicas=3\n", "log.level": "info" },
      "feature-flags": { newCheckout: "true", darkMode: "false" },
    };
    for (const [name, data] of Object.entries(cmData))
      cms.push(
        await core.createNamespacedConfigMap({
          namespace: NS,
          body: { metadata: { name, labels: { app: "web" } }, data },
        }),
      );
    const secret: V1Secret = await core.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: { name: "db-credentials" },
        type: "Opaque",
        stringData: { username: "app", password: "s3cr3t-\u00e9-'\"$x" },
      },
    });
    const deployment: V1Deployment = await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: "web", labels: { app: "web" } },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              containers: [
                {
                  name: "web",
                  image: "registry.k8s.io/pause:3.10",
                  envFrom: [{ configMapRef: { name: "app-config" } }],
                },
              ],
            },
          },
        },
      },
    });
    const secretBefore = await core.readNamespacedSecret({ name: "db-credentials", namespace: NS });

    // 2. snapshot with the EtcdBackup job's commands (kwok's etcd: plain http; etcdctl ignores
    //    the TLS files for an http:// endpoint, so kwok's own PKI files fill those options)
    const backupDir = join(tmp.dir, "backups");
    const pki = join(info.workdir, "pki");
    const { etcdctl, etcdutl } = binaries();
    /** kwok's etcd and the cached tools, the same for the backup and the restore. */
    const etcdAccess = {
      endpoint: info.etcdUrl,
      cacert: join(pki, "ca.crt"),
      cert: join(pki, "admin.crt"),
      key: join(pki, "admin.key"),
      etcdctl,
      etcdutl,
    };
    const yamlText = synthYaml(
      (chart) => new EtcdBackup(chart, "backup", { ...etcdAccess, backupDir }),
    );
    const [job] = cronJobsIn(yamlText);
    prepareHostPaths(job);
    const pod = runPod(podSteps(job), { env: { PATH: busyboxBin(tmp.dir), TZ: "UTC" } });
    expect(pod.output).toContain("wrote");
    expect(pod.succeeded).toBe(true);
    const [snapshotName] = readdirSync(backupDir).filter((f) => ETCD_SNAPSHOT_NAME_PATTERN.test(f));
    const snapshot = join(backupDir, snapshotName);

    // 3. lose the namespace (the namespace controller deletes its contents, then the namespace)
    await core.deleteNamespace({ name: NS });
    await waitFor(
      async () => {
        try {
          await core.readNamespace({ name: NS });
          return false;
        } catch (e) {
          return statusOf(e) === 404;
        }
      },
      { timeoutMs: 120_000, what: `namespace ${NS} to be deleted` },
    );
    await expect(
      core.readNamespacedConfigMap({ name: "app-config", namespace: NS }),
    ).rejects.toMatchObject({ code: 404 });

    // 4. restore: stop the control plane, restore into a new data dir, switch, start
    const args = etcdArgs();
    const currentDataDir = args.get("--data-dir")!;
    const dataDir = `${currentDataDir}-restore`;
    const member = args.get("--name")!;
    const peerUrl = args.get("--initial-advertise-peer-urls")!;
    await kwokctl(["stop", "cluster"]);
    const restoreOpts = {
      snapshot,
      dataDir,
      currentDataDir,
      name: member,
      initialCluster: [{ name: member, peerUrl }],
      initialClusterToken: "kwok-restore-journey",
      ...etcdAccess,
    };
    runOk(etcdRestoreCommand(restoreOpts));
    const manifest = join(info.workdir, "kwok.yaml");
    const sw = run([
      "bash",
      "-c",
      renderEtcdDataDirSwitchScript({ manifest, currentDataDir, dataDir }),
    ]);
    expect(sw.stderr).toContain(`switched ${manifest} from ${currentDataDir} to ${dataDir}`);
    expect(sw.status).toBe(0);
    expect(etcdArgs().get("--data-dir")).toBe(dataDir);
    await kwokctl(["start", "cluster", "--wait", "120s"]);
    await waitFor(() => run(etcdHealthCommand(restoreOpts)).status === 0, {
      timeoutMs: 60_000,
      what: "etcd endpoint health after the restore",
    });
    await waitFor(() => isClusterReady(info), { timeoutMs: 120_000, what: "apiserver /readyz" });
    // etcd really runs on the restored directory
    const ps = runOk(["ps", "-eo", "args"]);
    expect(ps).toContain(`--data-dir=${dataDir}`);

    // 5. everything is back, the same objects (same UIDs) with the same content
    const kc2 = new KubeConfig();
    kc2.loadFromFile(info.kubeconfigPath);
    const core2 = kc2.makeApiClient(CoreV1Api);
    const apps2 = kc2.makeApiClient(AppsV1Api);
    const ns = await waitFor(() => core2.readNamespace({ name: NS }), {
      timeoutMs: 60_000,
      what: `namespace ${NS} back`,
    });
    expect(ns.metadata?.labels?.team).toBe("upkeep");
    expect(ns.status?.phase).toBe("Active");
    for (const cm of cms) {
      const got = await core2.readNamespacedConfigMap({ name: cm.metadata!.name!, namespace: NS });
      expect(strip(got)).toEqual(strip(cm));
      expect(got.data).toEqual(cm.data);
    }
    const s2 = await core2.readNamespacedSecret({ name: "db-credentials", namespace: NS });
    expect(strip(s2)).toEqual(strip(secret));
    expect(s2.data).toEqual(secretBefore.data);
    expect(Buffer.from(s2.data!.password, "base64").toString()).toBe("s3cr3t-\u00e9-'\"$x");
    const d2 = await apps2.readNamespacedDeployment({ name: "web", namespace: NS });
    expect(strip(d2)).toEqual(strip(deployment));
    expect(d2.spec?.replicas).toBe(2);
    expect(d2.spec?.template.spec?.containers).toEqual(deployment.spec?.template.spec?.containers);
    expect(d2.spec?.selector).toEqual(deployment.spec?.selector);
  });
});
