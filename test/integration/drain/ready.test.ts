/** waitNodeReady against the local control plane: the node's watch ends the wait, the poll is the fallback. */
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { waitNodeReady } from "kube-upkeep/core";
import { makeClients } from "../../../lib/core/drain/client";
import { type DrainEnv, drainEnv } from "./helpers";

jest.setTimeout(120_000);

let env: DrainEnv;
beforeAll(async () => {
  env = await drainEnv("drain-ready");
});
afterAll(async () => {
  await env?.cleanup();
});

/** Sets the kubelet version kwok's node reports (kwok keeps what is patched into nodeInfo). */
async function reportKubelet(name: string, version: string): Promise<void> {
  await env.kc
    .makeApiClient(CoreV1Api)
    .patchNodeStatus(
      { name, body: { status: { nodeInfo: { kubeletVersion: version } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
}

test("a node that comes back at the target is seen by the watch at once, not at the next poll", async () => {
  const [node] = await env.workers("ready", 1);
  await reportKubelet(node, "v1.34.2");
  const started = Date.now();
  const wait = waitNodeReady(env.kc, node, "v1.35.4", { pollSeconds: 60, timeoutSeconds: 90 });
  await new Promise((r) => setTimeout(r, 1500)); // the first read and the watch are under way
  const patchedAt = Date.now();
  await reportKubelet(node, "v1.35.4");
  const r = await wait;
  expect(r).toMatchObject({ kubeletVersion: "v1.35.4", seenBy: "watch" });
  // within a few seconds of the change, far from the 60 s poll
  expect(Date.now() - patchedAt).toBeLessThan(10_000);
  expect(r.waitedMs).toBeLessThan(Date.now() - started + 1);
});

test("without the watch (watch: false, or clients without a kubeconfig) the poll still sees it", async () => {
  const [node] = await env.workers("ready-poll", 1);
  await reportKubelet(node, "v1.34.2");
  const wait = waitNodeReady(env.kc, node, "v1.35.4", {
    pollSeconds: 0.3,
    timeoutSeconds: 60,
    watch: false,
  });
  setTimeout(() => void reportKubelet(node, "v1.35.4"), 500);
  await expect(wait).resolves.toMatchObject({ kubeletVersion: "v1.35.4", seenBy: "read" });
  const { core } = makeClients(env.kc);
  const noKubeconfig = { core } as unknown as ReturnType<typeof makeClients>;
  await expect(
    waitNodeReady(noKubeconfig, node, "v1.35.4", { pollSeconds: 0.3 }),
  ).resolves.toMatchObject({ seenBy: "read" });
});
