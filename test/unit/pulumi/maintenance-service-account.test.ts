/**
 * MaintenanceServiceAccount under pulumi mocks: three typed @pulumi/kubernetes children whose
 * inputs are exactly the core manifests (the same objects the cdk8s MaintenanceRbac
 * synthesizes), parented to the component, using the component's provider, the binding after
 * the role; bad props throw before anything is registered.
 */
import * as k8s from "@pulumi/kubernetes";
import { Testing } from "cdk8s";
import { MaintenanceRbac } from "../../../lib/cdk8s/maintenance-rbac";
import { ValidationError } from "../../../lib/core/errors";
import { maintenanceRbacManifests, resolveMaintenanceRbac } from "../../../lib/core/rbac";
import { MaintenanceServiceAccount } from "../../../lib/pulumi/maintenance-service-account";
import { thrown } from "../cdk8s/thrown";
import { mockAndRecord, value, type Registered } from "./mocks";

const registered = new Map<string, Registered>();
beforeAll(() => mockAndRecord(registered));

async function settle(c: MaintenanceServiceAccount): Promise<void> {
  await value(c.urn);
  await Promise.all(
    [c.serviceAccount, c.clusterRole, c.clusterRoleBinding].map((r) => value(r.id)),
  );
}

describe("MaintenanceServiceAccount", () => {
  let c: MaintenanceServiceAccount;
  let provider: k8s.Provider;
  const opts = { namespace: "ops", name: "upgrader" };
  beforeAll(async () => {
    provider = new k8s.Provider("k8s", { kubeconfig: "apiVersion: v1\nkind: Config\n" });
    c = new MaintenanceServiceAccount("maint", opts, { provider });
    await settle(c);
  });

  test("the children's inputs are the core manifests, i.e. what cdk8s MaintenanceRbac synthesizes", () => {
    const m = maintenanceRbacManifests(resolveMaintenanceRbac("test", opts));
    const chart = Testing.chart();
    new MaintenanceRbac(chart, "rbac", opts);
    const synthesized = Testing.synth(chart);
    const children: [string, string, unknown][] = [
      ["maint-service-account", "kubernetes:core/v1:ServiceAccount", m.serviceAccount],
      ["maint-cluster-role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", m.clusterRole],
      [
        "maint-cluster-role-binding",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        m.clusterRoleBinding,
      ],
    ];
    children.forEach(([name, type, manifest], i) => {
      const r = registered.get(name)!;
      expect(r.type).toBe(type);
      expect(r.inputs).toEqual(manifest);
      expect(r.inputs).toEqual(synthesized[i]);
      expect(r.parent).toContain("kube-upkeep:index:MaintenanceServiceAccount::maint");
      expect(r.provider).toContain("pulumi:providers:kubernetes::k8s::");
    });
    expect((registered.get("maint-cluster-role")!.inputs as { rules: unknown }).rules).toEqual([
      { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
      { apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["get"] },
      { apiGroups: ["apps"], resources: ["replicasets", "statefulsets"], verbs: ["get"] },
      { apiGroups: [""], resources: ["events"], verbs: ["create"] },
      { apiGroups: [""], resources: ["nodes"], verbs: ["list"] },
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: ["kubeadm-config"],
        verbs: ["get"],
      },
      { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get"] },
    ]);
  });

  test("the binding depends on the role and the ServiceAccount", () => {
    expect(registered.get("maint-cluster-role-binding")!.dependencies.sort()).toEqual(
      ["maint-cluster-role", "maint-service-account"].sort(),
    );
  });

  test("resolved names as plain fields", () => {
    expect(c.namespace).toBe("ops");
    expect(c.serviceAccountName).toBe("upgrader");
    expect(c.userName).toBe("system:serviceaccount:ops:upgrader");
    expect(c.rules.map((r) => r.resources.join())).toEqual([
      "nodes",
      "pods",
      "pods/eviction",
      "poddisruptionbudgets",
      "daemonsets",
      "replicasets,statefulsets",
      "events",
      "nodes",
      "configmaps",
      "deployments",
    ]);
  });

  test("allowPodDeletion grants pods delete", async () => {
    const d = new MaintenanceServiceAccount("deleter", { allowPodDeletion: true });
    await settle(d);
    const rules = (registered.get("deleter-cluster-role")!.inputs as { rules: unknown[] }).rules;
    expect(rules.at(-1)).toEqual({ apiGroups: [""], resources: ["pods"], verbs: ["delete"] });
    expect(registered.get("deleter-service-account")!.inputs).toMatchObject({
      metadata: { name: "kube-upkeep-maintenance", namespace: "kube-system" },
    });
  });

  test("a bad prop throws a ValidationError naming the component and the field; nothing is registered", async () => {
    const before = registered.size;
    const e = thrown(
      () => new MaintenanceServiceAccount("bad", { namespace: "Ops" }),
      "MaintenanceServiceAccount",
    );
    expect(e).toBeInstanceOf(ValidationError);
    expect(e.message).toMatch(
      /^MaintenanceServiceAccount bad: invalid namespace "Ops": not a DNS-1123 label .*\. Fix: /,
    );
    await new Promise((r) => setTimeout(r, 100)); // registrations are asynchronous
    expect(registered.size).toBe(before);
    expect([...registered.keys()].filter((k) => k.startsWith("bad"))).toEqual([]);
  });
});
