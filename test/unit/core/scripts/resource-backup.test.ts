import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { ValidationErrors } from "../../../../lib/core/errors";
import {
  RESOURCE_BACKUP_FILTER,
  RESOURCE_SNAPSHOT_NAME_PATTERN,
  renderResourceBackupScript,
  resolveResourceBackupOptions,
  resourceBackupRules,
  type ResourceBackupScriptOptions,
} from "../../../../lib/core/scripts/resource-backup";
import { busyboxBin, shellcheck } from "./stubs";
import { thrown } from "../../cdk8s/thrown";

jest.setTimeout(60_000);

const W = "renderResourceBackupScript";
const names = (o: ResourceBackupScriptOptions) =>
  resolveResourceBackupOptions(o).resources.map((r) => r.kubectlName);

describe("resource backup options", () => {
  test("default: the guide's deployments,services,configmaps (secrets only with includeSecrets)", () => {
    const o = resolveResourceBackupOptions();
    expect(o.resources.map((r) => r.kubectlName)).toEqual([
      "deployments.apps",
      "services",
      "configmaps",
    ]);
    expect(o).toMatchObject({
      backupDir: "/var/backups/kubernetes-resources",
      retention: { days: 7 },
      kubectl: "kubectl",
      includeSecrets: false,
    });
    expect(o.namespaces).toBeUndefined();
    expect(names({ includeSecrets: true })).toEqual([
      "deployments.apps",
      "services",
      "configmaps",
      "secrets",
    ]);
  });

  test("presets: all (kubectl's all category), rbac (cluster-scoped ones last), kinds added", () => {
    expect(names({ presets: ["all"] })).toEqual([
      "pods",
      "services",
      "replicationcontrollers",
      "daemonsets.apps",
      "deployments.apps",
      "replicasets.apps",
      "statefulsets.apps",
      "horizontalpodautoscalers.autoscaling",
      "cronjobs.batch",
      "jobs.batch",
    ]);
    const rbac = resolveResourceBackupOptions({ presets: ["rbac"] }).resources;
    expect(rbac.map((r) => [r.kubectlName, r.clusterScoped])).toEqual([
      ["roles.rbac.authorization.k8s.io", false],
      ["rolebindings.rbac.authorization.k8s.io", false],
      ["clusterroles.rbac.authorization.k8s.io", true],
      ["clusterrolebindings.rbac.authorization.k8s.io", true],
    ]);
    expect(
      names({
        presets: ["app", "all"],
        kinds: ["certificates.cert-manager.io", "persistentvolumeclaims"],
        clusterKinds: ["storageclasses"],
      }),
    ).toEqual([
      "deployments.apps",
      "services",
      "configmaps",
      "pods",
      "replicationcontrollers",
      "daemonsets.apps",
      "replicasets.apps",
      "statefulsets.apps",
      "horizontalpodautoscalers.autoscaling",
      "cronjobs.batch",
      "jobs.batch",
      "certificates.cert-manager.io",
      "persistentvolumeclaims",
      "storageclasses.storage.k8s.io",
    ]);
    // kinds alone: no default preset
    expect(names({ kinds: ["deployments.apps"] })).toEqual(["deployments.apps"]);
  });

  test("RBAC rules: get/list on exactly the exported resources, one rule per group", () => {
    const rules = resourceBackupRules(
      resolveResourceBackupOptions({ presets: ["app", "rbac"], includeSecrets: true }),
    );
    expect(rules).toEqual({
      namespaced: [
        {
          apiGroups: [""],
          resources: ["configmaps", "secrets", "services"],
          verbs: ["get", "list"],
        },
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list"] },
        {
          apiGroups: ["rbac.authorization.k8s.io"],
          resources: ["rolebindings", "roles"],
          verbs: ["get", "list"],
        },
      ],
      cluster: [
        {
          apiGroups: ["rbac.authorization.k8s.io"],
          resources: ["clusterrolebindings", "clusterroles"],
          verbs: ["get", "list"],
        },
      ],
    });
  });

  test.each([
    [{ kinds: ["secrets"] }, "kinds[0]", /Secrets are exported only with includeSecrets: true/],
    [{ kinds: ["Deployments"] }, "kinds[0]", /not a resource name/],
    [{ kinds: ["deploy"] }, "kinds[0]", /not a built-in resource.*deployments, not deployment/],
    [{ kinds: ["foo;rm"] }, "kinds[0]", /not a resource name/],
    [{ kinds: ["clusterroles"] }, "kinds[0]", /a cluster-scoped resource.*list it in clusterKinds/],
    [{ clusterKinds: ["deployments"] }, "clusterKinds[0]", /a namespaced resource.*kinds/],
    [{ kinds: ["services", "services"] }, "kinds[1]", /already exported/],
    [{ presets: ["everything" as never] }, "presets[0]", /not a preset/],
    [{ kinds: [] }, "kinds", /nothing to export/],
    [{ namespaces: [] }, "namespaces", /empty namespace list/],
    [{ namespaces: ["Prod"] }, "namespaces[0]", /not a namespace name/],
    [{ namespaces: ["a", "a"] }, "namespaces[1]", /listed twice/],
    [{ backupDir: "backups" }, "backupDir", /path is relative/],
    [{ backupDir: "/" }, "backupDir", /root directory/],
    [{ backupDir: "/var/b'x" }, "backupDir", /must not reach a shell/],
    [{ retention: {} }, "retention", /neither days nor count/],
    [{ retention: { days: 0 } }, "retention.days", /integer from 1/],
    [{ retention: { count: 1.5 } }, "retention.count", /integer from 1/],
    [{ kubectl: "kubectl;id" }, "kubectl", /not a command name/],
  ] as [ResourceBackupScriptOptions, string, RegExp][])("%j is rejected (%s)", (o, field, re) => {
    const m = thrown(() => renderResourceBackupScript(o)).message;
    expect(m.split("\n")).toHaveLength(1);
    expect(m.startsWith(`${W}: invalid ${field} `)).toBe(true);
    expect(m).toMatch(re);
    expect(m).toContain(". Fix: ");
  });

  test("every problem at once", () => {
    let e: unknown;
    try {
      resolveResourceBackupOptions({
        kinds: ["secrets", "deploy"],
        namespaces: ["Prod"],
        backupDir: "rel",
        retention: { days: 0 },
      });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ValidationErrors);
    expect((e as ValidationErrors).errors.map((x) => x.field)).toEqual([
      "kinds[0]",
      "kinds[1]",
      "namespaces[0]",
      "backupDir",
      "retention.days",
    ]);
  });
});

