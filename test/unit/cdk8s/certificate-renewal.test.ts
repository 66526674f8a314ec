import * as fs from "node:fs";
import * as path from "node:path";
import { Testing } from "cdk8s";
import { ValidationError } from "../../../lib/core/errors";
import { renderCertRenewalScript } from "../../../lib/core/scripts/cert-renewal";
import {
  CertificateRenewal,
  staggeredSchedule,
  type CertificateRenewalProps,
} from "../../../lib/cdk8s/certificate-renewal";
import { makeStubs, runScript, shellcheck } from "../core/scripts/stubs";
import { thrown } from "./thrown";

// Each test spawns shells and stubs; on a busy 2-core machine that takes seconds.
jest.setTimeout(60_000);

/* eslint-disable @typescript-eslint/no-explicit-any */
const NODES = ["cp-1", "cp-2", "cp-3"];

function synth(props: CertificateRenewalProps): any[] {
  const chart = Testing.chart();
  new CertificateRenewal(chart, "renewal", props);
  return Testing.synth(chart);
}

describe("CertificateRenewal: synthesized CronJobs", () => {
  test("one CronJob per node, staggered by 20 minutes, pinned, defaults", () => {
    const cjs = synth({ nodes: NODES });
    expect(cjs).toHaveLength(3);
    expect(cjs.map((c) => c.metadata.name)).toEqual([
      "certificate-renewal-cp-1",
      "certificate-renewal-cp-2",
      "certificate-renewal-cp-3",
    ]);
    expect(cjs.map((c) => c.spec.schedule)).toEqual(["0 3 * * *", "20 3 * * *", "40 3 * * *"]);
    const cj = cjs[1];
    expect(cj.metadata).toEqual({
      name: "certificate-renewal-cp-2",
      namespace: "kube-system",
      labels: {
        "app.kubernetes.io/name": "certificate-renewal",
        "app.kubernetes.io/instance": "certificate-renewal-cp-2",
        "app.kubernetes.io/managed-by": "kube-upkeep",
      },
      annotations: { "kube-upkeep.io/node": "cp-2" },
    });
    expect(cj.spec.concurrencyPolicy).toBe("Forbid");
    expect(cj.spec.startingDeadlineSeconds).toBe(300);
    expect(cj.spec.successfulJobsHistoryLimit).toBe(3);
    expect(cj.spec.failedJobsHistoryLimit).toBe(3);
    const job = cj.spec.jobTemplate.spec;
    expect(job.activeDeadlineSeconds).toBe(600);
    expect(job.backoffLimit).toBe(0);
    const pod = job.template.spec;
    expect(pod.nodeSelector).toEqual({
      "node-role.kubernetes.io/control-plane": "",
      "kubernetes.io/hostname": "cp-2",
    });
    expect(pod.tolerations).toEqual([
      { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
    ]);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(pod.volumes).toEqual([
      { name: "host-root", hostPath: { path: "/", type: "Directory" } },
    ]);
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0];
    expect(c.name).toBe("renew");
    expect(c.image).toBe("docker.io/library/busybox:1.37.0");
    expect(c.volumeMounts).toEqual([{ name: "host-root", mountPath: "/host" }]);
    expect(c.securityContext).toEqual({
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      capabilities: { add: ["SYS_CHROOT"] },
    });
    expect(c.resources).toEqual({
      requests: { cpu: "50m", memory: "64Mi" },
      limits: { memory: "256Mi" },
    });
    expect(c.command.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(c.command[2]).toBe(renderCertRenewalScript({ rootfs: "/host" }));
    expect(c.command[2]).toContain('kubeadm_run() { chroot /host kubeadm "$@"; }');
    expect(c.command[2]).toContain("manifests_dir=/host/etc/kubernetes/manifests");
  });

  test("options reach the script and the manifest", () => {
    const [cj] = synth({
      nodes: ["master-0"],
      renewBeforeDays: 60,
      certificates: ["apiserver", "front-proxy-client"],
      dryRun: true,
      kubeadm: "/usr/local/bin/kubeadm",
      config: "/etc/kubernetes/kubeadm.yaml",
      restartWaitSeconds: 40,
      hostRoot: "/rootfs",
      privileged: true,
      image: "docker.io/library/alpine:3.22",
      schedule: "15 4 * * 1",
      timeZone: "Etc/UTC",
    });
    const pod = cj.spec.jobTemplate.spec.template.spec;
    const script = pod.containers[0].command[2];
    expect(script).toContain("renew_before_days=60");
    expect(script).toContain("wanted='apiserver front-proxy-client'");
    expect(script).toContain("dry_run=1");
    expect(script).toContain("restart_wait=40");
    expect(script).toContain('chroot /rootfs /usr/local/bin/kubeadm "$@"');
    expect(script).toContain("--config=/etc/kubernetes/kubeadm.yaml");
    expect(pod.containers[0].securityContext).toEqual({
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: true,
    });
    expect(pod.containers[0].volumeMounts).toEqual([{ name: "host-root", mountPath: "/rootfs" }]);
    expect(pod.terminationGracePeriodSeconds).toBe(70);
    expect(cj.spec.schedule).toBe("15 4 * * 1");
    expect(cj.spec.timeZone).toBe("Etc/UTC");
  });

  test("staggering moves minute and hour, keeps the other fields", () => {
    expect(staggeredSchedule("x", "50 2 * * 1-5", 2, 25)).toBe("40 3 * * 1-5");
    expect(staggeredSchedule("x", "*/5 * * * *", 0, 25)).toBe("*/5 * * * *");
    const cjs = synth({
      nodes: ["a", "b"],
      schedule: "45 23 * * *",
      staggerMinutes: 14,
      startingDeadlineSeconds: 60,
      activeDeadlineSeconds: 300,
      healthTimeoutSeconds: 120,
    });
    expect(cjs.map((c) => c.spec.schedule)).toEqual(["45 23 * * *", "59 23 * * *"]);
  });

  test("the rendered script passes shellcheck", () => {
    const [cj] = synth({ nodes: ["cp-1"], renewAll: true });
    shellcheck(cj.spec.jobTemplate.spec.template.spec.containers[0].command[2]);
  });

  test("the synthesized script runs outside a container against a temp root (stub kubeadm)", () => {
    const s = makeStubs();
    try {
      // no control plane runs in the temp root: no health wait (its own tests use a stub curl)
      const [cj] = synth({ nodes: ["cp-1"], restartWaitSeconds: 21, healthChecks: [] });
      const script: string = cj.spec.jobTemplate.spec.template.spec.containers[0].command[2];
      // /host is where the host's / is: map it to a temp root holding kubeadm and the manifests
      const root = path.join(s.dir, "root");
      const manifests = path.join(root, "etc/kubernetes/manifests");
      fs.mkdirSync(manifests, { recursive: true });
      fs.mkdirSync(path.join(root, "usr/bin"), { recursive: true });
      fs.copyFileSync(path.join(s.bin, "kubeadm"), path.join(root, "usr/bin/kubeadm"));
      fs.chmodSync(path.join(root, "usr/bin/kubeadm"), 0o755);
      fs.writeFileSync(path.join(manifests, "kube-apiserver.yaml"), "x");
      fs.writeFileSync(path.join(s.dir, "certs"), "apiserver 86400 false false\n");
      const mapped = script
        .split("chroot /host kubeadm")
        .join(`chroot ${root} /usr/bin/kubeadm`)
        .split("=/host/")
        .join(`=${root}/`);
      const r = runScript(mapped, {
        ...s.env,
        STUB_CERTS: path.join(s.dir, "certs"),
        STUB_MANIFESTS: manifests,
      });
      expect(r.stderr).toContain("cert-renewal: done");
      expect(r.status).toBe(0);
      expect(s.lines().map((l) => l.split("\t").slice(0, 6).join(" "))).toEqual([
        `chroot ${root} /usr/bin/kubeadm certs check-expiration --cert-dir=/etc/kubernetes/pki`,
        `kubeadm certs check-expiration --cert-dir=/etc/kubernetes/pki --kubeconfig=/etc/kubernetes/admin.conf -o`,
        `chroot ${root} /usr/bin/kubeadm certs renew apiserver`,
        `kubeadm certs renew apiserver --cert-dir=/etc/kubernetes/pki --kubeconfig=/etc/kubernetes/admin.conf`,
        "sleep 21",
        "manifests:",
        `chroot ${root} /usr/bin/kubeadm certs check-expiration --cert-dir=/etc/kubernetes/pki`,
        `kubeadm certs check-expiration --cert-dir=/etc/kubernetes/pki --kubeconfig=/etc/kubernetes/admin.conf -o`,
      ]);
      expect(fs.readdirSync(manifests)).toEqual(["kube-apiserver.yaml"]);
    } finally {
      s.cleanup();
    }
  });
});

describe("CertificateRenewal: validation names the construct path, the field, the value and the fix", () => {
  const cases: [string, CertificateRenewalProps, RegExp][] = [
    [
      "empty node list",
      { nodes: [] },
      /^test\/renewal: invalid nodes \[\]: empty node list. Fix: list the control-plane node names/,
    ],
    [
      "missing node list",
      {} as CertificateRenewalProps,
      /^test\/renewal: invalid nodes \(unset\): no control-plane nodes given/,
    ],
    [
      "renewBeforeDays 0",
      { nodes: NODES, renewBeforeDays: 0 },
      /^test\/renewal: invalid renewBeforeDays 0: must be an integer from 1 to 365/,
    ],
    ["renewBeforeDays 400", { nodes: NODES, renewBeforeDays: 400 }, /invalid renewBeforeDays 400/],
    [
      "invalid cron",
      { nodes: NODES, schedule: "0 3 * *" },
      /invalid schedule "0 3 \* \*": has 4 fields/,
    ],
    [
      "unstaggerable cron",
      { nodes: NODES, schedule: "0 */6 * * *" },
      /invalid schedule "0 \*\/6 \* \* \*": cannot be staggered across nodes/,
    ],
    [
      "stagger past midnight",
      { nodes: NODES, schedule: "30 23 * * *" },
      /invalid schedule "30 23 \* \* \*": node 3's run would move past midnight \(2 x 20 minutes later\)/,
    ],
    [
      "overlapping runs",
      { nodes: NODES, staggerMinutes: 10 },
      /invalid staggerMinutes 10: two nodes' runs could overlap: startingDeadlineSeconds \(300\) \+ activeDeadlineSeconds \(600\).*Fix: raise staggerMinutes above 15/,
    ],
    [
      "relative certDir",
      { nodes: NODES, certDir: "etc/kubernetes/pki" },
      /invalid certDir "etc\/kubernetes\/pki": path is relative/,
    ],
    [
      "non-normalized manifestsDir",
      { nodes: NODES, manifestsDir: "/etc/kubernetes/manifests/" },
      /invalid manifestsDir .*not normalized/,
    ],
    [
      "shell metacharacters",
      { nodes: NODES, config: "/etc/kubernetes/$(id).yaml" },
      /invalid config .*must not reach a shell/,
    ],
    ["hostRoot /", { nodes: NODES, hostRoot: "/" }, /invalid hostRoot "\/"/],
    [
      "health wait longer than the Job",
      { nodes: NODES, activeDeadlineSeconds: 300 },
      /invalid activeDeadlineSeconds 300: the Job could be stopped while the control plane restarts: restartWaitSeconds \(30\) \+ healthTimeoutSeconds \(300\).*Fix: raise activeDeadlineSeconds above 390/,
    ],
    [
      "bad health check URL",
      { nodes: NODES, healthChecks: [{ name: "etcd", url: "http://127.0.0.1:2381/$(id)" }] },
      /invalid healthChecks\[0\]\.url/,
    ],
    [
      "rootfs given",
      { nodes: NODES, rootfs: "/host" } as CertificateRenewalProps,
      /invalid rootfs "\/host": not a CertificateRenewal prop. Fix: set hostRoot/,
    ],
    ["bad node", { nodes: ["cp 1"] }, /invalid nodes\[0\] "cp 1": not a DNS-1123 name/],
    [
      "unknown certificate",
      { nodes: NODES, certificates: ["ca" as never] },
      /invalid certificates "ca"/,
    ],
  ];
  test.each(cases)("%s", (_n, props, re) => {
    const err = thrown(() => synth(props));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toMatch(re);
    expect(err.message).toContain("test/renewal: invalid ");
    expect(err.message).toContain(". Fix: ");
  });
});
