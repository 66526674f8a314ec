/** EtcdBackup, CertificateRenewal and their core options report every bad prop at once. */
import { Chart, Testing } from "cdk8s";
import { ValidationError, ValidationErrors } from "../../../lib/core/errors";
import { resolveCertRenewalOptions } from "../../../lib/core/scripts/cert-renewal";
import { resolveEtcdBackupOptions } from "../../../lib/core/scripts/etcd-backup";
import { CertificateRenewal } from "../../../lib/cdk8s/certificate-renewal";
import { EtcdBackup } from "../../../lib/cdk8s/etcd-backup";
import { thrown } from "./thrown";

/** The fields a ValidationErrors names, in order. */
function fields(e: Error): string[] {
  expect(e).toBeInstanceOf(ValidationErrors);
  return (e as ValidationErrors).errors.map((x) => x.field);
}

describe("every problem at once", () => {
  test("resolveEtcdBackupOptions: a relative backupDir and a zero timeout", () => {
    const e = thrown(() => resolveEtcdBackupOptions({ backupDir: "backups", timeoutSeconds: 0 }));
    expect(fields(e)).toEqual(["backupDir", "timeoutSeconds"]);
    expect(e.message).toMatch(/^renderEtcdBackupScript: invalid backupDir "backups"/);
  });

  test("resolveEtcdBackupOptions: one problem is the ValidationError itself", () => {
    const e = thrown(() => resolveEtcdBackupOptions({ timeoutSeconds: 0 }));
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).field).toBe("timeoutSeconds");
  });

  test("resolveCertRenewalOptions: an unknown certificate, renewBeforeDays 0 and a bad health check URL", () => {
    const e = thrown(() =>
      resolveCertRenewalOptions({
        renewBeforeDays: 0,
        certificates: ["apiserver", "no-such-cert" as never],
        healthChecks: [{ name: "api", url: "ftp://x/" }],
      }),
    );
    expect(fields(e)).toEqual(["renewBeforeDays", "certificates", "healthChecks[0].url"]);
  });

  test("EtcdBackup: a bad schedule and a bad namespace, the construct path on both", () => {
    const chart = new Chart(Testing.app(), "c");
    const e = thrown(() => new EtcdBackup(chart, "eb", { schedule: "nightly", namespace: "Kube" }));
    expect(fields(e)).toEqual(["schedule", "namespace"]);
    for (const x of (e as ValidationErrors).errors) expect(x.path).toBe("c/eb");
    expect(chart.node.tryFindChild("eb")).toBeUndefined();
  });

  test("EtcdBackup: a bad script option and a bad CronJob prop", () => {
    const chart = new Chart(Testing.app(), "c");
    const e = thrown(
      () =>
        new EtcdBackup(chart, "eb", {
          etcdctl: "etcdctl; reboot",
          resources: { memoryLimit: "lots" },
          nodes: ["cp-1", "cp-1"],
        }),
    );
    expect(fields(e)).toEqual(["etcdctl", "resources.memoryLimit", "nodes[1]"]);
  });

  test("CertificateRenewal: hostRoot /, a bad image and an unknown certificate", () => {
    const chart = new Chart(Testing.app(), "c");
    const e = thrown(
      () =>
        new CertificateRenewal(chart, "cr", {
          nodes: ["cp-1"],
          hostRoot: "/",
          image: "Not An Image",
          certificates: ["nope" as never],
        }),
    );
    expect(fields(e)).toEqual(["hostRoot", "certificates", "image"]);
    expect(chart.node.tryFindChild("cr")).toBeUndefined();
  });

  test("CertificateRenewal: no nodes and a zero staggerMinutes", () => {
    const chart = new Chart(Testing.app(), "c");
    const e = thrown(() => new CertificateRenewal(chart, "cr", { staggerMinutes: 0 } as never));
    expect(fields(e)).toEqual(["nodes", "staggerMinutes"]);
  });
});
