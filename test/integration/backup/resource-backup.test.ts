/**
 * The field guide's resource-level backup, restored: the ResourceBackup CronJob's export
 * container command, taken from the synthesized YAML, runs as a host process (kwok runs no
 * containers) with the real kubectl and busybox sh/awk, authenticated only by a token of the
 * construct's own ServiceAccount (so its RBAC is what is tested). Then the namespace's objects are
 * deleted, the export is applied with the real `kubectl apply --server-side -f`, and the objects
 * are back with their content.
 */
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResourceBackup } from "kube-upkeep/cdk8s";
import { binaries } from "../../cluster/cluster";
import { uniqueName } from "../../cluster/fixtures";
import { cronJobsIn, podSteps, synthYaml } from "../support/cronjob";
import { busyboxBin, run, runOk } from "../support/tools";

jest.setTimeout(300_000);

const kubectl = binaries().kubectl;
const ns = uniqueName("ku-rbak");
const other = uniqueName("ku-rbak-other");
const name = uniqueName("rbak");
let dir: string;

const k = (...args: string[]) => runOk([kubectl, ...args]);
const getJson = (...args: string[]) => JSON.parse(k("get", ...args, "-o", "json"));

const WORKLOADS = (namespace: string) => `
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: ${namespace}, labels: { app: web } }
data: { mode: production, "multi.conf": "a = 1\\nb = \\"two\\"\\n" }
---
apiVersion: v1
kind: Secret
metadata: { name: db-password, namespace: ${namespace} }
type: Opaque
stringData: { password: "s3cr3t }{\\"" }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: ${namespace}, annotations: { team: shop } }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: "registry.k8s.io/pause:3.10" }] }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: ${namespace} }
spec: { selector: { app: web }, ports: [{ port: 80, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: web-headless, namespace: ${namespace} }
spec: { clusterIP: None, selector: { app: web }, ports: [{ port: 80 }] }
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ku-rbak-"));
  for (const n of [ns, other]) k("create", "namespace", n);
  for (const n of [ns, other])
    runOk([kubectl, "apply", "--server-side", "-f", "-"], { input: WORKLOADS(n) });
});
afterAll(() => {
  for (const n of [ns, other]) run([kubectl, "delete", "namespace", n, "--wait=false"]);
  for (const kind of ["clusterrole", "clusterrolebinding"])
    run([kubectl, "delete", kind, name, "--ignore-not-found"]);
  run([kubectl, "-n", "kube-system", "delete", "serviceaccount", name, "--ignore-not-found"]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A kubeconfig whose only credential is a fresh token of the construct's ServiceAccount. */
function serviceAccountKubeconfig(): string {
  const token = k("-n", "kube-system", "create", "token", name, "--duration=1h").trim();
  const view = JSON.parse(k("config", "view", "--raw", "--minify", "-o", "json"));
  const cluster = view.clusters[0].cluster;
  const path = join(dir, "sa.kubeconfig");
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster }],
      users: [{ name: "sa", user: { token } }],
      contexts: [{ name: "sa", context: { cluster: "c", user: "sa" } }],
      "current-context": "sa",
    }),
  );
  return path;
}

test("export with the construct's ServiceAccount, delete, kubectl apply --server-side: the objects are back", () => {
  const backupDir = join(dir, "backups");
  mkdirSync(backupDir);
  const warnings: string[] = [];
  const yaml = synthYaml((chart) => {
    new ResourceBackup(chart, "rb", {
      name,
      namespaces: [ns],
      includeSecrets: true,
      backupDir,
      onWarnings: (w) => warnings.push(...w),
    });
  });
  expect(warnings).toHaveLength(1);
  // the RBAC objects, as synthesized, applied for real
  const rbacYaml = yaml
    .split(/^---$/m)
    .filter((d) => !/^kind: CronJob$/m.test(d))
    .join("---\n");
  runOk([kubectl, "apply", "--server-side", "-f", "-"], { input: rbacYaml });

  const kubeconfig = serviceAccountKubeconfig();
  const asSa = (...args: string[]) =>
    run([kubectl, "--kubeconfig", kubeconfig, ...args]).stdout.trim();
  // read-only, exactly the exported kinds, only in the listed namespace
  expect(asSa("auth", "can-i", "list", "secrets", "-n", ns)).toBe("yes");
  expect(asSa("auth", "can-i", "list", "secrets", "-n", other)).toBe("no");
  expect(asSa("auth", "can-i", "list", "pods", "-n", ns)).toBe("no");
  expect(asSa("auth", "can-i", "delete", "configmaps", "-n", ns)).toBe("no");

  const [cronJob] = cronJobsIn(yaml);
  const steps = podSteps(cronJob).filter((s) => !s.init); // the init container only copies busybox
  expect(steps.map((s) => s.container)).toEqual(["export"]);
  const bin = join(dir, "bin");
  mkdirSync(bin);
  symlinkSync(kubectl, join(bin, "kubectl"));
  const env = {
    PATH: `${bin}:${busyboxBin(dir)}`,
    KUBECONFIG: kubeconfig,
    HOME: join(dir, "home"),
    LC_ALL: "C",
  };
  const r = run(steps[0].command, { env });
  expect(r.stderr).toContain("wrote ");
  expect(r.status).toBe(0);
  const snapshot = r.stdout.trim();
  expect(statSync(snapshot).mode & 0o777).toBe(0o700);
  expect(readdirSync(snapshot)).toEqual([ns]);
  const files = readdirSync(join(snapshot, ns)).sort();
  expect(files).toEqual([
    "configmaps.json",
    "deployments.apps.json",
    "secrets.json",
    "services.json",
  ]);
  for (const f of files) expect(statSync(join(snapshot, ns, f)).mode & 0o777).toBe(0o600);
  const deployments = JSON.parse(readFileSync(join(snapshot, ns, "deployments.apps.json"), "utf8"));
  expect(deployments.items).toHaveLength(1);
  expect(Object.keys(deployments.items[0].metadata).sort()).toEqual(
    expect.not.arrayContaining(["uid", "resourceVersion", "creationTimestamp", "managedFields"]),
  );
  expect(deployments.items[0].status).toBeUndefined();

  const before = {
    cm: getJson("-n", ns, "configmap", "settings"),
    secret: getJson("-n", ns, "secret", "db-password"),
    deploy: getJson("-n", ns, "deployment", "web"),
    svc: getJson("-n", ns, "service", "web"),
    headless: getJson("-n", ns, "service", "web-headless"),
  };
  k("-n", ns, "delete", "deployment,service,configmap,secret", "--all", "--wait=true");
  expect(run([kubectl, "-n", ns, "get", "configmap", "settings"]).status).not.toBe(0);

  const applied = run([kubectl, "apply", "--server-side", "-f", join(snapshot, ns)]);
  expect(applied.stderr).toBe("");
  expect(applied.status).toBe(0);

  const after = {
    cm: getJson("-n", ns, "configmap", "settings"),
    secret: getJson("-n", ns, "secret", "db-password"),
    deploy: getJson("-n", ns, "deployment", "web"),
    svc: getJson("-n", ns, "service", "web"),
    headless: getJson("-n", ns, "service", "web-headless"),
  };
  expect(after.cm.data).toEqual(before.cm.data);
  expect(after.cm.metadata.labels).toEqual(before.cm.metadata.labels);
  expect(after.cm.metadata.uid).not.toBe(before.cm.metadata.uid); // recreated, not an old copy
  expect(after.secret.data).toEqual(before.secret.data);
  expect(Buffer.from(after.secret.data.password, "base64").toString()).toBe('s3cr3t }{"');
  expect(after.deploy.spec).toEqual(before.deploy.spec);
  expect(after.deploy.metadata.annotations.team).toBe("shop");
  expect(after.svc.spec.ports).toEqual(before.svc.spec.ports);
  expect(after.svc.spec.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/); // allocated again
  expect(after.headless.spec.clusterIP).toBe("None");
  // the other namespace was never read
  expect(readdirSync(snapshot)).not.toContain(other);
});
