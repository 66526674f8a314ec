import type { V1LabelSelector, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import {
  blockingPdbs,
  classifyEvictionError,
  pdbBlock,
  pdbsCoveringPod,
} from "../../../../lib/core/drain/evict";
import type { DrainClients } from "../../../../lib/core/drain/client";
import { apiErrorMessage } from "../../../../lib/core/drain/client";

/** What client-node 2.x throws: ApiException with the raw response text as body. */
function apiException(code: number, status: object): Error {
  return Object.assign(new Error(`HTTP-Code: ${code}\nMessage: Unknown API Status Code!`), {
    code,
    body: JSON.stringify({ kind: "Status", apiVersion: "v1", code, ...status }),
    headers: {},
  });
}

describe("eviction answers are classified like kubectl's evictPods loop", () => {
  test("404: gone; 429: PDB (with the server's message)", () => {
    expect(
      classifyEvictionError(
        apiException(404, { reason: "NotFound", message: 'pods "x" not found' }),
      ),
    ).toEqual({
      kind: "gone",
    });
    expect(
      classifyEvictionError(
        apiException(429, {
          reason: "TooManyRequests",
          message: "Cannot evict pod as it would violate the pod's disruption budget.",
          details: {
            causes: [
              {
                reason: "DisruptionBudget",
                message: "The disruption budget web needs 2 healthy pods and has 2 currently",
              },
            ],
          },
        }),
      ),
    ).toEqual({
      kind: "pdb",
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
    });
  });

  test("500 'more than one PodDisruptionBudget' is its own kind; other 5xx are transient", () => {
    const msg =
      "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";
    expect(classifyEvictionError(apiException(500, { message: msg }))).toEqual({
      kind: "multiple-pdbs",
      message: msg,
    });
    expect(classifyEvictionError(apiException(500, { message: "etcd is down" }))).toEqual({
      kind: "transient",
      reason: "server error",
      message: "etcd is down",
    });
    expect(classifyEvictionError(apiException(503, { message: "unavailable" })).kind).toBe(
      "transient",
    );
  });

  test("409 on the PDB (concurrent evictions race on its status) is a transient conflict", () => {
    const msg =
      'Operation cannot be fulfilled on poddisruptionbudgets.policy "big-pdb": the object has been modified; please apply your changes to the latest version and try again';
    expect(classifyEvictionError(apiException(409, { reason: "Conflict", message: msg }))).toEqual({
      kind: "transient",
      reason: "conflict",
      message: msg,
    });
  });

  test("a 429 without the DisruptionBudget cause (priority and fairness) is throttling, not a PDB", () => {
    expect(
      classifyEvictionError(
        apiException(429, {
          reason: "TooManyRequests",
          message: "Too many requests, please try again later.",
          details: { retryAfterSeconds: 1 },
        }),
      ),
    ).toEqual({
      kind: "transient",
      reason: "throttled",
      message: "Too many requests, please try again later.",
    });
  });

  test("a dropped connection (undici: fetch failed, cause ECONNREFUSED / UND_ERR_SOCKET) is transient", () => {
    const refused = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), {
        code: "ECONNREFUSED",
      }),
    });
    expect(classifyEvictionError(refused)).toEqual({
      kind: "transient",
      reason: "network",
      message: "fetch failed: connect ECONNREFUSED 127.0.0.1:6443",
    });
    const closed = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
    });
    expect(classifyEvictionError(closed).kind).toBe("transient");
    expect(classifyEvictionError(new Error("certificate has expired")).kind).toBe("error");
  });

  test("403 with cause NamespaceTerminating vs a plain 403", () => {
    const terminating = apiException(403, {
      message:
        'pods "x" is forbidden: unable to create new content in namespace ns because it is being terminated',
      details: {
        causes: [{ reason: "NamespaceTerminating", message: "namespace ns is being terminated" }],
      },
    });
    expect(classifyEvictionError(terminating).kind).toBe("namespace-terminating");
    expect(classifyEvictionError(apiException(403, { message: "forbidden: RBAC" }))).toEqual({
      kind: "error",
      code: 403,
      message: "forbidden: RBAC",
    });
  });

  test("errors without a Status body still give a one-line message", () => {
    expect(apiErrorMessage(new Error("connect ECONNREFUSED 127.0.0.1:6443"))).toBe(
      "connect ECONNREFUSED 127.0.0.1:6443",
    );
    expect(
      apiErrorMessage(
        Object.assign(new Error("HTTP-Code: 502\nMessage: x"), {
          code: 502,
          body: "<html>bad gateway</html>",
        }),
      ),
    ).toBe("<html>bad gateway</html>");
  });
});