/** Runs the filter with busybox awk on `list` printed the way kubectl prints JSON (4 spaces). */
function filter(
  list: unknown,
  base = "things",
): { files: Record<string, unknown>; stdout: string } {
  // the kubectl image has no /bin/sh: awk's system() and pipes to commands would fail there
  expect(RESOURCE_BACKUP_FILTER).not.toMatch(/system\(|\| *"|getline/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-rb-filter-"));
  const r = spawnSync(
    "busybox",
    ["awk", "-v", `dir=${dir}`, "-v", `base=${base}`, RESOURCE_BACKUP_FILTER],
    { input: JSON.stringify(list, null, 4), encoding: "utf8" },
  );
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const files: Record<string, unknown> = {};
  // flat <ns>__<base>.json (the script moves them to <ns>/<base>.json: awk has no mkdir)
  for (const f of fs.readdirSync(dir))
    files[f.replace("__", "/")] = JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  fs.rmSync(dir, { recursive: true });
  return { files, stdout: r.stdout };
}

const list = (...items: unknown[]) => ({
  apiVersion: "v1",
  items,
  kind: "List",
  metadata: { resourceVersion: "" },
});
const out = (...items: unknown[]) => ({ apiVersion: "v1", items, kind: "List", metadata: {} });

describe("resource backup filter (busybox awk on kubectl's JSON)", () => {
  const tricky = 'a "quoted" }, {, [ ], \\ and\na newline: "status": {';
  const deployment = (ns: string, name: string) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      annotations: { "deployment.kubernetes.io/revision": "1", note: tricky },
      creationTimestamp: "2026-03-01T02:00:00Z",
      generation: 3,
      labels: { app: name },
      managedFields: [{ manager: "kubectl", fieldsV1: { "f:spec": {} } }],
      name,
      namespace: ns,
      resourceVersion: "4711",
      uid: "0b9c4c1e-1111-2222-3333-444455556666",
    },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { spec: {} } },
    status: { availableReplicas: 2, conditions: [{ type: "Available" }] },
  });
  const cleaned = (ns: string, name: string) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      annotations: { "deployment.kubernetes.io/revision": "1", note: tricky },
      labels: { app: name },
      name,
      namespace: ns,
    },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { spec: {} } },
  });

  test("server-set fields dropped, one file per namespace, everything else kept", () => {
    const r = filter(list(deployment("a", "web"), deployment("b", "api"), deployment("a", "db")));
    expect(r.files).toEqual({
      "a/things.json": out(cleaned("a", "web"), cleaned("a", "db")),
      "b/things.json": out(cleaned("b", "api")),
    });
    expect(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(" ").slice(-1)[0]),
    ).toEqual(["2", "1"]);
  });

  test("controller-owned objects skipped, other owner references dropped", () => {
    const owned = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "web-1",
        namespace: "a",
        ownerReferences: [
          { apiVersion: "apps/v1", controller: true, kind: "ReplicaSet", name: "web", uid: "1" },
        ],
      },
      spec: {},
    };
    const referenced = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: "bare",
        namespace: "a",
        ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "x", uid: "2" }],
      },
      spec: { containers: [] },
    };
    expect(filter(list(owned, referenced)).files).toEqual({
      "a/things.json": out({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "bare", namespace: "a" },
        spec: { containers: [] },
      }),
    });
    expect(filter(list(owned)).files).toEqual({});
  });

  test("Services lose their allocated clusterIP(s); headless ones keep None", () => {
    const svc = (name: string, ip: string) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "a" },
      spec: { clusterIP: ip, clusterIPs: [ip], ports: [{ port: 80 }], type: "ClusterIP" },
      status: { loadBalancer: {} },
    });
    expect(filter(list(svc("web", "10.96.0.10"), svc("db", "None"))).files).toEqual({
      "a/things.json": out(
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "web", namespace: "a" },
          spec: { ports: [{ port: 80 }], type: "ClusterIP" },
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "db", namespace: "a" },
          spec: {
            clusterIP: "None",
            clusterIPs: ["None"],
            ports: [{ port: 80 }],
            type: "ClusterIP",
          },
        },
      ),
    });
  });

  test("cluster-scoped objects go to _cluster; an empty list writes nothing", () => {
    const role = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "reader", uid: "x" },
      rules: [],
    };
    expect(filter(list(role)).files).toEqual({
      "_cluster/things.json": out({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name: "reader" },
        rules: [],
      }),
    });
    expect(filter(list()).files).toEqual({});
  });
});

