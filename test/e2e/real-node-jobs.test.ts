/**
 * e2e on real nodes: the seed's node jobs as real pods on the harness's kubeadm cluster
 * (test/nodes/nodes.sh: nspawn machines with systemd, containerd and real kubelets).
 *
 *  1. EtcdBackup: the synthesized CronJob applied as it is; a Job made from it with `kubectl
 *     create job --from=cronjob/...` runs as a pod on the control-plane node with exactly the
 *     synthesized spec, on images built here (etcd from the etcd build, busybox from Debian's
 *     busybox-static). The snapshot passes `etcdutl snapshot status`, is mode 0600, and
 *     retention deletes exactly the pre-seeded files it should.
 * 1b. ResourceBackup: the synthesized CronJob (kubectl image built from the kubectl build, the
 *     busybox image) exports a namespace on cp1 into a hostPath; the objects are deleted and the
 *     exported files applied back with `kubectl apply --server-side`: the same data, new UIDs.
 *  2. CertificateRenewal: the cluster is made with 72 h leaf certificates (kubeadm
 *     `certificateValidityPeriod`, the harness's KU_NODES_CERT_VALIDITY); the cluster
 *     configuration then goes back to kubeadm's one year and two certificates are renewed by
 *     hand, so they are not due. The Job renews only the due ones, restarts the static pods
 *     and waits for etcd, the API server, the controller-manager and the scheduler; the API
 *     server then serves the renewed certificate over TLS, the others are byte for byte as
 *     before.
 *  3. Restore: the field guide's exercise on cp1: snapshot (the backup Job again), a namespace
 *     deleted, the rendered restore script run on the node, the kubelet restarts etcd and the
 *     API server, the namespace and its objects are back with the same UIDs.
 *
 * One cluster for the file (beforeAll up, afterAll down unless KU_KEEP_REAL_NODES=1). The
 * journeys run in order and each prints its time.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { Chart, Testing } from "cdk8s";
import { parseAllDocuments } from "yaml";
import { CertificateRenewal } from "../../lib/cdk8s/certificate-renewal";
import { EtcdBackup } from "../../lib/cdk8s/etcd-backup";
import { ResourceBackup } from "../../lib/cdk8s/resource-backup";
import { waitForReadyPods } from "../cluster/fixtures";
import { etcdSnapshotFileName } from "../../lib/core/scripts/etcd-backup";
import { renderEtcdRestoreScript } from "../../lib/core/scripts/etcd-restore";
import {
  inNode,
  realNodesDown,
  realNodesUp,
  STATE_FILE,
  type RealNodesState,
} from "../nodes/nodes";

jest.setTimeout(1_800_000);

const log = (l: string) => process.stderr.write(`[real-node-jobs] ${l}\n`);
const CACHE = process.env.KU_CACHE ?? join(homedir(), ".cache", "kube-upkeep");
const KUBECTL = join(CACHE, "bin", "kubectl-v1.35.4");
const CERT_VALIDITY = "72h";
const NS = "kube-system";
const BACKUP_DIR = "/var/backups/etcd";
const CP = "cp1";

let state: RealNodesState;
let kc: KubeConfig;
const times: [string, number][] = [];

/** Runs `what`, records and prints how long it took. */
async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await f();
  } finally {
    const s = (Date.now() - t0) / 1000;
    times.push([what, s]);
    log(`${what}: ${s.toFixed(1)}s`);
  }
}

