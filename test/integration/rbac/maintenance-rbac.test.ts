/**
 * Least privilege on the real control plane (kube-apiserver with --authorization-mode=Node,RBAC):
 * the objects MaintenanceRbac synthesizes are applied, a token of its ServiceAccount is requested
 * (TokenRequest API) and put in a kubeconfig with nothing else; with that kubeconfig drainNode,
 * NodeReadyWait's wait and uncordon succeed. Then the missing permissions show: a
 * disableEviction drain (pods delete, not granted by default) and, after pods/eviction create is
 * removed from the ClusterRole, an ordinary drain fail with a DrainEvictionError that carries
 * the API server's 403 message naming the user, the verb and the resource. Without each other
 * rule, the same: a refused PodDisruptionBudget list and a refused pod watch fail at once with
 * the permission named (neither reads as "no budgets" or as a dropped connection).
 */
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  type KubeConfig,
  RbacAuthorizationV1Api,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1ServiceAccount,
} from "@kubernetes/client-node";
import { Testing } from "cdk8s";
import { MaintenanceRbac } from "../../../lib/cdk8s/maintenance-rbac";
import { MAINTENANCE_RULES } from "../../../lib/core/rbac";
import {
  DrainError,
  DrainEvictionError,
  drainNode,
  kubeConfigFromYaml,
  uncordon,
} from "kube-upkeep/core";
import { apiErrorMessage, makeClients } from "../../../lib/core/drain/client";
import { blockingPdbs } from "../../../lib/core/drain/evict";
import { nodeReadyWaitProvider } from "../../../lib/pulumi/node-ready-wait";
import { nodeDrainProvider } from "../../../lib/pulumi/node-drain";
import { nodeUncordonProvider } from "../../../lib/pulumi/node-uncordon";
import { UPGRADE_ANNOTATION, parseUpgradeProgress } from "../../../lib/core/progress/annotation";
import { readClusterState } from "../../../lib/core/live/read";
import { runHealthChecks } from "../../../lib/core/health";
import {
  createDaemonSet,
  createDeployment,
  createPdb,
  createStatefulSet,
  statusOf,
  uniqueName,
  waitFor,
  waitForPdbStatus,
  waitForReadyPods,
} from "../../cluster/fixtures";
import { type DrainEnv, KUBELET_VERSION, TOLERATIONS, drainEnv } from "../drain/helpers";

jest.setTimeout(300_000);

let env: DrainEnv;
let rbacApi: RbacAuthorizationV1Api;
/** The ClusterRoles / bindings this file creates (cluster-scoped: deleted in afterAll). */
const rbacNames: string[] = [];
const RUN_ID = "rbac-least-privilege";

beforeAll(async () => {
  env = await drainEnv("rbac");
  rbacApi = env.kc.makeApiClient(RbacAuthorizationV1Api);
});
afterAll(async () => {
  for (const del of rbacNames.flatMap((name) => [
    () => rbacApi.deleteClusterRoleBinding({ name }),
    () => rbacApi.deleteClusterRole({ name }),
  ])) {
    try {
      await del();
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }
  await env?.cleanup();
});

/** Synthesizes MaintenanceRbac and creates its three objects with the admin client. */
async function applyRbac(kc: KubeConfig, ns: string, prefix: string): Promise<MaintenanceRbac> {
  const name = uniqueName(prefix);
  rbacNames.push(name);
  const chart = Testing.chart();
  const rbac = new MaintenanceRbac(chart, "rbac", { namespace: ns, name });
  const objs = Testing.synth(chart);
  expect(objs.map((o) => o.kind)).toEqual(["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]);
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace: ns, body: objs[0] as V1ServiceAccount });
  await rbacApi.createClusterRole({ body: objs[1] as V1ClusterRole });
  await rbacApi.createClusterRoleBinding({ body: objs[2] as V1ClusterRoleBinding });
  return rbac;
}

/** A kubeconfig whose only credential is a fresh token of the ServiceAccount (TokenRequest API). */
async function serviceAccountKubeconfig(admin: KubeConfig, ns: string, sa: string) {
  const tr = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: sa,
    namespace: ns,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = tr.status?.token;
  expect(token).toMatch(/^ey/);
  const cluster = admin.getCurrentCluster()!;
  const caData =
    cluster.caData ??
    (cluster.caFile ? readFileSync(cluster.caFile).toString("base64") : undefined);
  const yaml = JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "local",
        cluster: {
          server: cluster.server,
          ...(caData ? { "certificate-authority-data": caData } : {}),
          ...(cluster.skipTLSVerify ? { "insecure-skip-tls-verify": true } : {}),
        },
      },
    ],
    users: [{ name: sa, user: { token } }],
    contexts: [{ name: `${sa}@local`, context: { cluster: "local", user: sa } }],
    "current-context": `${sa}@local`,
  });
  return { yaml, kc: kubeConfigFromYaml(yaml) };
}

