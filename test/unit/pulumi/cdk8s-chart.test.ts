/**
 * Cdk8sManifests under pulumi mocks: the objects registered as typed @pulumi/kubernetes
 * resources equal what `cdk8s synth` produces for the same chart (kinds, names, namespaces,
 * defaults); bad props fail with the very errors cdk8s gives; the provider from a kubeconfig is
 * a secret and used by every object; namespaces and CRDs come first.
 */
import * as pulumi from "@pulumi/pulumi";
import { ApiObject, App, Chart } from "cdk8s";
import { parseAllDocuments } from "yaml";
import { CertificateRenewal } from "../../../lib/cdk8s/certificate-renewal";
import { DrainSafety } from "../../../lib/cdk8s/drain-safety";
import { EtcdBackup } from "../../../lib/cdk8s/etcd-backup";
import { PodDisruptionBudget } from "../../../lib/cdk8s/pod-disruption-budget";
import { ValidationError } from "../../../lib/core/errors";
import {
  Cdk8sManifests,
  manifestKey,
  synthesizeCdk8s,
  type Cdk8sManifestsArgs,
} from "../../../lib/pulumi/cdk8s-chart";
import { ClusterUpgrade } from "../../../lib/pulumi/cluster-upgrade";
import { thrown } from "../cdk8s/thrown";
import { mockAndRecord, SECRET_SIG, SIG_KEY, value, type Registered } from "./mocks";

const registered = new Map<string, Registered>();
beforeAll(() => mockAndRecord(registered));

async function settle(c: Cdk8sManifests): Promise<void> {
  await value(c.urn);
  await Promise.all(Object.values(c.resources).map((r) => value(r.id)));
  if (c.provider) await value(c.provider.id);
}

const NODES = ["cp-1", "cp-2", "cp-3"];

/** The same chart built with cdk8s directly: what `cdk8s synth` writes. */
function cdk8sSynth(build: (chart: Chart) => void, id = "maint", namespace?: string): unknown[] {
  const app = new App();
  const chart = new Chart(app, id, namespace ? { namespace } : {});
  build(chart);
  return parseYaml(app.synthYaml());
}

function parseYaml(text: string): unknown[] {
  return parseAllDocuments(text).map((d) => d.toJS() as unknown);
}

const synthError = (build: () => void): string => thrown(build, "cdk8s").message;
const constructError = (f: () => unknown): Error => thrown(f, "Cdk8sManifests");

const PDBS: Cdk8sManifestsArgs["podDisruptionBudgets"] = {
  "web-pdb": { selector: { matchLabels: { app: "web" } }, maxUnavailable: 1 },
  "db-pdb": {
    metadata: { name: "db", namespace: "data" },
    selector: { matchLabels: { app: "db" } },
    minAvailable: "50%",
  },
};

