/** The watch-based deletion wait: fast on a healthy watch, and correct across a broken one. */
import { CoreV1Api } from "@kubernetes/client-node";
import { PodDeletionTracker } from "../../../lib/core/drain/wait";
import { makeClients } from "../../../lib/core/drain/client";
import { createDeployment, waitForReadyPods } from "../../cluster/fixtures";
import { TOLERATIONS, type DrainEnv, drainEnv } from "./helpers";

jest.setTimeout(120_000);

let env: DrainEnv;
beforeAll(async () => {
  env = await drainEnv("drain-wait");
});
afterAll(async () => {
  await env?.cleanup();
});

test("pods deleted while the watch is healthy, and while it is broken, are both seen as gone", async () => {
  const [node] = await env.workers("wait", 1);
  await createDeployment(env.kc, env.ns, {
    name: "w",
    replicas: 2,
    nodeNames: [node],
    tolerations: TOLERATIONS,
  });
  await waitForReadyPods(env.kc, env.ns, { app: "w" }, 2);
  const warnings: string[] = [];
  const tracker = new PodDeletionTracker(makeClients(env.kc), node, {
    relistDelayMs: 300,
    onWarning: (m) => warnings.push(m),
  });
  const core = env.kc.makeApiClient(CoreV1Api);
  try {
    const pods = (await tracker.start()).filter((p) => p.metadata?.namespace === env.ns);
    expect(pods).toHaveLength(2);
    const signal = new AbortController().signal;

    // healthy watch: the DELETED event resolves the wait (no 1 s polling)
    const t0 = Date.now();
    const first = tracker.waitGone(pods[0], signal);
    await core.deleteNamespacedPod({
      name: pods[0].metadata!.name!,
      namespace: env.ns,
      gracePeriodSeconds: 0,
    });
    await expect(first).resolves.toBe("deleted");
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(tracker.lists).toBe(1);

    // broken watch: the pod is deleted while no watch runs; the re-list finds it gone
    tracker.interruptWatch();
    await core.deleteNamespacedPod({
      name: pods[1].metadata!.name!,
      namespace: env.ns,
      gracePeriodSeconds: 0,
    });
    await expect(tracker.waitGone(pods[1], signal)).resolves.toBe("deleted");
    expect(warnings.some((w) => w.startsWith(`watch of pods on node ${node} ended`))).toBe(true);
    expect(tracker.lists).toBeGreaterThanOrEqual(2);
    expect(tracker.watchesStarted).toBeGreaterThanOrEqual(2);

    // abort rejects with the signal's reason
    const live = (await core.listNamespacedPod({ namespace: env.ns })).items.filter(
      (p) => p.spec?.nodeName === node && !p.metadata?.deletionTimestamp,
    );
    const ctrl = new AbortController();
    const pending = live.length ? tracker.waitGone(live[0], ctrl.signal) : undefined;
    if (pending) {
      ctrl.abort(new Error("stop"));
      await expect(pending).rejects.toThrow("stop");
    }
  } finally {
    tracker.stop();
  }
});