/** Whether the kubeconfig's user may do verb on resource[/subresource] in ns (SelfSubjectAccessReview). */
async function allowed(
  kc: KubeConfig,
  group: string,
  verb: string,
  resource: string,
  subresource: string | undefined,
  namespace: string,
  name?: string,
): Promise<boolean> {
  const r = await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
    body: {
      spec: { resourceAttributes: { group, verb, resource, subresource, namespace, name } },
    },
  });
  return r.status?.allowed === true;
}

/** The DrainEvictionError a drain throws (fails the test when it succeeds or throws something else). */
async function drainError(p: Promise<unknown>): Promise<DrainEvictionError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DrainEvictionError);
    return e as DrainEvictionError;
  }
  throw new Error("expected the drain to fail");
}

test("drain, ready wait and uncordon as the MaintenanceRbac ServiceAccount; a missing verb fails with the 403 naming it", async () => {
  const { kc: admin, ns } = env;
  const rbac = await applyRbac(admin, ns, "ku-maint");
  const { yaml, kc } = await serviceAccountKubeconfig(admin, ns, rbac.name);

  // the kubeconfig authenticates as the ServiceAccount, with nothing but its token
  const user = kc.getCurrentUser()!;
  expect([user.token ? "token" : "", user.certData, user.keyData, user.certFile]).toEqual([
    "token",
    undefined,
    undefined,
    undefined,
  ]);
  const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
  expect(review.status?.userInfo?.username).toBe(rbac.userName);
  // and RBAC is enforced: what the role does not grant is refused
  let secrets: number | undefined;
  try {
    await kc.makeApiClient(CoreV1Api).listSecretForAllNamespaces();
  } catch (e) {
    secrets = statusOf(e);
  }
  expect(secrets).toBe(403);

  // a: 2 replicas of a Deployment under a PDB, and a DaemonSet pod (its DaemonSet is looked up)
  const { a, b, pods } = await env.podsToEvict("rb", "web");
  await createPdb(admin, ns, { name: "web-pdb", selector: { app: "web" }, maxUnavailable: 1 });
  await waitForPdbStatus(admin, ns, "web-pdb", { disruptionsAllowed: 1, currentHealthy: 2 });
  await createDaemonSet(admin, ns, { name: "agent", nodeNames: [a], tolerations: TOLERATIONS });
  await waitForReadyPods(admin, ns, { app: "agent" }, 1);

  // the PodDisruptionBudgets are listed with the ServiceAccount (they name a refusal)
  expect((await blockingPdbs(makeClients(kc), pods[0])).map((p) => p.name)).toEqual([
    `${ns}/web-pdb`,
  ]);

  const drained = await drainNode(kc, a, {
    runId: RUN_ID,
    ignoreDaemonSets: true,
    concurrency: 1,
    timeoutSeconds: 120,
    retryIntervalMs: 500,
  });
  expect([...drained.evictedPods].sort()).toEqual(
    pods.map((p) => `${ns}/${p.metadata!.name}`).sort(),
  );
  expect(drained.skippedPods).toEqual([]);
  expect(drained.warnings).toEqual([expect.stringContaining("ignoring DaemonSet-managed Pods")]);
  expect((await env.readNode(a)).spec?.unschedulable).toBe(true);

  const wait = await nodeReadyWaitProvider.create!({
    nodeName: a,
    kubeconfig: yaml,
    targetVersion: KUBELET_VERSION,
    timeoutSeconds: 30,
    pollSeconds: 1,
  });
  expect(wait.outs.kubeletVersion).toBe(KUBELET_VERSION);

  const u = await uncordon(kc, a, { runId: RUN_ID });
  expect(u.outcome).toBe("uncordoned");
  expect((await env.readNode(a)).spec?.unschedulable).toBeUndefined();

  // the evicted replicas run on b now
  await waitFor(
    async () => {
      const placed = await env.placement({ app: "web" });
      return Object.values(placed).filter((n) => n === b).length === 2;
    },
    { what: "both web replicas on b" },
  );
  await waitForReadyPods(admin, ns, { app: "web" }, 2);

  // pods delete is not granted: a drain that deletes instead of evicting is refused
  const deleting = await drainError(
    drainNode(kc, b, { runId: RUN_ID, disableEviction: true, timeoutSeconds: 60 }),
  );
  process.stderr.write(`[rbac] disableEviction drain without pods delete:\n${deleting.message}\n`);
  expect(deleting.message).toContain(
    `User "${rbac.userName}" cannot delete resource "pods" in API group "" in the namespace "${ns}"`,
  );
  expect((await uncordon(kc, b, { runId: RUN_ID })).outcome).toBe("uncordoned");

  // remove pods/eviction create from the ClusterRole: the drain fails and says why
  const role = await rbacApi.readClusterRole({ name: rbac.name });
  role.rules = (role.rules ?? []).filter((r) => !(r.resources ?? []).includes("pods/eviction"));
  await rbacApi.replaceClusterRole({ name: rbac.name, body: role });
  await waitFor(async () => !(await allowed(kc, "", "create", "pods", "eviction", ns)), {
    what: "the authorizer to see the ClusterRole without pods/eviction create",
  });
  const evicting = await drainError(
    drainNode(kc, b, { runId: RUN_ID, timeoutSeconds: 60, retryIntervalMs: 500 }),
  );
  process.stderr.write(`[rbac] drain without pods/eviction create:\n${evicting.message}\n`);
  const forbidden = `User "${rbac.userName}" cannot create resource "pods/eviction" in API group "" in the namespace "${ns}"`;
  expect(evicting.message).toContain(forbidden);
  expect(evicting.problems).toHaveLength(2);
  for (const p of evicting.problems) {
    expect(p).toMatch(/^error when evicting pods\/"web-[a-z0-9-]+" -n "[a-z0-9-]+": pods "web-/);
    expect(p).toContain(forbidden);
  }
  expect(evicting.nodeCordoned).toBe(true);
  expect(evicting.evictedPods).toEqual([]);
});

/** What a drain of the node reports without one permission of the role. */
interface Outcome {
  /** e.message of the error thrown (what a user sees), or undefined when the drain succeeded. */
  thrown?: string;
  /** The API server's message as kube-upkeep reads it from the error (apiErrorMessage, or a DrainError's problems). */
  apiMessage?: string;
  errorName?: string;
  warnings: string[];
}

test("without each rule: which call fails, and whether the 403 reaches the user", async () => {
  const { kc: admin, ns } = env;
  const rbac = await applyRbac(admin, ns, "ku-less");
  const { kc } = await serviceAccountKubeconfig(admin, ns, rbac.name);
  const { a, pods } = await env.podsToEvict("rl", "api");
  await createDaemonSet(admin, ns, { name: "agent-rl", nodeNames: [a], tolerations: TOLERATIONS });
  await waitForReadyPods(admin, ns, { app: "agent-rl" }, 1);
  const user = rbac.userName;

  /** Grants the role's rules without `verb` on `resource` and waits until the authorizer agrees. */
  async function without(resource: string, verb: string): Promise<void> {
    const role = await rbacApi.readClusterRole({ name: rbac.name });
    role.rules = MAINTENANCE_RULES.map((r) => ({
      apiGroups: [...r.apiGroups],
      resources: [...r.resources],
      ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
      verbs: r.resources.includes(resource) ? r.verbs.filter((v) => v !== verb) : [...r.verbs],
    })).filter((r) => r.verbs.length > 0);
    await rbacApi.replaceClusterRole({ name: rbac.name, body: role });
    const checks = MAINTENANCE_RULES.flatMap((r) =>
      r.resources.flatMap((rs) =>
        r.verbs.map((v) => [r.apiGroups[0], rs, v, r.resourceNames?.[0]] as const),
      ),
    );
    await waitFor(
      async () => {
        for (const [group, rs, v, name] of checks) {
          const [res, sub] = rs.split("/");
          const where = rs === "nodes" ? "" : name === "kubeadm-config" ? "kube-system" : ns;
          const ok = await allowed(kc, group, v, res, sub, where, name);
          if (ok !== !(rs === resource && v === verb)) return false;
        }
        return true;
      },
      { what: `the authorizer to see the role without ${resource} ${verb}` },
    );
  }

  async function drain(extra: { waitForBlockedPdbs?: boolean } = {}): Promise<Outcome> {
    const warnings: string[] = [];
    try {
      await drainNode(kc, a, {
        ...extra,
        runId: RUN_ID,
        ignoreDaemonSets: true,
        timeoutSeconds: 30,
        retryIntervalMs: 500,
        relistDelayMs: 200,
        onWarning: (w) => warnings.push(w),
      });
      return { warnings };
    } catch (e) {
      return {
        thrown: (e as Error).message,
        // a DrainError has the API server's message in its problem lines
        apiMessage: e instanceof DrainError ? e.message : apiErrorMessage(e),
        errorName: (e as Error).name,
        warnings,
      };
    } finally {
      await uncordon(admin, a, { force: true });
    }
  }

  const report: Record<string, unknown> = {};
  const cases: [string, string, string][] = [
    [
      "nodes",
      "get",
      `User "${user}" cannot get resource "nodes" in API group "" at the cluster scope`,
    ],
    [
      "nodes",
      "patch",
      `User "${user}" cannot patch resource "nodes" in API group "" at the cluster scope`,
    ],
    [
      "pods",
      "list",
      `User "${user}" cannot list resource "pods" in API group "" at the cluster scope`,
    ],
    [
      "daemonsets",
      "get",
      `User "${user}" cannot get resource "daemonsets" in API group "apps" in the namespace "${ns}"`,
    ],
  ];
  for (const [resource, verb, forbidden] of cases) {
    await without(resource, verb);
    const o = await drain();
    report[`${resource} ${verb}`] = o;
    // the API server's message names the missing permission, and kube-upkeep's error carries it
    expect([`${resource} ${verb}`, o.apiMessage]).toEqual([
      `${resource} ${verb}`,
      expect.stringContaining(forbidden),
    ]);
  }

  // poddisruptionbudgets list: the budgets behind a refusal are named with it (blockingPdbs),
  // and the drain bounds its evictions per budget with it. A refusal is an error naming the
  // permission, never "no budget covers the pod" (blockingPdbs answered [] to any error before)
  await without("poddisruptionbudgets", "list");
  const pdbForbidden = `User "${user}" cannot list resource "poddisruptionbudgets" in API group "policy" in the namespace "${ns}"`;
  const listed = await blockingPdbs(makeClients(kc), pods[0]).then(
    (l) => ({ listed: l }),
    (e: unknown) => ({ thrown: (e as Error).message }),
  );
  report["poddisruptionbudgets list: blockingPdbs"] = listed;
  expect(listed).toEqual({
    thrown: `listing the PodDisruptionBudgets of namespace "${ns}" (to name those covering pod ${ns}/${pods[0].metadata!.name}): poddisruptionbudgets.policy is forbidden: ${pdbForbidden}`,
  });
  for (const waitForBlockedPdbs of [false, true]) {
    const o = await drain({ waitForBlockedPdbs });
    report[`poddisruptionbudgets list: drain (waitForBlockedPdbs ${waitForBlockedPdbs})`] = o;
    expect(o.apiMessage).toContain(pdbForbidden);
  }

  // pods watch: the one watch of the node's pods. A refusal is not a dropped connection (it was
  // re-listed and retried): the drain fails at once, before evicting anything, naming it
  await without("pods", "watch");
  const t0 = Date.now();
  const watch = await drain();
  const took = Date.now() - t0;
  report["pods watch"] = { ...watch, tookMs: took };
  expect(watch.errorName).toBe("DrainEvictionError");
  expect(watch.thrown).toContain(
    `error: watching the pods of node "${a}" (to wait for evicted pods to be gone): pods is forbidden: User "${user}" cannot watch resource "pods" in API group "" at the cluster scope`,
  );
  expect(watch.thrown).toContain("(0 pod(s) were evicted before the failure)");
  expect(watch.warnings.filter((w) => /re-listing/.test(w))).toEqual([]);
  expect(took).toBeLessThan(10_000); // the drain's timeout is 30 s
  // nothing was evicted: both replicas still run on the node
  expect(Object.values(await env.placement({ app: "api" })).filter((n) => n === a)).toHaveLength(
    pods.length,
  );

  process.stderr.write(`[rbac] drain without one rule each:\n${JSON.stringify(report, null, 2)}\n`);
});

test("the steps' Events and annotation as the ServiceAccount; without events create the roll goes on and says so once", async () => {
  const { kc: admin, ns } = env;
  const rbac = await applyRbac(admin, ns, "ku-prog");
  const { yaml, kc } = await serviceAccountKubeconfig(admin, ns, rbac.name);
  const { a } = await env.podsToEvict("rp", "prog");
  const core = admin.makeApiClient(CoreV1Api);
  const reasons = async () =>
    (
      await core.listNamespacedEvent({
        namespace: "default",
        fieldSelector: `involvedObject.kind=Node,involvedObject.name=${a}`,
      })
    ).items
      .filter((e) => e.reportingComponent === "kube-upkeep")
      .sort((x, y) => Number(x.metadata.resourceVersion) - Number(y.metadata.resourceVersion))
      .map((e) => e.reason);
  const recorded = async () =>
    parseUpgradeProgress((await env.readNode(a)).metadata?.annotations?.[UPGRADE_ANNOTATION]);
  const step = (runId: string) => ({
    nodeName: a,
    kubeconfig: yaml,
    runId,
    progress: { runId, targetVersion: KUBELET_VERSION, mode: "node" as const },
  });

  const first = "rbac-progress@v1.35.4";
  await nodeDrainProvider.create!({
    ...step(first),
    options: { ignoreDaemonSets: true, timeoutSeconds: 60, retryIntervalMs: 500 },
  });
  await nodeUncordonProvider.create!(step(first));
  expect(await reasons()).toEqual(["Cordoned", "Drained", "UpgradeStarted", "Uncordoned"]);
  expect(await recorded()).toMatchObject({ runId: first, step: "uncordoned" });

  // without events create: the drain and the uncordon succeed, one warning says what is missing
  const role = await rbacApi.readClusterRole({ name: rbac.name });
  role.rules = (role.rules ?? []).filter((r) => !(r.resources ?? []).includes("events"));
  await rbacApi.replaceClusterRole({ name: rbac.name, body: role });
  await waitFor(async () => !(await allowed(kc, "", "create", "events", undefined, "default")), {
    what: "the authorizer to see the ClusterRole without events create",
  });
  const warn = jest.spyOn(pulumi.log, "warn").mockImplementation(async () => undefined);
  try {
    const second = "rbac-progress-2@v1.35.4";
    const drained = await nodeDrainProvider.create!({
      ...step(second),
      options: { ignoreDaemonSets: true, timeoutSeconds: 60, retryIntervalMs: 500 },
    });
    expect(drained.outs.cordonedByUs).toBe(true);
    const u = await nodeUncordonProvider.create!(step(second));
    expect(u.outs.outcome).toBe("uncordoned");
    const warnings = warn.mock.calls.map((c) => String(c[0]));
    process.stderr.write(`[rbac] without events create:\n${warnings.join("\n")}\n`);
    // once per step (each provider call is its own process in a deployment)
    const missing = warnings.filter((w) => w.includes("could not emit"));
    expect(missing).toHaveLength(2);
    expect(missing[0]).toContain(`NodeDrain ${a}: could not emit the Cordoned event on node ${a}`);
    expect(missing[0]).toContain(`User "${rbac.userName}" cannot create resource "events"`);
    expect(missing[0]).toContain("the roll goes on without it");
    // no new events; the annotation (nodes patch) is still written
    expect(await reasons()).toEqual(["Cordoned", "Drained", "UpgradeStarted", "Uncordoned"]);
    expect(await recorded()).toMatchObject({ runId: second, step: "uncordoned" });
  } finally {
    warn.mockRestore();
  }
});

test("the live plan's reads and a rollout health gate as the ServiceAccount: nothing refused", async () => {
  const { kc: admin, ns } = env;
  const rbac = await applyRbac(admin, ns, "ku-live");
  const { kc } = await serviceAccountKubeconfig(admin, ns, rbac.name);
  const live = await readClusterState(kc);
  expect(live.nodes.length).toBeGreaterThan(0);
  // the shared cluster is no kubeadm cluster: a 404, not a 403
  expect(live.notes.filter((n) => /forbidden|cannot/i.test(n))).toEqual([]);
  expect(live.notes).toEqual([expect.stringContaining("kube-system/kubeadm-config not found")]);
  const [a] = await env.workers("rg", 1);
  await createDeployment(admin, ns, {
    name: "gated",
    replicas: 1,
    nodeNames: [a],
    tolerations: TOLERATIONS,
  });
  await createStatefulSet(admin, ns, {
    name: "gated-db",
    replicas: 1,
    nodeNames: [a],
    tolerations: TOLERATIONS,
  });
  const results = await runHealthChecks(kc, [
    {
      kind: "rollout",
      namespace: ns,
      workload: "deployment/gated",
      intervalSeconds: 0.5,
      timeoutSeconds: 60,
    },
    {
      kind: "rollout",
      namespace: ns,
      workload: "statefulset/gated-db",
      intervalSeconds: 0.5,
      timeoutSeconds: 60,
    },
    {
      kind: "pods",
      namespace: ns,
      selector: { app: "gated" },
      intervalSeconds: 0.5,
      timeoutSeconds: 60,
    },
  ]);
  expect(results.map((r) => [r.name, r.passed, r.message])).toEqual([
    [`rollout ${ns}/deployment/gated`, true, 'deployment "gated" successfully rolled out'],
    [
      `rollout ${ns}/statefulset/gated-db`,
      true,
      "partitioned roll out complete: 1 new pods have been updated...",
    ],
    [`pods ${ns}/app=gated Ready`, true, "1 of 1 pod(s) Ready"],
  ]);
});