describe("Cdk8sManifests: PDBs + EtcdBackup + CertificateRenewal", () => {
  let c: Cdk8sManifests;
  beforeAll(async () => {
    c = new Cdk8sManifests("maint", {
      namespace: "shop",
      podDisruptionBudgets: PDBS,
      etcdBackup: { nodes: NODES },
      certificateRenewal: { nodes: NODES },
      kubeconfig: "apiVersion: v1\nkind: Config\n",
    });
    await settle(c);
  });

  test("the manifests equal cdk8s synth of the same chart", () => {
    const expected = cdk8sSynth(
      (chart) => {
        for (const [id, p] of Object.entries(PDBS!)) new PodDisruptionBudget(chart, id, p);
        new EtcdBackup(chart, "etcd-backup", { nodes: NODES });
        new CertificateRenewal(chart, "certificate-renewal", { nodes: NODES });
        new DrainSafety(chart, "drain-safety");
      },
      "maint",
      "shop",
    );
    expect(c.manifests).toEqual(expected);
    expect(c.manifests).toHaveLength(2 + 3 + 3);
  });

  test("every object is a typed resource with its kind, name and namespace, parented to the component", () => {
    const kinds = Object.keys(c.resources).sort();
    expect(kinds).toEqual(
      [
        "PodDisruptionBudget/shop/" + c.manifests[0].metadata!.name,
        "PodDisruptionBudget/data/db",
        ...NODES.map((n) => `CronJob/kube-system/etcd-backup-${n}`),
        ...NODES.map((n) => `CronJob/kube-system/certificate-renewal-${n}`),
      ].sort(),
    );
    const pdb = registered.get("maint:data/db")!;
    expect(pdb.type).toBe("kubernetes:policy/v1:PodDisruptionBudget");
    expect(pdb.parent).toContain("kube-upkeep:index:Cdk8sManifests::maint");
    expect(pdb.inputs).toMatchObject({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: { name: "db", namespace: "data" },
      spec: {
        minAvailable: "50%",
        selector: { matchLabels: { app: "db" } },
        unhealthyPodEvictionPolicy: "AlwaysAllow", // the construct's default
      },
    });
    const web = c.manifests.find((o) => o.metadata?.namespace === "shop")!;
    expect(web.metadata!.name).toMatch(/^maint-web-pdb-c8[0-9a-f]+$/);
    expect(registered.get(`maint:shop/${web.metadata!.name}`)!.inputs).toMatchObject({
      spec: { maxUnavailable: 1 },
    });
    for (const n of NODES) {
      const backup = registered.get(`maint:kube-system/etcd-backup-${n}`)!;
      expect(backup.type).toBe("kubernetes:batch/v1:CronJob");
      expect(backup.inputs).toMatchObject({
        metadata: { name: `etcd-backup-${n}`, namespace: "kube-system" },
        spec: { schedule: "0 2 * * *", concurrencyPolicy: "Forbid" },
      });
      expect(registered.get(`maint:kube-system/certificate-renewal-${n}`)!.type).toBe(
        "kubernetes:batch/v1:CronJob",
      );
    }
  });

  test("a kubernetes Provider from the kubeconfig (secret) is used by every object", () => {
    const p = registered.get("maint-provider")!;
    expect(p.type).toBe("pulumi:providers:kubernetes");
    expect(p.parent).toContain("Cdk8sManifests::maint");
    for (const o of c.manifests) {
      const r = registered.get(`maint:${o.metadata!.namespace}/${o.metadata!.name}`)!;
      expect(r.provider).toContain("pulumi:providers:kubernetes::maint-provider::");
    }
  });

  test("the kubeconfig reaches the provider as a secret", () => {
    expect(registered.get("maint-provider")!.raw.kubeconfig).toEqual({
      [SIG_KEY]: SECRET_SIG,
      value: "apiVersion: v1\nkind: Config\n",
    });
  });
});

describe("validation errors are the ones cdk8s synth gives", () => {
  test("invalid PDB props: the construct's ValidationErrors, same message", () => {
    const bad = {
      selector: { matchLabels: { app: "web" } },
      minAvailable: 1,
      maxUnavailable: 1,
    } as const;
    const cdk8s = synthError(() =>
      cdk8sSynth((chart) => new PodDisruptionBudget(chart, "web-pdb", bad), "bad-pdb"),
    );
    const e = constructError(
      () => new Cdk8sManifests("bad-pdb", { podDisruptionBudgets: { "web-pdb": bad } }),
    );
    expect(e.message).toBe(cdk8s);
    expect(e.message).toContain("bad-pdb/web-pdb: invalid");
  });

  test("DrainSafety errors (a PDB that blocks every drain): cdk8s's Validation failed error", () => {
    const blocker = {
      metadata: { name: "pg" },
      selector: { matchLabels: { app: "pg" } },
      maxUnavailable: 0,
    };
    const cdk8s = synthError(() =>
      cdk8sSynth((chart) => {
        new PodDisruptionBudget(chart, "pg-pdb", blocker);
        new DrainSafety(chart, "drain-safety");
      }, "blocking"),
    );
    expect(cdk8s).toContain("Validation failed with the following errors");
    expect(cdk8s).toContain("pdb-blocks-drain");
    const e = constructError(
      () => new Cdk8sManifests("blocking", { podDisruptionBudgets: { "pg-pdb": blocker } }),
    );
    expect(e.message).toBe(cdk8s);
    // downgraded as in cdk8s: deploys
    const ok = synthesizeCdk8s(
      {
        podDisruptionBudgets: { "pg-pdb": blocker },
        drainSafety: { downgrade: [{ code: "pdb-blocks-drain", pdb: "pg" }], onWarnings: () => {} },
      },
      "blocking",
    );
    expect(ok.map((o) => o.metadata?.name)).toEqual(["pg"]);
  });

  test("drainSafety: false leaves the check out, as a chart without DrainSafety", () => {
    const objs = synthesizeCdk8s(
      {
        podDisruptionBudgets: {
          "pg-pdb": { selector: { matchLabels: { app: "pg" } }, maxUnavailable: 0 },
        },
        drainSafety: false,
      },
      "c",
    );
    expect(objs).toHaveLength(1);
  });

  test("EtcdBackup and CertificateRenewal: the same ValidationError", () => {
    const cdk8s = synthError(() =>
      cdk8sSynth((chart) => new EtcdBackup(chart, "etcd-backup", { schedule: "every day" }), "eb"),
    );
    const e = constructError(
      () => new Cdk8sManifests("eb", { etcdBackup: { schedule: "every day" } }),
    );
    expect(e.message).toBe(cdk8s);
    expect(e).toBeInstanceOf(ValidationError);

    const cdk8s2 = synthError(() =>
      cdk8sSynth(
        (chart) => new CertificateRenewal(chart, "certificate-renewal", { nodes: [] }),
        "cr",
      ),
    );
    const e2 = constructError(
      () => new Cdk8sManifests("cr", { certificateRenewal: { nodes: [] } }),
    );
    expect(e2.message).toBe(cdk8s2);
  });

  test("nothing is registered when synthesis fails", () => {
    constructError(
      () =>
        new Cdk8sManifests("nothing-registered", {
          etcdBackup: {},
          certificateRenewal: { nodes: [] },
        }),
    );
    expect([...registered.keys()].filter((n) => n.startsWith("nothing-registered:"))).toEqual([]);
  });

  test("app together with construct props, and kubeconfig together with provider, are errors", () => {
    const app = new App();
    new Chart(app, "x");
    expect(
      constructError(() => new Cdk8sManifests("both", { app, etcdBackup: {} })).message,
    ).toContain("Cdk8sManifests both: invalid etcdBackup");
    expect(
      constructError(
        () =>
          new Cdk8sManifests("both2", {
            kubeconfig: "k",
            provider: {} as never,
          }),
      ).message,
    ).toContain("Cdk8sManifests both2: invalid provider");
  });
});

