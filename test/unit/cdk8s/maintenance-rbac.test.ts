/**
 * MaintenanceRbac: the synthesized ServiceAccount, ClusterRole and ClusterRoleBinding (exact
 * fields), validation in the project's style, and a check that the rules in lib/core/rbac.ts
 * are exactly the API calls the drain engine and the ready wait make (a new call without its
 * rule, or a rule no code needs, fails here).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { App, Chart, Testing } from "cdk8s";
import { MaintenanceRbac } from "../../../lib/cdk8s/maintenance-rbac";
import { ValidationError } from "../../../lib/core/errors";
import {
  MAINTENANCE_RULES,
  POD_DELETION_RULE,
  maintenanceRbacManifests,
  resolveMaintenanceRbac,
} from "../../../lib/core/rbac";
import { thrown } from "./thrown";

const LABELS = {
  "app.kubernetes.io/name": "kube-upkeep-maintenance",
  "app.kubernetes.io/managed-by": "kube-upkeep",
};

/** The rules as a ClusterRole carries them, written out: what the drain needs and nothing more. */
const EXPECTED_RULES = [
  { apiGroups: [""], resources: ["nodes"], verbs: ["get", "patch"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
  { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
  { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
  { apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["get"] },
  { apiGroups: ["apps"], resources: ["replicasets", "statefulsets"], verbs: ["get"] },
  { apiGroups: [""], resources: ["events"], verbs: ["create"] },
  { apiGroups: [""], resources: ["nodes"], verbs: ["list"] },
  { apiGroups: [""], resources: ["configmaps"], resourceNames: ["kubeadm-config"], verbs: ["get"] },
  { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get"] },
];

describe("MaintenanceRbac: synthesized objects", () => {
  test("defaults: kube-system/kube-upkeep-maintenance, exactly the drain's rules", () => {
    const chart = Testing.chart();
    const rbac = new MaintenanceRbac(chart, "rbac");
    expect(Testing.synth(chart)).toEqual([
      {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "kube-upkeep-maintenance", namespace: "kube-system", labels: LABELS },
        automountServiceAccountToken: false,
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "kube-upkeep-maintenance", labels: LABELS },
        rules: EXPECTED_RULES,
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: "kube-upkeep-maintenance", labels: LABELS },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "ClusterRole",
          name: "kube-upkeep-maintenance",
        },
        subjects: [
          { kind: "ServiceAccount", name: "kube-upkeep-maintenance", namespace: "kube-system" },
        ],
      },
    ]);
    expect(rbac.namespace).toBe("kube-system");
    expect(rbac.name).toBe("kube-upkeep-maintenance");
    expect(rbac.allowPodDeletion).toBe(false);
    expect(rbac.rules).toBe(MAINTENANCE_RULES);
    expect(rbac.userName).toBe("system:serviceaccount:kube-system:kube-upkeep-maintenance");
  });

  test("the synthesized objects are the core manifests, field for field", () => {
    for (const opts of [{}, { namespace: "ops", name: "upgrader", allowPodDeletion: true }]) {
      const chart = Testing.chart();
      new MaintenanceRbac(chart, "rbac", opts);
      const m = maintenanceRbacManifests(resolveMaintenanceRbac("test", opts));
      expect(Testing.synth(chart)).toEqual([m.serviceAccount, m.clusterRole, m.clusterRoleBinding]);
    }
  });

  test("allowPodDeletion adds pods delete (disableEviction drains), nothing else", () => {
    const chart = Testing.chart();
    const rbac = new MaintenanceRbac(chart, "rbac", { allowPodDeletion: true });
    const role = Testing.synth(chart).find((o) => o.kind === "ClusterRole");
    expect(role.rules).toEqual([
      ...EXPECTED_RULES,
      { apiGroups: [""], resources: ["pods"], verbs: ["delete"] },
    ]);
    expect(rbac.rules).toEqual([...MAINTENANCE_RULES, POD_DELETION_RULE]);
  });

  test("in a chart with a namespace: the ServiceAccount keeps its own, the cluster-scoped objects get none", () => {
    const app = new App();
    const chart = new Chart(app, "maint", { namespace: "shop" });
    new MaintenanceRbac(chart, "rbac", { namespace: "ops", name: "drainer" });
    const objs = chart.toJson() as { kind: string; metadata: Record<string, unknown> }[];
    expect(objs.map((o) => [o.kind, o.metadata.name, o.metadata.namespace])).toEqual([
      ["ServiceAccount", "drainer", "ops"],
      ["ClusterRole", "drainer", undefined],
      ["ClusterRoleBinding", "drainer", undefined],
    ]);
    const binding = objs[2] as unknown as { subjects: unknown[] };
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: "drainer", namespace: "ops" },
    ]);
  });

  test("no wildcard; the only writes are nodes patch, pods/eviction create, events create and the opt-in pods delete", () => {
    const all = [...MAINTENANCE_RULES, POD_DELETION_RULE];
    for (const r of all) {
      expect([...r.apiGroups, ...r.resources, ...r.verbs]).not.toContain("*");
      expect(r.usedBy.length).toBeGreaterThan(0);
    }
    const writes = all.flatMap((r) =>
      r.verbs
        .filter((v) => !["get", "list", "watch"].includes(v))
        .flatMap((v) => r.resources.map((res) => `${res} ${v}`)),
    );
    expect(writes).toEqual(["nodes patch", "pods/eviction create", "events create", "pods delete"]);
    // the one read of a kind of object that may hold anything is limited to kubeadm's
    expect(all.filter((r) => r.resources.includes("configmaps"))).toEqual([
      expect.objectContaining({ resourceNames: ["kubeadm-config"], verbs: ["get"] }),
    ]);
  });
});