function kubectl(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile(
      KUBECTL,
      [`--kubeconfig=${state.kubeconfig}`, ...args],
      { maxBuffer: 64 << 20 },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr || err.message}`))
          : resolve(stdout),
    );
    if (input !== undefined) p.stdin?.end(input);
  });
}

/** The image the harness imported on the control-plane nodes under that name. */
function image(name: string): string {
  const ref = (state.images ?? []).find((i) => i.replace(/:[^:/]+$/, "").endsWith(`/${name}`));
  if (!ref)
    throw new Error(
      `the real nodes carry no ${name} image (state.json images: ${JSON.stringify(state.images)}); ` +
        `it is built by bash test/nodes/build-images.sh and imported by nodes.sh up` +
        (name === "busybox"
          ? " (it needs the host's busybox-static: apt-get install -y busybox-static)"
          : ""),
    );
  return ref;
}

interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec: any;
}

/** Synthesizes a chart to YAML (what `cdk8s synth` writes) and its objects. */
function synth(build: (chart: Chart) => void): { yaml: string; docs: Doc[] } {
  const app = Testing.app();
  build(new Chart(app, "e2e"));
  const yaml = app.synthYaml();
  return { yaml, docs: parseAllDocuments(yaml).map((d) => d.toJS() as Doc) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the Job to complete or fail; API errors (the API server restarting) are retried. */
async function waitForJob(name: string, timeoutMs: number): Promise<V1Job> {
  const batch = kc.makeApiClient(BatchV1Api);
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const job = await batch.readNamespacedJob({ name, namespace: NS });
      const done = job.status?.conditions?.find(
        (c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True",
      );
      if (done) return job;
      last = JSON.stringify(job.status ?? {});
    } catch (e) {
      last = String(e instanceof Error ? e.message : e).split("\n")[0];
    }
    await sleep(2000);
  }
  throw new Error(
    `job ${name} not finished in ${timeoutMs / 1000}s; last: ${last}\n${await jobDump(name)}`,
  );
}

async function jobDump(name: string): Promise<string> {
  const parts: string[] = [];
  for (const args of [
    ["-n", NS, "describe", "job", name],
    ["-n", NS, "describe", "pods", "-l", `job-name=${name}`],
    ["-n", NS, "logs", `job/${name}`, "--all-containers", "--prefix"],
  ])
    parts.push(await kubectl(args).catch((e: unknown) => String(e)));
  return parts.join("\n");
}

/** Creates a Job from the CronJob and waits for it; fails with the pod's logs unless it succeeded. */
async function runJobFrom(
  cronJob: string,
  job: string,
  timeoutMs: number,
): Promise<{ job: V1Job; pod: V1Pod; logs: string }> {
  await kubectl(["-n", NS, "create", "job", `--from=cronjob/${cronJob}`, job]);
  const done = await waitForJob(job, timeoutMs);
  const logs = await kubectl(["-n", NS, "logs", `job/${job}`, "--all-containers"]);
  if (!done.status?.succeeded) throw new Error(`job ${job} failed:\n${await jobDump(job)}`);
  const pods = await kc
    .makeApiClient(CoreV1Api)
    .listNamespacedPod({ namespace: NS, labelSelector: `job-name=${job}` });
  expect(pods.items).toHaveLength(1);
  return { job: done, pod: pods.items[0]!, logs };
}

/**
 * The pod spec the API server holds contains the synthesized one (the API adds defaults only; with
 * `automountServiceAccountToken`, also the token's volume and its mount in each container).
 */
function expectSynthesizedPodSpec(pod: V1Pod, synthesized: Doc): void {
  const template = synthesized.spec.jobTemplate.spec.template.spec;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const withToken = (cs: any[] | undefined) =>
    cs?.map((c) => ({ ...c, volumeMounts: expect.arrayContaining(c.volumeMounts ?? []) }));
  expect(pod.spec).toMatchObject({
    ...template,
    ...(template.automountServiceAccountToken
      ? {
          volumes: expect.arrayContaining(template.volumes),
          containers: withToken(template.containers),
          initContainers: withToken(template.initContainers),
        }
      : {}),
    // the DefaultTolerationSeconds admission adds not-ready/unreachable tolerations
    tolerations: expect.arrayContaining(template.tolerations),
  });
  expect(pod.spec?.nodeName).toBe(CP);
  expect(pod.status?.phase).toBe("Succeeded");
}

beforeAll(async () => {
  if (!existsSync(KUBECTL))
    throw new Error(`missing ${KUBECTL}: build it with bash test/cluster/build.sh kubernetes`);
  const t0 = Date.now();
  // KU_REUSE_REAL_NODES=1: the running cluster (made by this file with KU_KEEP_REAL_NODES=1),
  // for running one journey again; the renewal journey needs a fresh cluster
  state =
    process.env.KU_REUSE_REAL_NODES === "1" && existsSync(STATE_FILE)
      ? (JSON.parse(readFileSync(STATE_FILE, "utf8")) as RealNodesState)
      : await realNodesUp(log, { certificateValidity: CERT_VALIDITY });
  times.push(["nodes up", (Date.now() - t0) / 1000]);
  log(`real nodes up at ${state.from} in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  if (state.certificateValidityPeriod !== CERT_VALIDITY)
    throw new Error(
      `nodes.sh made the cluster without KU_NODES_CERT_VALIDITY=${CERT_VALIDITY} (state: ${state.certificateValidityPeriod}); test/nodes/nodes.sh is older than this test`,
    );
  image("etcd");
  image("busybox");
  kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
});