describe("charts built by the user", () => {
  test("a pre-built App: every chart, in cdk8s's order, validation over the app", async () => {
    const app = new App();
    const a = new Chart(app, "a", { namespace: "ns-a" });
    const b = new Chart(app, "b");
    const ns = new ApiObject(b, "ns", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "ns-a" },
    });
    a.addDependency(b);
    const pdb = new PodDisruptionBudget(a, "p", {
      selector: { matchLabels: { app: "x" } },
      maxUnavailable: "25%",
    });
    new ApiObject(a, "monitor", {
      apiVersion: "monitoring.coreos.com/v1",
      kind: "ServiceMonitor",
      metadata: { name: "web" },
      spec: { endpoints: [{ port: "http" }] },
    });
    void ns;
    const expected = parseYaml(app.synthYaml());
    const c = new Cdk8sManifests("user-app", { app });
    await settle(c);
    expect(c.manifests).toEqual(expected);
    expect(c.manifests[0].kind).toBe("Namespace");
    expect(registered.get("user-app:ns-a")!.type).toBe("kubernetes:core/v1:Namespace");
    expect(registered.get(`user-app:ns-a/${pdb.name}`)!.type).toBe(
      "kubernetes:policy/v1:PodDisruptionBudget",
    );
    // objects of other API groups: CustomResource with their apiVersion and kind
    const sm = registered.get("user-app:ns-a/web")!;
    expect(sm.type).toBe("kubernetes:monitoring.coreos.com/v1:ServiceMonitor");
    expect(sm.inputs).toMatchObject({ spec: { endpoints: [{ port: "http" }] } });
    // the namespace is created before everything else
    expect(sm.dependencies).toContain("user-app:ns-a");
    expect(registered.get(`user-app:ns-a/${pdb.name}`)!.dependencies).toContain("user-app:ns-a");
    expect(c.resources[manifestKey(c.manifests[0])]).toBeDefined();
  });

  test("build adds constructs to the component's chart; DrainSafety checks them", () => {
    const e = constructError(
      () =>
        new Cdk8sManifests("built", {
          build: (chart) => {
            new ApiObject(chart, "web", {
              apiVersion: "apps/v1",
              kind: "Deployment",
              metadata: { name: "web" },
              spec: {
                replicas: 1,
                selector: { matchLabels: { app: "web" } },
                template: { metadata: { labels: { app: "web" } }, spec: { containers: [] } },
              },
            });
            new PodDisruptionBudget(chart, "web-pdb", {
              selector: { matchLabels: { app: "web" } },
              minAvailable: 1,
            });
          },
        }),
    );
    expect(e.message).toContain("[built/drain-safety] DrainSafety error [pdb-blocks-drain]");
  });

  test("DrainSafety warnings go to pulumi.log.warn", async () => {
    const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(() => Promise.resolve());
    try {
      const c = new Cdk8sManifests("warned", {
        podDisruptionBudgets: {
          p: { metadata: { name: "p" }, selector: {}, maxUnavailable: 1 },
        },
      });
      await settle(c);
      expect(warn.mock.calls.map((args) => String(args[0])).join("\n")).toContain(
        "kube-upkeep DrainSafety warning [pdb-empty-selector]",
      );
    } finally {
      warn.mockRestore();
    }
  });
});

