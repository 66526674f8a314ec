/* eslint-disable @typescript-eslint/no-explicit-any */
import { Chart, Testing } from "cdk8s";
import { ResourceBackup, type ResourceBackupProps } from "kube-upkeep/cdk8s";
import { renderResourceBackupScript, ValidationErrors } from "kube-upkeep/core";
import { thrown } from "./thrown";

function synth(props: ResourceBackupProps = {}, chartNamespace?: string) {
  const app = Testing.app();
  const chart = new Chart(app, "test", chartNamespace ? { namespace: chartNamespace } : {});
  const warnings: string[] = [];
  const rb = new ResourceBackup(chart, "rb", { onWarnings: (w) => warnings.push(...w), ...props });
  const objs = Testing.synth(chart) as any[];
  const byKind = (k: string) => objs.filter((o) => o.kind === k);
  return { rb, objs, byKind, warnings };
}

test("defaults: CronJob, ServiceAccount, read-only ClusterRole + binding for exactly the app preset", () => {
  const { objs, byKind, warnings } = synth();
  expect(objs.map((o) => o.kind)).toEqual([
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "CronJob",
  ]);
  expect(warnings).toEqual([]);
  const [role] = byKind("ClusterRole");
  expect(role.metadata.name).toBe("resource-backup");
  expect(role.rules).toEqual([
    { apiGroups: [""], resources: ["configmaps", "services"], verbs: ["get", "list"] },
    { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list"] },
  ]);
  const [binding] = byKind("ClusterRoleBinding");
  expect(binding.roleRef).toEqual({
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: "resource-backup",
  });
  expect(binding.subjects).toEqual([
    { kind: "ServiceAccount", name: "resource-backup", namespace: "kube-system" },
  ]);
  const [sa] = byKind("ServiceAccount");
  expect(sa.metadata).toMatchObject({ name: "resource-backup", namespace: "kube-system" });
  expect(sa.automountServiceAccountToken).toBe(false);

  const [cj] = byKind("CronJob");
  expect(cj.metadata).toMatchObject({ name: "resource-backup", namespace: "kube-system" });
  expect(cj.spec).toMatchObject({
    schedule: "30 2 * * *",
    concurrencyPolicy: "Forbid",
    startingDeadlineSeconds: 300,
  });
  const pod = cj.spec.jobTemplate.spec.template.spec;
  expect(pod.serviceAccountName).toBe("resource-backup");
  expect(pod.automountServiceAccountToken).toBe(true);
  expect(pod.nodeSelector).toEqual({ "node-role.kubernetes.io/control-plane": "" });
  expect(pod.initContainers.map((c: any) => [c.name, c.image])).toEqual([
    ["tools", "docker.io/library/busybox:1.37.0"],
  ]);
  const [exp] = pod.containers;
  expect(exp.image).toBe("registry.k8s.io/kubectl:v1.35.4");
  expect(exp.command).toEqual(["sh", "-c", renderResourceBackupScript()]);
  expect(exp.securityContext).toMatchObject({
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
  });
  expect(pod.volumes).toContainEqual({
    name: "backup",
    hostPath: { path: "/var/backups/kubernetes-resources", type: "DirectoryOrCreate" },
  });
  expect(exp.volumeMounts).toContainEqual({
    name: "backup",
    mountPath: "/var/backups/kubernetes-resources",
  });
});

test("a namespace list binds the ClusterRole with a RoleBinding per namespace; cluster kinds get their own role", () => {
  const { byKind } = synth(
    { presets: ["rbac"], namespaces: ["shop", "billing"], name: "rbac-backup" },
    "maint",
  );
  expect(byKind("RoleBinding").map((b) => [b.metadata.namespace, b.roleRef.name])).toEqual([
    ["shop", "rbac-backup"],
    ["billing", "rbac-backup"],
  ]);
  expect(byKind("ClusterRole").map((r) => [r.metadata.name, r.rules])).toEqual([
    [
      "rbac-backup",
      [
        {
          apiGroups: ["rbac.authorization.k8s.io"],
          resources: ["rolebindings", "roles"],
          verbs: ["get", "list"],
        },
      ],
    ],
    [
      "rbac-backup-cluster",
      [
        {
          apiGroups: ["rbac.authorization.k8s.io"],
          resources: ["clusterrolebindings", "clusterroles"],
          verbs: ["get", "list"],
        },
      ],
    ],
  ]);
  // only the cluster-scoped role's binding; the namespaced role is bound per namespace
  expect(byKind("ClusterRoleBinding").map((b) => b.roleRef.name)).toEqual(["rbac-backup-cluster"]);
  // the chart's namespace does not leak onto cluster-scoped objects
  for (const o of [...byKind("ClusterRole"), ...byKind("ClusterRoleBinding")])
    expect(o.metadata.namespace).toBeUndefined();
});

test("includeSecrets: secrets exported and readable, and a warning at synth", () => {
  const { rb, byKind, warnings } = synth({ includeSecrets: true });
  expect(byKind("ClusterRole")[0].rules[0].resources).toEqual([
    "configmaps",
    "secrets",
    "services",
  ]);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/hold Secret data .*every namespace.*kube-system\/resource-backup/);
  expect(rb.warnings).toEqual(warnings);
});

test("PVC storage: no hostPath, no node pinning", () => {
  const { byKind } = synth({ storage: { persistentVolumeClaim: "backups" } });
  const pod = byKind("CronJob")[0].spec.jobTemplate.spec.template.spec;
  expect(pod.volumes[0]).toEqual({
    name: "backup",
    persistentVolumeClaim: { claimName: "backups" },
  });
  expect(pod.nodeSelector).toBeUndefined();
  expect(pod.tolerations).toBeUndefined();
});

test.each([
  [{ schedule: "@daily" }, "schedule"],
  [{ kinds: ["secrets"] }, "kinds[0]"],
  [{ storage: { hostPath: "/a", persistentVolumeClaim: "b" } as never }, "storage"],
  [{ storage: { hostPath: "rel" } }, "storage.hostPath"],
  [{ storage: { persistentVolumeClaim: "Bad_Name" } }, "storage.persistentVolumeClaim"],
  [{ kubectlImage: "Not An Image" }, "kubectlImage"],
  [{ name: "Bad" }, "name"],
  [{ activeDeadlineSeconds: 5 }, "activeDeadlineSeconds"],
] as [ResourceBackupProps, string][])("%j is rejected naming %s", (props, field) => {
  const chart = Testing.chart();
  const e = thrown(() => new ResourceBackup(chart, "rb", props));
  expect(e.message).toContain(`test/rb: invalid ${field} `);
  expect(e.message).toContain("Fix: ");
  expect(chart.node.tryFindChild("rb")).toBeUndefined();
});

test("every problem at once", () => {
  const e = thrown(
    () =>
      new ResourceBackup(Testing.chart(), "rb", {
        schedule: "99 * * * *",
        kinds: ["deploy"],
        retention: { days: 0 },
        shellImage: "x y",
      }),
  );
  expect(e).toBeInstanceOf(ValidationErrors);
  expect((e as ValidationErrors).errors.map((x) => x.field)).toEqual([
    "kinds[0]",
    "retention.days",
    "schedule",
    "shellImage",
  ]);
});