afterAll(async () => {
  log(`journey times: ${times.map(([w, s]) => `${w} ${s.toFixed(1)}s`).join("; ")}`);
  if (process.env.KU_KEEP_REAL_NODES !== "1") await realNodesDown(log);
});

// --- 1. EtcdBackup --------------------------------------------------------------------------------

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** Files in the backup directory before the job: name, age, whether retention deletes it. */
function seededFiles(now: number) {
  const snap = (ago: number) => etcdSnapshotFileName(new Date(now - ago));
  return [
    { name: snap(30 * DAY), ago: 30 * DAY, pruned: true }, // older than 7 days
    { name: snap(1 * HOUR), ago: 1 * HOUR, pruned: false }, // newest 3 with the new one
    { name: snap(2 * HOUR), ago: 2 * HOUR, pruned: false },
    { name: snap(3 * HOUR), ago: 3 * HOUR, pruned: true }, // 4th newest: beyond count 3
    { name: "etcd-snapshot-manual.db", ago: 30 * DAY, pruned: false }, // not the name pattern
    { name: "notes.txt", ago: 30 * DAY, pruned: false },
  ];
}

const backupProps = () => ({
  etcdImage: image("etcd"),
  shellImage: image("busybox"),
  retention: { days: 7, count: 3 },
});

async function backupDirListing(): Promise<Map<string, string>> {
  const out = await inNode(CP, [
    "find",
    BACKUP_DIR,
    "-maxdepth",
    "1",
    "-mindepth",
    "1",
    "-printf",
    "%f %m\\n",
  ]);
  return new Map(
    out
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ") as [string, string]),
  );
}

/**
 * The finish step's one stdout line: the new snapshot's path. The container log interleaves
 * stdout with the progress on stderr in the order the runtime read the two pipes, so the line
 * is found by its form, not by its place.
 */
async function snapshotPathOf(job: string): Promise<string> {
  const finish = await kubectl(["-n", NS, "logs", `job/${job}`, "-c", "finish"]);
  const paths = finish
    .split("\n")
    .filter((l) => /^\/var\/backups\/etcd\/etcd-snapshot-\d{8}T\d{6}Z\.db$/.test(l));
  expect(paths).toHaveLength(1);
  return paths[0]!;
}