describe("ClusterUpgrade ensureEtcdBackupCronJob", () => {
  const nodes = (["cp-1", "w-1"] as const).map((name, i) => ({
    name,
    role: (i === 0 ? "control-plane" : "worker") as "control-plane" | "worker",
    connection: { host: "127.0.0.1", port: 2200 + i, user: "root", privateKey: "k" },
  }));

  test("creates the CronJob through Cdk8sManifests, parented to the ClusterUpgrade, outside the upgrade chain", async () => {
    const cu = new ClusterUpgrade("cu", {
      nodes,
      currentVersion: "v1.34.2",
      targetVersion: "v1.35.4",
      kubeconfig: "apiVersion: v1\nkind: Config\n",
      etcdSnapshot: { backupDir: "/srv/etcd-backups" },
      ensureEtcdBackupCronJob: { schedule: "30 1 * * *" },
    });
    expect(cu.etcdBackupCronJob).toBeInstanceOf(Cdk8sManifests);
    await settle(cu.etcdBackupCronJob!);
    await Promise.all(Object.values(cu.nodeUpgrades).map((u) => value(u.uncordon.urn)));
    const comp = registered.get("cu-etcd-backup")!;
    expect(comp.type).toBe("kube-upkeep:index:Cdk8sManifests");
    expect(comp.parent).toContain("kube-upkeep:index:ClusterUpgrade::cu");
    const cron = registered.get("cu-etcd-backup:kube-system/etcd-backup")!;
    expect(cron.type).toBe("kubernetes:batch/v1:CronJob");
    expect(cron.provider).toContain("pulumi:providers:kubernetes::cu-etcd-backup-provider::");
    expect(cron.inputs).toMatchObject({ spec: { schedule: "30 1 * * *" } });
    // the script options come from etcdSnapshot: the same backup directory
    expect(JSON.stringify(cron.inputs)).toContain("/srv/etcd-backups");
    expect(registered.get("cu-etcd-backup-provider")!.raw.kubeconfig).toMatchObject({
      [SIG_KEY]: SECRET_SIG,
    });
    // outside the chain: it waits for nothing, nothing waits for it
    expect(cron.dependencies).toEqual([]);
    for (const r of registered.values())
      if (r.name.startsWith("cu-") && !r.name.startsWith("cu-etcd-backup"))
        expect(r.dependencies.filter((d) => d.startsWith("cu-etcd-backup"))).toEqual([]);
  });

  test("its validation errors are reported with the plan's, before anything is created", () => {
    const e = constructError(
      () =>
        new ClusterUpgrade("cu-bad", {
          nodes,
          currentVersion: "v1.34.2",
          targetVersion: "v1.35.4",
          kubeconfig: "",
          ensureEtcdBackupCronJob: { schedule: "nightly" },
        }),
    );
    expect(e.message).toContain("cu-bad-etcd-backup/etcd-backup: invalid schedule");
    expect(e.message).toContain("ClusterUpgrade cu-bad: invalid kubeconfig");
    expect([...registered.keys()].filter((n) => n.startsWith("cu-bad"))).toEqual([]);
  });

  test("without the option: no CronJob", () => {
    const cu = new ClusterUpgrade("cu-none", {
      nodes,
      currentVersion: "v1.34.2",
      targetVersion: "v1.35.4",
      kubeconfig: "k",
    });
    expect(cu.etcdBackupCronJob).toBeUndefined();
  });
});
