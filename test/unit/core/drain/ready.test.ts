import type { V1Node } from "@kubernetes/client-node";
import type { DrainClients } from "../../../../lib/core/drain/client";
import { waitNodeReady } from "../../../../lib/core/drain/ready";

function apiException(code: number, message: string): Error {
  return Object.assign(new Error(`HTTP-Code: ${code}`), {
    code,
    body: JSON.stringify({ kind: "Status", code, message }),
  });
}
const node = (ready: string, version: string): V1Node => ({
  metadata: { name: "w-1" },
  status: {
    conditions: [{ type: "Ready", status: ready, reason: "KubeletReady" } as never],
    nodeInfo: { kubeletVersion: version } as never,
  },
});
/** Clients whose readNode answers from the script, then keeps the last answer. */
function clients(script: (V1Node | Error)[]): DrainClients & { reads: number } {
  const c = {
    reads: 0,
    core: {
      readNode: async () => {
        const a = script[Math.min(c.reads++, script.length - 1)];
        if (a instanceof Error) throw a;
        return a;
      },
    },
  };
  return c as unknown as DrainClients & { reads: number };
}
const refused = Object.assign(new TypeError("fetch failed"), {
  cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" }),
});

test("waits through an old kubelet, NotReady, a refused connection, a 503 and a 404 until Ready at the target", async () => {
  const c = clients([
    node("True", "v1.34.2"),
    node("False", "v1.35.4"),
    refused,
    apiException(503, "unavailable"),
    apiException(404, 'nodes "w-1" not found'),
    node("True", "v1.35.4"),
  ]);
  const r = await waitNodeReady(c, "w-1", "v1.35.4", { pollSeconds: 0.01 });
  expect(r.kubeletVersion).toBe("v1.35.4");
  expect(c.reads).toBe(6);
});

test("a 403 fails at once, naming the node and the answer", async () => {
  const c = clients([
    apiException(403, 'nodes "w-1" is forbidden: User "x" cannot get resource "nodes"'),
  ]);
  await expect(waitNodeReady(c, "w-1", "v1.35.4", { pollSeconds: 0.01 })).rejects.toThrow(
    'node w-1: reading the node failed (HTTP 403): nodes "w-1" is forbidden: User "x" cannot get resource "nodes". The node stays cordoned.',
  );
  expect(c.reads).toBe(1);
});

test("a node that never becomes Ready: the timeout says what it last saw", async () => {
  const c = clients([node("False", "v1.35.4")]);
  await expect(
    waitNodeReady(c, "w-1", "v1.35.4", { pollSeconds: 0.05, timeoutSeconds: 0.3 }),
  ).rejects.toThrow(
    "node w-1: not Ready at kubelet v1.35.4 after 0s (last seen: Ready=False (KubeletReady), kubelet v1.35.4)",
  );
});

test("a name that is not a node name is refused before any API call", async () => {
  const c = clients([node("True", "v1.35.4")]);
  await expect(waitNodeReady(c, "w1; rm -rf /", "v1.35.4")).rejects.toThrow(
    /waitNodeReady: invalid nodeName/,
  );
  expect(c.reads).toBe(0);
});
