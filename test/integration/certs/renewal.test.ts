/**
 * The CertificateRenewal CronJob's exact command (from the synthesized YAML) run outside a
 * container against a real kubeadm PKI: a control-plane node's /etc/kubernetes made by the built
 * kubeadm (`init phase certs all`, `kubeconfig all`, `control-plane all`, `etcd local`) in a temp
 * root. The job's `hostRoot` is that root, so its `chroot <root> kubeadm ...` runs the real
 * kubeadm on it (kubeadm is a static binary copied to <root>/usr/local/bin), and `sh -c` runs in
 * busybox, the job's image. Some certificates are made to expire within the threshold by
 * renewing them with kubeadm itself under a short `certificateValidityPeriod` (v1beta4).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import {
  CertificateRenewal,
  type CertificateRenewalProps,
} from "../../../lib/cdk8s/certificate-renewal";
import {
  cronJobsIn,
  podSteps,
  prepareHostPaths,
  runPod,
  runPodAsync,
  synthYaml,
} from "../support/cronjob";
import { kubeadmConfig, makeKubeadmRoot, type KubeadmRoot } from "../support/pki";
import {
  busyboxBin,
  requireBinaries,
  requireHostTool,
  requireRoot,
  tempDir,
} from "../support/tools";

jest.setTimeout(240_000);

const DAY = 86400;
const THRESHOLD_DAYS = 30;
/** The certificates made to expire within the threshold (a serving cert, a client cert, a kubeconfig). */
const SHORTENED = ["apiserver", "front-proxy-client", "admin.conf"];

let kubeadm: string;
let tmp: { dir: string; cleanup(): void };
let busybox: string;

beforeAll(() => {
  ({ kubeadm } = requireBinaries("kubeadm"));
  requireRoot("the job chroots into the kubeadm node root");
  requireHostTool("/usr/sbin/chroot", "coreutils");
  tmp = tempDir("cert-renewal");
  busybox = busyboxBin(tmp.dir);
});

afterAll(() => tmp?.cleanup());

interface CertInfo {
  name: string;
  residualTime: number;
  externallyManaged: boolean;
  missing: boolean;
}

function checkExpiration(node: KubeadmRoot): Map<string, CertInfo> {
  const out = JSON.parse(
    node.kubeadmRun(["certs", "check-expiration", "--config", node.config, "-o", "json"]),
  ) as { certificates: CertInfo[] };
  return new Map(out.certificates.map((c) => [c.name, c]));
}

/** A node whose SHORTENED certificates expire in 10 days (renewed by kubeadm for 240h). */
let counter = 0;
function nodeWithExpiringCerts(): KubeadmRoot {
  const node = makeKubeadmRoot(kubeadm, join(tmp.dir, `node-${++counter}`));
  const short = "/etc/kubernetes/kubeadm-short-validity.yaml";
  writeFileSync(join(node.root, short), kubeadmConfig({ certificateValidityPeriod: "240h" }));
  for (const c of SHORTENED) node.kubeadmRun(["certs", "renew", c, "--config", short]);
  const before = checkExpiration(node);
  for (const c of SHORTENED) expect(before.get(c)!.residualTime).toBeLessThan(11 * DAY);
  for (const [name, c] of before)
    if (!SHORTENED.includes(name)) expect(c.residualTime).toBeGreaterThan(300 * DAY);
  return node;
}

/** The CronJob's steps for this node: hostRoot = the node root, short restart wait. */
function renewalSteps(node: KubeadmRoot, extra: Partial<CertificateRenewalProps> = {}) {
  const [job] = cronJobsIn(
    synthYaml(
      (chart) =>
        new CertificateRenewal(chart, "renewal", {
          nodes: ["cp-1"],
          hostRoot: node.root,
          config: node.config,
          renewBeforeDays: THRESHOLD_DAYS,
          restartWaitSeconds: 2,
          // only files here, no control-plane processes: nothing to wait for (the health wait
          // runs for real in test/e2e/real-node-jobs.test.ts)
          healthChecks: [],
          ...extra,
        }),
    ),
  );
  prepareHostPaths(job);
  const steps = podSteps(job);
  expect(steps.map((s) => s.container)).toEqual(["renew"]);
  expect(steps[0].command.slice(0, 2)).toEqual(["sh", "-c"]);
  return steps;
}

/** The pod's environment: busybox applets first; /usr/local/bin is where chroot finds kubeadm. */
const podEnv = () => ({ PATH: `${busybox}:/usr/local/bin:/usr/bin:/bin`, TZ: "UTC" });