describe("MaintenanceRbac: validation", () => {
  test.each([
    ["namespace", { namespace: "Kube_System" }, "Kube_System", "not a DNS-1123 label"],
    ["namespace", { namespace: "a".repeat(64) }, "a".repeat(64), "not a DNS-1123 label"],
    ["name", { name: "drain er" }, "drain er", "not a DNS-1123 name"],
    ["name", { name: "-drainer" }, "-drainer", "not a DNS-1123 name"],
    ["allowPodDeletion", { allowPodDeletion: "yes" }, "yes", "must be true or false"],
  ])(
    "bad %s %j: names the construct path, the field, the value and the fix",
    (field, props, v, problem) => {
      const chart = Testing.chart();
      const e = thrown(() => new MaintenanceRbac(chart, "rbac", props as never), "MaintenanceRbac");
      expect(e).toBeInstanceOf(ValidationError);
      const ve = e as ValidationError;
      expect(ve.path).toBe("test/rbac");
      expect(ve.field).toBe(field);
      expect(ve.value).toBe(v);
      expect(ve.message).toContain(`test/rbac: invalid ${field} ${JSON.stringify(v)}: ${problem}`);
      expect(ve.message).toMatch(/\. Fix: \S/);
    },
  );

  test("a rejected construct leaves nothing in the tree: the id can be used again", () => {
    const chart = Testing.chart();
    thrown(() => new MaintenanceRbac(chart, "rbac", { name: "Bad" }), "MaintenanceRbac");
    expect(chart.node.tryFindChild("rbac")).toBeUndefined();
    new MaintenanceRbac(chart, "rbac", { name: "good" });
    expect(Testing.synth(chart)).toHaveLength(3);
  });
});

/**
 * The API calls of the code whose identity the role is for, mapped to the RBAC (resource, verb)
 * they need. A call the table does not know fails the test: add its rule to lib/core/rbac.ts
 * (and here), or tell why it needs none.
 */
const CALLS: Record<string, [string, string, string]> = {
  readNode: ["", "nodes", "get"],
  patchNode: ["", "nodes", "patch"],
  listPodForAllNamespaces: ["", "pods", "list"],
  listNamespacedPod: ["", "pods", "list"],
  "watch /api/v1/pods": ["", "pods", "watch"],
  createNamespacedPodEviction: ["", "pods/eviction", "create"],
  deleteNamespacedPod: ["", "pods", "delete"],
  listNamespacedPodDisruptionBudget: ["policy", "poddisruptionbudgets", "list"],
  readNamespacedDaemonSet: ["apps", "daemonsets", "get"],
  readNamespacedReplicaSet: ["apps", "replicasets", "get"],
  createNamespacedEvent: ["", "events", "create"],
  listNode: ["", "nodes", "list"],
  readNamespacedConfigMap: ["", "configmaps", "get"],
  readNamespacedDeployment: ["apps", "deployments", "get"],
  readNamespacedStatefulSet: ["apps", "statefulsets", "get"],
};

/** Calls the code makes but the role deliberately does not grant, with the fallback that covers them. */
const NOT_GRANTED: Record<string, string> = {
  "watch /api/v1/nodes": "waitNodeReady reads the node every pollSeconds when the watch is refused",
};

describe("the rules are the API calls of the drain engine, NodeReadyWait, the progress writes, the live plan and the health gates", () => {
  const root = join(__dirname, "..", "..", "..", "lib");
  const files = [
    ...["drain", "progress", "live", "health"].flatMap((d) =>
      readdirSync(join(root, "core", d)).map((f) => join(root, "core", d, f)),
    ),
    join(root, "pulumi", "node-ready-wait.ts"),
    join(root, "pulumi", "node-health-gate.ts"),
  ].filter((f) => f.endsWith(".ts"));
  const calls = new Map<string, string[]>();
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    const found = [
      ...[...text.matchAll(/\.((?:read|list|create|delete|patch|replace)[A-Z][A-Za-z]*)\(/g)].map(
        (m) => m[1],
      ),
      ...[...text.matchAll(/\.watch\(\s*"([^"]+)"/g)].map((m) => `watch ${m[1]}`),
    ];
    for (const c of found) calls.set(c, [...(calls.get(c) ?? []), f.slice(root.length + 1)]);
  }
  for (const c of Object.keys(NOT_GRANTED)) calls.delete(c);

  test("every call has its rule", () => {
    expect(calls.size).toBeGreaterThan(0);
    const unknown = [...calls.keys()].filter((c) => !(c in CALLS));
    expect(unknown).toEqual([]);
    const granted = [...MAINTENANCE_RULES, POD_DELETION_RULE].flatMap((r) =>
      r.apiGroups.flatMap((g) =>
        r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}/${v}`)),
      ),
    );
    for (const c of calls.keys()) {
      const [g, res, v] = CALLS[c];
      expect([c, granted.includes(`${g}/${res}/${v}`)]).toEqual([c, true]);
    }
  });

  test("every rule is needed by a call", () => {
    const needed = new Set([...calls.keys()].map((c) => CALLS[c].join("/")));
    for (const r of [...MAINTENANCE_RULES, POD_DELETION_RULE])
      for (const g of r.apiGroups)
        for (const res of r.resources)
          for (const v of r.verbs)
            expect([`${g}/${res}/${v}`, needed.has(`${g}/${res}/${v}`)]).toEqual([
              `${g}/${res}/${v}`,
              true,
            ]);
  });
});