const KUBECTL_STUB = `#!/bin/sh
# fake kubectl: get <resource> (--all-namespaces | --namespace=<ns>) -o json
printf '%s\\n' "$*" >> "$STUB_DIR/calls"
res=$2
case "$3" in --namespace=*) ns=\${3#--namespace=} ;; *) ns=all ;; esac
if [ "$res" = "\${STUB_FAIL:-}" ]; then echo "error: the server doesn't have a resource type \\"$res\\"" >&2; exit 1; fi
f="$STUB_DIR/$res-$ns.json"
if [ -f "$f" ]; then cat "$f"; else printf '{\\n    "apiVersion": "v1",\\n    "items": [],\\n    "kind": "List",\\n    "metadata": {\\n        "resourceVersion": ""\\n    }\\n}\\n'; fi
`;

describe("resource backup script (busybox sh, fake kubectl)", () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ku-rb-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "kubectl"), KUBECTL_STUB, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "calls"), "");
    env = { PATH: `${bin}:${busyboxBin(dir)}`, STUB_DIR: dir, LC_ALL: "C" };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const backups = () => path.join(dir, "backups");
  const run = (o: ResourceBackupScriptOptions, extra: NodeJS.ProcessEnv = {}) =>
    spawnSync("sh", ["-c", renderResourceBackupScript({ backupDir: backups(), ...o })], {
      env: { ...env, ...extra },
      encoding: "utf8",
    });
  const item = (ns: string, name: string) => ({
    apiVersion: "v1",
    data: { k: "v" },
    kind: "ConfigMap",
    metadata: { name, namespace: ns, resourceVersion: "1", uid: "u" },
  });
  const stub = (file: string, l: unknown) =>
    fs.writeFileSync(path.join(dir, file), JSON.stringify(l, null, 4));

  test("shellcheck passes", () => {
    shellcheck(
      renderResourceBackupScript({ presets: ["all", "app", "rbac"], includeSecrets: true }),
    );
    shellcheck(renderResourceBackupScript({ namespaces: ["a", "b"], retention: { count: 3 } }));
  });

  test("one file per resource and namespace, 0600 in 0700 directories, stdout the snapshot", () => {
    stub("configmaps-all.json", list(item("a", "one"), item("b", "two")));
    const r = run({ kinds: ["configmaps", "services"], clusterKinds: ["clusterroles"] });
    expect(r.stderr).toContain("wrote a/configmaps.json (1 objects)");
    expect(r.status).toBe(0);
    const snap = r.stdout.trim();
    expect(path.dirname(snap)).toBe(backups());
    expect(path.basename(snap)).toMatch(RESOURCE_SNAPSHOT_NAME_PATTERN);
    expect(fs.readdirSync(backups())).toEqual([path.basename(snap)]); // no temp dir left
    expect(fs.readdirSync(snap).sort()).toEqual(["a", "b"]);
    const f = path.join(snap, "a", "configmaps.json");
    expect(JSON.parse(fs.readFileSync(f, "utf8")).items).toEqual([
      {
        apiVersion: "v1",
        data: { k: "v" },
        kind: "ConfigMap",
        metadata: { name: "one", namespace: "a" },
      },
    ]);
    expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    expect(fs.statSync(snap).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(snap, "a")).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n")).toEqual([
      "get configmaps --all-namespaces -o json",
      "get services --all-namespaces -o json",
      "get clusterroles.rbac.authorization.k8s.io --all-namespaces -o json",
    ]);
  });

  test("a namespace list: one call per namespace and namespaced resource", () => {
    stub("configmaps-b.json", list(item("b", "two")));
    const r = run({ kinds: ["configmaps"], namespaces: ["a", "b"] });
    expect(r.status).toBe(0);
    expect(fs.readdirSync(r.stdout.trim())).toEqual(["b"]);
    expect(fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n")).toEqual([
      "get configmaps --namespace=a -o json",
      "get configmaps --namespace=b -o json",
    ]);
  });

  test("a failing kubectl fails the run and leaves no snapshot", () => {
    stub("configmaps-all.json", list(item("a", "one")));
    const r = run({ kinds: ["configmaps", "services"] }, { STUB_FAIL: "services" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("doesn't have a resource type");
    expect(fs.readdirSync(backups()).filter((f) => RESOURCE_SNAPSHOT_NAME_PATTERN.test(f))).toEqual(
      [],
    );
  });

  test("retention by count and age deletes only snapshot directories", () => {
    fs.mkdirSync(backups(), { recursive: true });
    const old = (name: string, days: number) => {
      fs.mkdirSync(path.join(backups(), name));
      const t = Date.now() / 1000 - days * 86400;
      fs.utimesSync(path.join(backups(), name), t, t);
    };
    old("resource-backup-20260101T000000Z", 1);
    old("resource-backup-20260102T000000Z", 2);
    old("resource-backup-20250101T000000Z", 30);
    old("keep-me", 30);
    const r = run({ kinds: ["configmaps"], retention: { days: 7, count: 2 } });
    expect(r.status).toBe(0);
    expect(fs.readdirSync(backups()).sort()).toEqual(
      ["keep-me", "resource-backup-20260101T000000Z", path.basename(r.stdout.trim())].sort(),
    );
  });
});
