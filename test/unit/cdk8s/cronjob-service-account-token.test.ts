/**
 * Least privilege for the control-plane CronJobs: their pods talk to etcd and run kubeadm on the
 * host, never to the Kubernetes API, so none of them mounts a service-account token — every
 * CronJob of EtcdBackup and CertificateRenewal (single and per node), and no construct can turn
 * the token back on through its pod part.
 */
import { Testing } from "cdk8s";
import { CertificateRenewal } from "../../../lib/cdk8s/certificate-renewal";
import { addControlPlaneCronJobs } from "../../../lib/cdk8s/control-plane-cron-job";
import { EtcdBackup } from "../../../lib/cdk8s/etcd-backup";

const NODES = ["cp-1", "cp-2", "cp-3"];

/* eslint-disable @typescript-eslint/no-explicit-any */
test("no control-plane CronJob pod mounts a service-account token", () => {
  const chart = Testing.chart();
  new EtcdBackup(chart, "backup");
  new EtcdBackup(chart, "backup-ha", { name: "etcd-backup-ha", nodes: NODES });
  new CertificateRenewal(chart, "renewal", { nodes: NODES });
  const cronJobs = Testing.synth(chart).filter((o: any) => o.kind === "CronJob");
  expect(cronJobs).toHaveLength(1 + 3 + 3);
  for (const cj of cronJobs) {
    const pod = cj.spec.jobTemplate.spec.template.spec;
    expect([cj.metadata.name, pod.automountServiceAccountToken]).toEqual([cj.metadata.name, false]);
    expect(pod.serviceAccountName).toBeUndefined();
    expect(pod.serviceAccount).toBeUndefined();
    const mounts = [...(pod.initContainers ?? []), ...pod.containers].flatMap(
      (c: any) => c.volumeMounts ?? [],
    );
    expect(mounts.filter((m: any) => m.mountPath.startsWith("/var/run/secrets"))).toEqual([]);
    expect((pod.volumes ?? []).filter((v: any) => v.projected)).toEqual([]);
  }
});

test("the pod part of a control-plane CronJob cannot set automountServiceAccountToken", () => {
  const chart = Testing.chart();
  const [cj] = addControlPlaneCronJobs(chart, {
    app: "x",
    name: "x",
    namespace: "kube-system",
    schedule: "0 2 * * *",
    priorityClassName: "system-cluster-critical",
    numbers: {
      startingDeadlineSeconds: 300,
      activeDeadlineSeconds: 1800,
      backoffLimit: 2,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
    },
    pod: {
      containers: [{ name: "main", image: "busybox" }],
      // @ts-expect-error the shared spec owns automountServiceAccountToken (always false)
      automountServiceAccountToken: true,
    },
  });
  // the type refuses it, and at run time (a JavaScript caller) the shared spec still wins
  expect(cj.toJson().spec.jobTemplate.spec.template.spec.automountServiceAccountToken).toBe(false);
});
