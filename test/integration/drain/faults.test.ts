/**
 * Faults during a drain, on the real control plane: concurrent evictions racing on one PDB (409),
 * injected 5xx / 409 / throttling / cut connections in front of the real apiserver, and the
 * kube-apiserver process itself stopped and started again in the middle of a drain (on a cluster
 * of this file's own, so no other test sees it).
 */
import { CoreV1Api } from "@kubernetes/client-node";
import { CORDONED_BY_ANNOTATION, DrainTimeoutError, drainNode, uncordon } from "kube-upkeep/core";
import { type ClusterInfo, startCluster, stopCluster } from "../../cluster/cluster";
import {
  createDeployment,
  createPdb,
  setUnschedulable,
  waitFor,
  waitForPdbStatus,
  waitForReadyPods,
} from "../../cluster/fixtures";
import { KubeConfig } from "@kubernetes/client-node";
import {
  type Supervisor,
  restartApiserver,
  startFaultProxy,
  superviseCluster,
} from "../support/faults";
import { TOLERATIONS, type DrainEnv, drainEnv, recorder } from "./helpers";

jest.setTimeout(300_000);

/** `replicas` pods of Deployment `app` on node 0 of `nodes` fresh workers (the others are cordoned while they start). */
async function podsOnOneNode(
  env: DrainEnv,
  prefix: string,
  app: string,
  replicas: number,
  nodes: number,
) {
  const names = await env.workers(
    prefix,
    nodes,
    Array.from({ length: nodes - 1 }, (_, i) => i + 1),
  );
  await createDeployment(env.kc, env.ns, {
    name: app,
    replicas,
    nodeNames: names,
    tolerations: TOLERATIONS,
  });
  const pods = await waitForReadyPods(env.kc, env.ns, { app }, replicas, { timeoutMs: 180_000 });
  expect(pods.every((p) => p.spec?.nodeName === names[0])).toBe(true);
  for (const n of names.slice(1)) await setUnschedulable(env.kc, n, false);
  return { node: names[0], pods: pods.map((p) => `${env.ns}/${p.metadata?.name}`) };
}