describe("PodDisruptionBudgets covering a pod", () => {
  const pod: V1Pod = {
    metadata: { name: "web-1", namespace: "shop", labels: { app: "web", tier: "front" } },
  };
  const pdb = (
    name: string,
    selector: V1LabelSelector | undefined,
    ns = "shop",
  ): V1PodDisruptionBudget => ({
    metadata: { name, namespace: ns },
    spec: { selector },
    status: { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 2 },
  });

  test("matchLabels, matchExpressions, empty selector (all pods), missing selector (none), other namespace", () => {
    const pdbs = [
      pdb("by-label", { matchLabels: { app: "web" } }),
      pdb("by-expr", {
        matchExpressions: [{ key: "tier", operator: "In", values: ["front", "edge"] }],
      }),
      pdb("not-in", { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }),
      pdb("everything", {}),
      pdb("nothing", undefined),
      pdb("other-ns", { matchLabels: { app: "web" } }, "other"),
      pdb("other-app", { matchLabels: { app: "db" } }),
    ];
    expect(pdbsCoveringPod(pdbs, pod).map((p) => p.metadata?.name)).toEqual([
      "by-label",
      "by-expr",
      "everything",
    ]);
  });

  test("pdbBlock keeps the status the 429 message shows", () => {
    expect(pdbBlock(pdb("web", { matchLabels: { app: "web" } }))).toEqual({
      name: "shop/web",
      disruptionsAllowed: 0,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 2,
    });
  });
});

describe("blockingPdbs: the budgets named behind a 429", () => {
  const pod: V1Pod = { metadata: { name: "web-1", namespace: "shop", labels: { app: "web" } } };
  const web: V1PodDisruptionBudget = {
    metadata: { name: "web", namespace: "shop" },
    spec: { selector: { matchLabels: { app: "web" } } },
    status: { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 2 },
  };
  /** Clients whose PDB list answers with `answers` in turn (an Error is thrown). */
  function clients(...answers: (Error | V1PodDisruptionBudget[])[]) {
    const calls: string[] = [];
    const policy = {
      listNamespacedPodDisruptionBudget: async ({ namespace }: { namespace: string }) => {
        calls.push(namespace);
        const a = answers.shift();
        if (a instanceof Error) throw a;
        return { items: a ?? [] };
      },
    };
    return { clients: { policy } as unknown as DrainClients, calls };
  }

  test("lists the pod's namespace and describes the budgets selecting it", async () => {
    const c = clients([web]);
    expect(await blockingPdbs(c.clients, pod)).toEqual([pdbBlock(web)]);
    expect(c.calls).toEqual(["shop"]);
  });

  // was: any error answered [], so a missing permission read as "no budget covers the pod"
  test("403: thrown with the server's message naming the permission, not read as no budgets", async () => {
    const forbidden =
      'poddisruptionbudgets.policy is forbidden: User "system:serviceaccount:kube-system:ku" cannot list resource "poddisruptionbudgets" in API group "policy" in the namespace "shop"';
    const c = clients(apiException(403, { reason: "Forbidden", message: forbidden }));
    const e = await blockingPdbs(c.clients, pod).then(
      () => undefined,
      (x: unknown) => x as Error & { code?: number },
    );
    expect(e?.message).toBe(
      `listing the PodDisruptionBudgets of namespace "shop" (to name those covering pod shop/web-1): ${forbidden}`,
    );
    expect(e?.code).toBe(403);
    expect(c.calls).toEqual(["shop"]); // a refusal is not retried
  });

  test("a transient failure is retried; one that outlasts the budget is thrown with what was listed", async () => {
    const c = clients(apiException(503, { message: "unavailable" }), [web]);
    expect(await blockingPdbs(c.clients, pod, { initialMs: 1 })).toEqual([pdbBlock(web)]);
    expect(c.calls).toHaveLength(2);
    const down = clients(
      ...Array.from({ length: 50 }, () =>
        Object.assign(new Error("fetch failed"), {
          cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), {
            code: "ECONNREFUSED",
          }),
        }),
      ),
    );
    await expect(blockingPdbs(down.clients, pod, { initialMs: 1, budgetMs: 20 })).rejects.toThrow(
      'listing the PodDisruptionBudgets of namespace "shop" (to name those covering pod shop/web-1): fetch failed: connect ECONNREFUSED 127.0.0.1:6443',
    );
  });
});