/** sha256 of every file under <root>/etc/kubernetes, by relative path. */
function fingerprint(node: KubeadmRoot): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else
        out.set(relative(node.root, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(join(node.root, "etc/kubernetes"));
  return out;
}

/** Files of each certificate check-expiration names (kubeconfigs embed their client cert). */
const CERT_FILES: Record<string, string> = {
  "admin.conf": "etc/kubernetes/admin.conf",
  "super-admin.conf": "etc/kubernetes/super-admin.conf",
  "controller-manager.conf": "etc/kubernetes/controller-manager.conf",
  "scheduler.conf": "etc/kubernetes/scheduler.conf",
  apiserver: "etc/kubernetes/pki/apiserver.crt",
  "apiserver-etcd-client": "etc/kubernetes/pki/apiserver-etcd-client.crt",
  "apiserver-kubelet-client": "etc/kubernetes/pki/apiserver-kubelet-client.crt",
  "front-proxy-client": "etc/kubernetes/pki/front-proxy-client.crt",
  "etcd-healthcheck-client": "etc/kubernetes/pki/etcd/healthcheck-client.crt",
  "etcd-peer": "etc/kubernetes/pki/etcd/peer.crt",
  "etcd-server": "etc/kubernetes/pki/etcd/server.crt",
};

describe("CertificateRenewal job against a real kubeadm PKI", () => {
  it("renews only the certificates within the threshold and restarts the static pods", async () => {
    const node = nodeWithExpiringCerts();
    const before = fingerprint(node);
    const manifests = readdirSync(node.manifestsDir).sort();
    expect(manifests).toEqual([
      "etcd.yaml",
      "kube-apiserver.yaml",
      "kube-controller-manager.yaml",
      "kube-scheduler.yaml",
    ]);

    // watch the manifests directory while the job runs
    const seen = { emptyManifests: false, stashed: [] as string[] };
    const stashParent = join(node.root, "etc/kubernetes/tmp");
    const watcher = setInterval(() => {
      if (readdirSync(node.manifestsDir).length === 0) seen.emptyManifests = true;
      if (existsSync(stashParent))
        for (const d of readdirSync(stashParent))
          if (d.startsWith("kube-upkeep-manifests.")) {
            // the fullest listing: polls can also land mid-move (out or back)
            const now = readdirSync(join(stashParent, d)).sort();
            if (now.length > seen.stashed.length) seen.stashed = now;
          }
    }, 100);
    const pod = await runPodAsync(renewalSteps(node), { env: podEnv() }).finally(() =>
      clearInterval(watcher),
    );
    expect(pod.output).toContain("done");
    expect(pod.succeeded).toBe(true);

    // only the near-expiry certificates changed
    const after = fingerprint(node);
    for (const [name, file] of Object.entries(CERT_FILES)) {
      if (SHORTENED.includes(name)) expect(after.get(file)).not.toBe(before.get(file));
      else expect(after.get(file)).toBe(before.get(file));
    }
    for (const ca of ["ca.crt", "ca.key", "etcd/ca.crt", "front-proxy-ca.crt", "sa.key"])
      expect(after.get(`etc/kubernetes/pki/${ca}`)).toBe(before.get(`etc/kubernetes/pki/${ca}`));
    for (const c of SHORTENED) expect(pod.output).toContain(`kubeadm certs renew ${c}`);
    expect(pod.output).not.toContain("kubeadm certs renew etcd-server");

    // afterwards everything is beyond the threshold
    for (const [name, c] of checkExpiration(node)) {
      expect({ name, missing: c.missing }).toEqual({ name, missing: false });
      expect(c.residualTime).toBeGreaterThan(THRESHOLD_DAYS * DAY);
    }

    // the static pod manifests were moved out and back, unchanged
    expect(seen.emptyManifests).toBe(true);
    expect(seen.stashed).toEqual(manifests);
    expect(readdirSync(node.manifestsDir).sort()).toEqual(manifests);
    for (const m of manifests)
      expect(after.get(`etc/kubernetes/manifests/${m}`)).toBe(
        before.get(`etc/kubernetes/manifests/${m}`),
      );
    expect(readdirSync(stashParent)).toEqual([]); // no stash left behind
    expect(pod.output).toContain("moved the static pod manifests back");
  });

  it("does nothing when nothing is due", () => {
    const node = makeKubeadmRoot(kubeadm, join(tmp.dir, `node-${++counter}`));
    const before = fingerprint(node);
    const pod = runPod(renewalSteps(node), { env: podEnv() });
    expect(pod.succeeded).toBe(true);
    expect(pod.output).toContain("nothing to renew");
    expect(fingerprint(node)).toEqual(before);
  });

  it("dry-run reports what is due and changes nothing", () => {
    const node = nodeWithExpiringCerts();
    const before = fingerprint(node);
    const pod = runPod(renewalSteps(node, { dryRun: true }), { env: podEnv() });
    expect(pod.succeeded).toBe(true);
    expect(pod.output).toMatch(/dry run: would renew: (\S+ ){3}/);
    for (const c of SHORTENED)
      expect(pod.output).toMatch(new RegExp(`would renew: .*${c.replace(".", "\\.")}`));
    expect(fingerprint(node)).toEqual(before);
    expect(existsSync(join(node.root, "etc/kubernetes/tmp"))).toBe(false);
    for (const c of SHORTENED)
      expect(checkExpiration(node).get(c)!.residualTime).toBeLessThan(11 * DAY);
  });

  it("fails with kubeadm's message when kubeadm cannot renew, leaving the manifests in place", () => {
    const node = nodeWithExpiringCerts();
    // a CA key kubeadm cannot read: check-expiration still works, renew cannot sign
    writeFileSync(
      join(node.pkiDir, "ca.key"),
      "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    );
    const before = fingerprint(node);
    const pod = runPod(renewalSteps(node), { env: podEnv() });
    expect(pod.succeeded).toBe(false);
    expect(pod.output).toMatch(
      /ERROR: kubeadm certs renew \S+ failed: .*failure loading ca certificate authority/,
    );
    expect(pod.output).toContain("/etc/kubernetes/pki/ca.key");
    expect(fingerprint(node)).toEqual(before);
    expect(readdirSync(node.manifestsDir)).toHaveLength(4);
  });
});