test("EtcdBackup: a Job from the synthesized CronJob snapshots etcd on the control-plane node; retention prunes exactly what it should", async () => {
  const { yaml, docs } = synth((chart) => new EtcdBackup(chart, "etcd-backup", backupProps()));
  const cronJob = docs.find((d) => d.kind === "CronJob")!;
  expect(cronJob.metadata.name).toBe("etcd-backup");

  const now = Date.now();
  const seeded = seededFiles(now);
  await inNode(CP, [
    "sh",
    "-c",
    [
      `mkdir -p ${BACKUP_DIR}`,
      ...seeded.map(
        (f) =>
          `head -c 4096 /dev/urandom > ${BACKUP_DIR}/${f.name} && touch -d @${Math.floor((now - f.ago) / 1000)} ${BACKUP_DIR}/${f.name}`,
      ),
    ].join(" && "),
  ]);

  await kubectl(["apply", "-f", "-"], yaml);
  const live = await kc
    .makeApiClient(BatchV1Api)
    .readNamespacedCronJob({ name: "etcd-backup", namespace: NS });
  expect(live.spec).toMatchObject(cronJob.spec);

  const { pod, logs, job } = await timed("EtcdBackup job (create -> complete)", () =>
    runJobFrom("etcd-backup", "etcd-backup-e2e", 300_000),
  );
  expectSynthesizedPodSpec(pod, cronJob);
  expect(job.spec).toMatchObject({
    activeDeadlineSeconds: cronJob.spec.jobTemplate.spec.activeDeadlineSeconds,
    backoffLimit: cronJob.spec.jobTemplate.spec.backoffLimit,
  });
  // init containers snapshot and verify, then finish: all ran to exit 0 in the pod
  expect(
    pod.status?.initContainerStatuses?.map((s) => [s.name, s.state?.terminated?.exitCode]),
  ).toEqual([
    ["snapshot", 0],
    ["verify", 0],
  ]);
  expect(
    pod.status?.containerStatuses?.map((s) => [s.name, s.image, s.state?.terminated?.exitCode]),
  ).toEqual([["finish", image("busybox"), 0]]);

  const path = await snapshotPathOf("etcd-backup-e2e");
  expect(path).toMatch(/^\/var\/backups\/etcd\/etcd-snapshot-\d{8}T\d{6}Z\.db$/);
  const name = path.slice(BACKUP_DIR.length + 1);
  const listing = await backupDirListing();
  const expected = new Map<string, string>([[name, "600"]]);
  for (const f of seeded) if (!f.pruned) expected.set(f.name, listing.get(f.name) ?? "missing");
  expect(listing).toEqual(expected);
  expect(Object.fromEntries(listing)[name]).toBe("600");

  const status = JSON.parse(
    await inNode(CP, ["etcdutl", "snapshot", "status", path, "-w", "json"]),
  ) as {
    revision: number;
    totalKey: number;
    totalSize: number;
  };
  expect(status.totalKey).toBeGreaterThan(100);
  expect(status.revision).toBeGreaterThan(0);
  log(`snapshot ${path}: ${JSON.stringify(status)}`);
  for (const f of seeded.filter((x) => x.pruned))
    expect(logs).toContain(`pruning ${BACKUP_DIR}/${f.name}`);
});

// --- 1b. ResourceBackup ----------------------------------------------------------------------------

