/** The NodeReadyWait dynamic provider's create called directly against the local control plane. */
import { readFileSync } from "node:fs";
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { nodeReadyWaitProvider } from "../../../lib/pulumi/node-ready-wait";
import { createNodes, deleteNodes, loadKubeConfig, uniqueName } from "../../cluster/fixtures";

jest.setTimeout(120_000);

const kc = loadKubeConfig();
let kubeconfig: string;
const nodes: string[] = [];

beforeAll(() => {
  kubeconfig = readFileSync(process.env.KUBECONFIG ?? "", "utf8");
});
afterAll(async () => {
  await deleteNodes(kc, nodes);
});

async function node(version: string): Promise<string> {
  const name = uniqueName("ready-wait");
  nodes.push(name);
  await createNodes(kc, [{ name, role: "worker", kubeletVersion: version }]);
  return name;
}

test("resolves once the node reports the target kubelet version (as an upgrade would make it)", async () => {
  const name = await node("v1.34.2");
  const core = kc.makeApiClient(CoreV1Api);
  const upgraded = new Promise<void>((resolve, reject) =>
    setTimeout(() => {
      core
        .patchNodeStatus(
          { name, body: { status: { nodeInfo: { kubeletVersion: "v1.35.4" } } } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        )
        .then(() => resolve(), reject);
    }, 3000),
  );
  const started = Date.now();
  const r = await nodeReadyWaitProvider.create({
    nodeName: name,
    kubeconfig,
    targetVersion: "v1.35.4",
    timeoutSeconds: 60,
    pollSeconds: 0.5,
  });
  await upgraded;
  expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
  expect(r.id).toBe(`${name}@v1.35.4`);
  expect(r.outs).toMatchObject({
    nodeName: name,
    targetVersion: "v1.35.4",
    kubeletVersion: "v1.35.4",
  });
  // the wait starts after the client is built, so it is a little shorter than the 3 s measured here
  expect(r.outs.waitedSeconds).toBeGreaterThanOrEqual(2);
  expect(r.outs.waitedSeconds).toBeLessThanOrEqual((Date.now() - started) / 1000 + 0.1);
  expect(JSON.stringify(r.outs)).not.toContain("client-key-data"); // kubeconfig is not an output
});

test("times out with what it last saw, and fails clearly for a missing node", async () => {
  const name = await node("v1.34.2");
  await expect(
    nodeReadyWaitProvider.create({
      nodeName: name,
      kubeconfig,
      targetVersion: "v1.35.4",
      timeoutSeconds: 2,
      pollSeconds: 0.5,
    }),
  ).rejects.toThrow(
    `node ${name}: not Ready at kubelet v1.35.4 after 2s (last seen: Ready=True (KubeletReady), kubelet v1.34.2). The node stays cordoned`,
  );
  await expect(
    nodeReadyWaitProvider.create({
      nodeName: "no-such-node-xyz",
      kubeconfig,
      targetVersion: "v1.35.4",
      timeoutSeconds: 1,
      pollSeconds: 0.5,
    }),
  ).rejects.toThrow(
    /node no-such-node-xyz: not Ready .*last seen: reading the node failed \(HTTP 404\)/,
  );
});

test("diff replaces on a new target or trigger only", async () => {
  const olds = {
    nodeName: "n",
    targetVersion: "v1.35.4",
    trigger: "a",
    kubeletVersion: "v1.35.4",
    waitedSeconds: 1,
  };
  expect(
    await nodeReadyWaitProvider.diff!("id", olds, {
      nodeName: "n",
      kubeconfig: "x",
      targetVersion: "v1.35.4",
      trigger: "a",
    }),
  ).toMatchObject({ changes: false, replaces: [] });
  expect(
    await nodeReadyWaitProvider.diff!("id", olds, {
      nodeName: "n",
      kubeconfig: "x",
      targetVersion: "v1.36.0",
      trigger: "b",
    }),
  ).toMatchObject({ changes: true, replaces: ["targetVersion", "trigger"] });
});