describe("on the shared control plane", () => {
  let env: DrainEnv;
  beforeAll(async () => {
    env = await drainEnv("drain-faults");
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  test("110 pods under a PDB maxUnavailable 10: the drain completes (kubectl and the unbounded drain met 409s on the PDB here)", async () => {
    const { node, pods } = await podsOnOneNode(env, "big", "big", 110, 4);
    await createPdb(env.kc, env.ns, {
      name: "big-pdb",
      selector: { app: "big" },
      maxUnavailable: 10,
    });
    await waitForPdbStatus(env.kc, env.ns, "big-pdb", {
      disruptionsAllowed: 10,
      currentHealthy: 110,
    });

    const rec = recorder();
    const res = await drainNode(env.kc, node, {
      runId: "t-big",
      ignoreDaemonSets: true,
      retryIntervalMs: 1000,
      timeoutSeconds: 240,
      ...rec.callbacks,
    });
    expect([...res.evictedPods].sort()).toEqual([...pods].sort());
    // eviction requests per budget are bounded by what it allows (budgetSlots), so the 409 storm
    // of 110 concurrent evictions is gone; any conflict left is retried (and counted)
    const conflicts = rec.of("warning").filter((m) => /conflict/.test(m));
    process.stderr.write(
      `[faults] 110 pods: ${(res.durationMs / 1000).toFixed(1)}s, ${res.retries} PDB refusals, ${res.transientRetries} transient retries (${conflicts.length} conflicts)\n`,
    );
    expect(res.transientRetries).toBeGreaterThanOrEqual(conflicts.length);
    await waitForReadyPods(env.kc, env.ns, { app: "big" }, 110, { timeoutMs: 180_000 });
  });

  test("injected 500, 503, 409, 429 (no PDB cause) and cut connections on evictions and on the cordon patch are retried", async () => {
    const { node, pods } = await podsOnOneNode(env, "inj", "inj", 12, 2);
    const proxy = await startFaultProxy(env.kc);
    try {
      let evictions = 0;
      let nodePatches = 0;
      const answers = [
        { status: 500, reason: "InternalError", message: "etcdserver: request timed out" },
        "reset" as const,
        {
          status: 503,
          reason: "ServiceUnavailable",
          message: "the server is currently unable to handle the request",
        },
        {
          status: 409,
          reason: "Conflict",
          message:
            'Operation cannot be fulfilled on poddisruptionbudgets.policy "x": the object has been modified',
        },
        {
          status: 429,
          reason: "TooManyRequests",
          message: "Too many requests, please try again later.",
        },
      ];
      proxy.setRule((req) => {
        if (req.method === "POST" && /\/eviction$/.test(req.url ?? "")) {
          const n = evictions++;
          return n < answers.length * 2 ? answers[n % answers.length] : undefined;
        }
        if (req.method === "PATCH" && /\/api\/v1\/nodes\//.test(req.url ?? "")) {
          return nodePatches++ === 0 ? answers[2] : undefined;
        }
        return undefined;
      });
      const rec = recorder();
      const res = await drainNode(proxy.kc, node, {
        runId: "t-inj",
        timeoutSeconds: 120,
        ...rec.callbacks,
      });
      expect([...res.evictedPods].sort()).toEqual([...pods].sort());
      expect(proxy.injected.length).toBe(answers.length * 2 + 1);
      expect(res.transientRetries).toBe(proxy.injected.length);
      expect(rec.of("warning").join("\n")).toMatch(
        /server error \(etcdserver: request timed out\)/,
      );
      expect(rec.of("warning").join("\n")).toMatch(/cordon node\/\S+: server error/);
      const n = await env.readNode(node);
      expect(n.spec?.unschedulable).toBe(true);
      expect(n.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("t-inj");
    } finally {
      await proxy.close();
    }
  });

  test("a 403 (RBAC) is not retried: the drain fails at once with the apiserver's message", async () => {
    const { node } = await podsOnOneNode(env, "forbid", "forbid", 2, 2);
    const proxy = await startFaultProxy(env.kc);
    try {
      proxy.setRule((req) =>
        req.method === "POST" && /\/eviction$/.test(req.url ?? "")
          ? {
              status: 403,
              reason: "Forbidden",
              message:
                'pods "x" is forbidden: User "drainer" cannot create resource "pods/eviction"',
            }
          : undefined,
      );
      const t0 = Date.now();
      await expect(
        drainNode(proxy.kc, node, { runId: "t-403", timeoutSeconds: 60 }),
      ).rejects.toThrow(/cannot create resource "pods\/eviction"/);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await proxy.close();
    }
  });
});

describe("kube-apiserver restarted in the middle of a drain (own cluster)", () => {
  const name = `ku-test-${process.pid}-faults`;
  let info: ClusterInfo;
  let env: DrainEnv;
  let supervisor: Supervisor | undefined;
  beforeAll(async () => {
    info = await startCluster({ name, log: (l) => process.stderr.write(`[faults] ${l}\n`) });
    supervisor = superviseCluster(name);
    const kc = new KubeConfig();
    kc.loadFromFile(info.kubeconfigPath);
    env = await drainEnv("restart", kc);
  }, 240_000);
  afterAll(async () => {
    supervisor?.stop();
    process.stderr.write(
      `[faults] supervisor: ${supervisor?.restarts.join(", ") || "no restarts"}\n`,
    );
    await stopCluster(name);
  });

  test("the drain carries on through the restart and completes; every pod evicted once, none lost", async () => {
    const { node, pods } = await podsOnOneNode(env, "rs", "rs", 30, 3);
    await createPdb(env.kc, env.ns, { name: "rs-pdb", selector: { app: "rs" }, maxUnavailable: 3 });
    await waitForPdbStatus(env.kc, env.ns, "rs-pdb", { disruptionsAllowed: 3, currentHealthy: 30 });
    const rec = recorder();
    let restart: Promise<{ downAtMs: number; readyAtMs: number }> | undefined;
    const res = await drainNode(env.kc, node, {
      runId: "t-restart",
      retryIntervalMs: 500,
      timeoutSeconds: 240,
      relistDelayMs: 300,
      ...rec.callbacks,
      onDeleted: (e) => {
        rec.callbacks.onDeleted(e);
        if (!restart && rec.of("deleted").length >= 6) restart = restartApiserver(name, 3000);
      },
    });
    const r = await restart;
    expect(r).toBeDefined();
    expect([...res.evictedPods].sort()).toEqual([...pods].sort());
    expect(new Set(res.evictedPods).size).toBe(pods.length);
    expect(res.transientRetries).toBeGreaterThan(0);
    process.stderr.write(
      `[faults] restart: apiserver down at ${r?.downAtMs} ms, ready again at ${r?.readyAtMs} ms; drain ${(res.durationMs / 1000).toFixed(1)}s, ${res.transientRetries} transient retries, ${res.retries} PDB refusals\n`,
    );
    // nothing lost: the Deployment is whole again, on the other nodes; the node is ours to uncordon
    const after = await waitForReadyPods(env.kc, env.ns, { app: "rs" }, 30, { timeoutMs: 180_000 });
    expect(after.every((p) => p.spec?.nodeName !== node)).toBe(true);
    const u = await uncordon(env.kc, node, { runId: "t-restart" });
    expect(u.outcome).toBe("uncordoned");
  });

  test("an apiserver that stays down past the timeout: DrainTimeoutError naming the connection failure; the node stays cordoned and says so", async () => {
    const { node } = await podsOnOneNode(env, "down", "down", 4, 2);
    await createPdb(env.kc, env.ns, {
      name: "down-pdb",
      selector: { app: "down" },
      maxUnavailable: 0,
    });
    await waitForPdbStatus(env.kc, env.ns, "down-pdb", {
      disruptionsAllowed: 0,
      currentHealthy: 4,
    });
    let restart: Promise<unknown> | undefined;
    const err = await drainNode(env.kc, node, {
      runId: "t-down",
      retryIntervalMs: 300,
      timeoutSeconds: 20,
      waitForBlockedPdbs: true, // held by the budget, so the drain is still running when the apiserver goes
      onPdbRetry: () => {
        // held by the PDB, then the apiserver goes away for longer than the drain may take
        restart ??= restartApiserver(name, 25_000);
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DrainTimeoutError);
    expect((err as Error).message).toMatch(/stays cordoned/);
    expect((err as Error).message).toMatch(
      /last answer: network: fetch failed: .*(ECONNREFUSED|other side closed)/,
    );
    await restart;
    const core = env.kc.makeApiClient(CoreV1Api);
    const n = await waitFor(async () => core.readNode({ name: node }).catch(() => undefined), {
      timeoutMs: 30_000,
      what: `node ${node} readable again`,
    });
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata?.annotations?.[CORDONED_BY_ANNOTATION]).toBe("t-down");
  });
});