test("ResourceBackup: the CronJob's Job exports a namespace on cp1; the objects deleted and applied back", async () => {
  const ns = "shop-export";
  const dir = "/var/backups/resources";
  const core = kc.makeApiClient(CoreV1Api);
  await kubectl(["create", "namespace", ns]);
  await kubectl(
    ["apply", "--server-side", "-f", "-"],
    `apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: ${ns}, labels: { app: web } }
data: { mode: production }
---
apiVersion: v1
kind: Secret
metadata: { name: db-password, namespace: ${ns} }
stringData: { password: "s3cr3t" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${ns} }
spec:
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: "${image("pause")}", imagePullPolicy: Never }]
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: ${ns} }
spec: { selector: { app: web }, ports: [{ port: 80 }] }
`,
  );
  const { yaml, docs } = synth((chart) => {
    new ResourceBackup(chart, "rb", {
      name: "resource-backup",
      namespaces: [ns],
      includeSecrets: true,
      backupDir: dir,
      kubectlImage: image("kubectl"),
      shellImage: image("busybox"),
      onWarnings: () => undefined,
    });
  });
  await kubectl(["apply", "--server-side", "-f", "-"], yaml);
  const before = {
    cm: await core.readNamespacedConfigMap({ name: "settings", namespace: ns }),
    secret: await core.readNamespacedSecret({ name: "db-password", namespace: ns }),
  };
  const { pod, logs } = await timed("ResourceBackup: job", () =>
    runJobFrom("resource-backup", "resource-backup-e2e", 300_000),
  );
  expectSynthesizedPodSpec(
    pod,
    docs.find((d) => d.kind === "CronJob")!,
  );
  const snapshot = logs.trim().split("\n").pop()!;
  expect(snapshot.startsWith(`${dir}/`)).toBe(true);
  expect((await inNode(CP, ["stat", "-c", "%a", snapshot])).trim()).toBe("700");
  expect((await inNode(CP, ["ls", `${snapshot}/${ns}`])).trim().split("\n")).toEqual([
    "configmaps.json",
    "deployments.apps.json",
    "secrets.json",
    "services.json",
  ]);
  expect((await inNode(CP, ["stat", "-c", "%a", `${snapshot}/${ns}/secrets.json`])).trim()).toBe(
    "600",
  );

  await kubectl([
    "-n",
    ns,
    "delete",
    "deployment,service,configmap,secret",
    "--all",
    "--wait=true",
  ]);
  await expect(core.readNamespacedConfigMap({ name: "settings", namespace: ns })).rejects.toThrow();
  // the restore, as the guide does it: kubectl apply --server-side of each exported file (read
  // from the node; cp1 at FROM has no kubectl package)
  await timed("ResourceBackup: kubectl apply --server-side of the export", async () => {
    for (const f of ["configmaps.json", "deployments.apps.json", "secrets.json", "services.json"])
      await kubectl(
        ["apply", "--server-side", "-f", "-"],
        await inNode(CP, ["cat", `${snapshot}/${ns}/${f}`]),
      );
  });
  const cm = await core.readNamespacedConfigMap({ name: "settings", namespace: ns });
  expect([cm.data, cm.metadata?.labels]).toEqual([before.cm.data, before.cm.metadata?.labels]);
  expect(cm.metadata?.uid).not.toBe(before.cm.metadata?.uid);
  const secret = await core.readNamespacedSecret({ name: "db-password", namespace: ns });
  expect(secret.data).toEqual(before.secret.data);
  await waitForReadyPods(kc, ns, { app: "web" }, 1, { timeoutMs: 120_000 });
  const svc = await core.readNamespacedService({ name: "web", namespace: ns });
  expect(svc.spec?.ports?.[0]?.port).toBe(80);
});

// --- 2. CertificateRenewal ------------------------------------------------------------------------

interface CertInfo {
  name: string;
  expirationDate: string;
  residualTime: number;
  missing?: boolean;
}

async function certInfo(): Promise<Map<string, CertInfo>> {
  const out = await inNode(CP, ["kubeadm", "certs", "check-expiration", "-o", "json"]);
  const info = JSON.parse(out) as { certificates: CertInfo[] };
  return new Map(info.certificates.filter((c) => !c.missing).map((c) => [c.name, c]));
}

/** Where kubeadm keeps each certificate on the node (relative to /etc/kubernetes). */
const CERT_FILES: Record<string, string> = {
  "admin.conf": "admin.conf",
  "super-admin.conf": "super-admin.conf",
  "controller-manager.conf": "controller-manager.conf",
  "scheduler.conf": "scheduler.conf",
  apiserver: "pki/apiserver.crt",
  "apiserver-etcd-client": "pki/apiserver-etcd-client.crt",
  "apiserver-kubelet-client": "pki/apiserver-kubelet-client.crt",
  "front-proxy-client": "pki/front-proxy-client.crt",
  "etcd-healthcheck-client": "pki/etcd/healthcheck-client.crt",
  "etcd-peer": "pki/etcd/peer.crt",
  "etcd-server": "pki/etcd/server.crt",
};
const CA_FILES = [
  "pki/ca.crt",
  "pki/ca.key",
  "pki/front-proxy-ca.crt",
  "pki/etcd/ca.crt",
  "pki/sa.pub",
];

async function fileHashes(): Promise<Map<string, string>> {
  const files = [...Object.values(CERT_FILES), ...CA_FILES];
  const out = await inNode(CP, ["sh", "-c", `cd /etc/kubernetes && sha256sum ${files.join(" ")}`]);
  return new Map(
    out
      .trim()
      .split("\n")
      .map((l) => {
        const [h, f] = l.split(/\s+/);
        return [f!, h!];
      }),
  );
}

/** The certificate the API server serves, as a TLS client sees it. */
function servedCertificate(
  host: string,
  port: number,
): Promise<{ validTo: string; serialNumber: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve({ validTo: c.valid_to, serialNumber: c.serialNumber });
    });
    s.setTimeout(10_000, () => s.destroy(new Error(`TLS to ${host}:${port} timed out`)));
    s.on("error", reject);
  });
}

const NOT_DUE = ["front-proxy-client", "etcd-healthcheck-client"];

test("CertificateRenewal: renews only the due certificates, restarts the static pods, waits for the control plane; the API server serves the new certificate", async () => {
  const core = kc.makeApiClient(CoreV1Api);
  const cp = state.nodes.find((n) => n.name === CP)!;
  // the cluster's certificates: 72 h (the harness), all within renewBeforeDays 30
  const before0 = await certInfo();
  for (const [n, c] of before0)
    expect({ n, days: c.residualTime / 86400 < 3.01 }).toEqual({ n, days: true });

  // kubeadm's default lifetime again for what it issues from now on: drop the harness's
  // certificateValidityPeriod from the cluster configuration kubeadm certs renew reads
  const cm = await core.readNamespacedConfigMap({ name: "kubeadm-config", namespace: NS });
  const cc = cm.data!.ClusterConfiguration!;
  expect(cc).toMatch(/^certificateValidityPeriod: /m);
  cm.data!.ClusterConfiguration = cc.replace(/^certificateValidityPeriod: .*\n/m, "");
  await core.replaceNamespacedConfigMap({ name: "kubeadm-config", namespace: NS, body: cm });
  // two certificates renewed by hand now: a year left, so not due
  for (const n of NOT_DUE) await inNode(CP, ["kubeadm", "certs", "renew", n]);
  const before = await certInfo();
  for (const n of NOT_DUE) expect(before.get(n)!.residualTime / 86400).toBeGreaterThan(360);
  const due = [...before.keys()].filter((n) => !NOT_DUE.includes(n));
  expect(due).toEqual(expect.arrayContaining(["apiserver", "admin.conf", "etcd-server"]));
  const hashesBefore = await fileHashes();
  const servedBefore = await servedCertificate(cp.ip, 6443);
  expect(new Date(servedBefore.validTo).getTime() - Date.now()).toBeLessThan(3.01 * DAY);

  const { yaml, docs } = synth(
    (chart) =>
      new CertificateRenewal(chart, "certificate-renewal", {
        nodes: [CP],
        image: image("busybox"),
        renewBeforeDays: 30,
      }),
  );
  const cronJob = docs.find((d) => d.kind === "CronJob")!;
  expect(cronJob.metadata.name).toBe(`certificate-renewal-${CP}`);
  await kubectl(["apply", "-f", "-"], yaml);
  const started = Date.now();
  const { pod, logs } = await timed("CertificateRenewal job (create -> complete)", () =>
    runJobFrom(cronJob.metadata.name, "certificate-renewal-e2e", 600_000),
  );
  log(`renewal job log:\n${logs}`);
  expectSynthesizedPodSpec(pod, cronJob);
  expect(
    pod.status?.containerStatuses?.map((s) => [s.name, s.image, s.state?.terminated?.exitCode]),
  ).toEqual([["renew", image("busybox"), 0]]);

  // renewed exactly the due ones, in check-expiration's order, then the restart and the wait
  const renewed = [...logs.matchAll(/cert-renewal: kubeadm certs renew (\S+)/g)].map((m) => m[1]);
  expect(renewed.sort()).toEqual([...due].sort());
  const order = [
    /moved \d+ static pod manifests to \/host\/etc\/kubernetes\/tmp\/kube-upkeep-manifests\./,
    /moved the static pod manifests back/,
    /etcd healthy/,
    /kube-apiserver healthy/,
    /kube-controller-manager healthy/,
    /kube-scheduler healthy/,
    /checking certificate expiration again/,
    /cert-renewal: done/,
  ].map((re) => logs.search(re));
  expect(order.every((i) => i >= 0)).toBe(true);
  expect([...order].sort((a, b) => a - b)).toEqual(order);

  // every certificate beyond the threshold; due ones a year, the others as they were
  const after = await certInfo();
  for (const n of due)
    expect({ n, days: Math.round(after.get(n)!.residualTime / 86400) }).toEqual({ n, days: 365 });
  for (const n of NOT_DUE) expect(after.get(n)!.expirationDate).toBe(before.get(n)!.expirationDate);
  const hashesAfter = await fileHashes();
  for (const n of due)
    expect({
      n,
      changed: hashesAfter.get(CERT_FILES[n]!) !== hashesBefore.get(CERT_FILES[n]!),
    }).toEqual({ n, changed: true });
  for (const n of NOT_DUE)
    expect({ n, same: hashesAfter.get(CERT_FILES[n]!) }).toEqual({
      n,
      same: hashesBefore.get(CERT_FILES[n]!),
    });
  for (const f of CA_FILES)
    expect({ f, same: hashesAfter.get(f) }).toEqual({ f, same: hashesBefore.get(f) });

  // the API server restarted on the new certificate: TLS shows the file's expiry
  const served = await servedCertificate(cp.ip, 6443);
  const onDisk = new X509Certificate(
    await inNode(CP, ["cat", "/etc/kubernetes/pki/apiserver.crt"]),
  );
  expect(served.serialNumber).toBe(onDisk.serialNumber);
  expect(new Date(served.validTo).getTime()).toBe(new Date(onDisk.validTo).getTime());
  expect(new Date(served.validTo).getTime() - Date.now()).toBeGreaterThan(360 * DAY);
  // each static pod's container started after the job did (the documented restart)
  const pods = (await core.listNamespacedPod({ namespace: NS })).items;
  for (const c of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]) {
    const p = pods.find((x) => x.metadata?.name === `${c}-${CP}`);
    const startedAt = p?.status?.containerStatuses?.[0]?.state?.running?.startedAt;
    expect({
      c,
      restarted: startedAt !== undefined && new Date(startedAt).getTime() > started,
    }).toEqual({ c, restarted: true });
  }
});

// --- 3. Restore -----------------------------------------------------------------------------------

test("Restore: snapshot, namespace deleted, the rendered restore script on cp1, the namespace back with the same UIDs", async () => {
  const core = kc.makeApiClient(CoreV1Api);
  const ns = "restore-me";
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const cmap = await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: "settings" }, data: { color: "blue" } },
  });
  const secret = await core.createNamespacedSecret({
    namespace: ns,
    body: { metadata: { name: "token" }, stringData: { token: "s3cret" } },
  });
  const nsUid = (await core.readNamespace({ name: ns })).metadata!.uid!;

  // the backup CronJob of the first journey (applied again: this journey can run alone)
  await kubectl(
    ["apply", "-f", "-"],
    synth((chart) => new EtcdBackup(chart, "etcd-backup", backupProps())).yaml,
  );
  await timed("Restore: snapshot job", () =>
    runJobFrom("etcd-backup", "etcd-backup-restore-e2e", 300_000),
  );
  const snapshot = await snapshotPathOf("etcd-backup-restore-e2e");

  await core.deleteNamespace({ name: ns });
  for (let i = 0; i < 120; i++) {
    const gone = await core.readNamespace({ name: ns }).then(
      () => false,
      () => true,
    );
    if (gone) break;
    await sleep(1000);
  }
  await expect(core.readNamespace({ name: ns })).rejects.toThrow();

  const cp = state.nodes.find((n) => n.name === CP)!;
  const dataDir = `/var/lib/etcd-restore-${Date.now()}`;
  const script = renderEtcdRestoreScript({
    snapshot,
    dataDir,
    name: CP,
    initialCluster: [{ name: CP, peerUrl: `https://${cp.ip}:2380` }],
    initialClusterToken: "etcd-restore-e2e",
  });
  const out = await timed("Restore: rendered restore script on cp1", () =>
    inNode(CP, ["bash", "-c", script]),
  );
  log(`restore script stdout:\n${out}`);

  // the API server is back on the restored data: the namespace and its objects, same UIDs
  let back: string | undefined;
  await timed("Restore: API server serving the namespace again", async () => {
    for (let i = 0; i < 180 && !back; i++) {
      back = await core.readNamespace({ name: ns }).then(
        (n) => n.metadata?.uid,
        () => undefined,
      );
      if (!back) await sleep(1000);
    }
  });
  expect(back).toBe(nsUid);
  const cm2 = await core.readNamespacedConfigMap({ name: "settings", namespace: ns });
  expect([cm2.metadata?.uid, cm2.data]).toEqual([cmap.metadata?.uid, { color: "blue" }]);
  const s2 = await core.readNamespacedSecret({ name: "token", namespace: ns });
  expect([s2.metadata?.uid, Buffer.from(s2.data!.token!, "base64").toString()]).toEqual([
    secret.metadata?.uid,
    "s3cret",
  ]);

  // etcd runs on the new data directory, one member as the guide's member list shows
  const manifest = await inNode(CP, ["cat", "/etc/kubernetes/manifests/etcd.yaml"]);
  expect(manifest).toContain(`--data-dir=${dataDir}`);
  const members = await inNode(CP, [
    "etcdctl",
    "--endpoints=https://127.0.0.1:2379",
    "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
    "--cert=/etc/kubernetes/pki/etcd/server.crt",
    "--key=/etc/kubernetes/pki/etcd/server.key",
    "member",
    "list",
  ]);
  log(`etcdctl member list: ${members.trim()}`);
  expect(members.trim().split("\n")).toHaveLength(1);
  expect(members).toContain(`started, ${CP}, https://${cp.ip}:2380`);
  // The restore script stops at etcd healthy. Seen on cp1 without the next step: the kubelet
  // kept the etcd mirror pod Pending with no status for over 4 minutes (its status manager's
  // first update after the restore was refused by the node authorizer, and it did not try
  // again). The Kubernetes etcd restore docs say to restart the kubelet (and the other
  // components) afterwards so nothing relies on stale data: done here by hand, as a user would.
  await timed("Restore: kubelet restarted (the documented follow-up)", () =>
    inNode(CP, ["systemctl", "restart", "kubelet"]),
  );
  // kube-system healthy again: every pod Running and ready (the Jobs' pods aside: the backup
  // Job that took the snapshot was running in it, and is restored as such)
  await timed("Restore: kube-system pods ready", async () => {
    let notReady: string[] = [];
    for (let i = 0; i < 120; i++) {
      const pods = (
        await core.listNamespacedPod({ namespace: NS }).catch(() => ({ items: [] as V1Pod[] }))
      ).items.filter((p) => !p.metadata?.labels?.["job-name"]);
      notReady = pods
        .filter(
          (p) =>
            !(p.status?.phase === "Running" && p.status.containerStatuses?.every((c) => c.ready)),
        )
        .map((p) => p.metadata!.name!);
      if (pods.length > 0 && notReady.length === 0) return;
      await sleep(2000);
    }
    throw new Error(`kube-system pods not ready after the restore: ${notReady.join(", ")}`);
  });
});
