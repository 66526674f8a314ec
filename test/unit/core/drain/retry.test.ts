import {
  backoffDelay,
  isPdbRefusal,
  transientReason,
  withTransientRetry,
} from "../../../../lib/core/drain/retry";

function apiException(code: number, status: object): Error {
  return Object.assign(new Error(`HTTP-Code: ${code}`), {
    code,
    body: JSON.stringify({ kind: "Status", apiVersion: "v1", code, ...status }),
  });
}
const pdb429 = apiException(429, {
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  details: { causes: [{ reason: "DisruptionBudget", message: "needs 2 healthy pods" }] },
});
const refused = Object.assign(new TypeError("fetch failed"), {
  cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
});

test("what is transient: conflicts, 5xx, throttling, dropped connections; not PDB refusals, 4xx, multiple PDBs", () => {
  expect(transientReason(apiException(409, { message: "the object has been modified" }))).toBe(
    "conflict",
  );
  expect(transientReason(apiException(503, { message: "unavailable" }))).toBe("server error");
  expect(transientReason(apiException(429, { message: "Too many requests" }))).toBe("throttled");
  expect(transientReason(refused)).toBe("network");
  // seen in CI: the eviction in flight when the apiserver restarted
  const goaway = Object.assign(new TypeError("fetch failed"), {
    cause: Object.assign(new Error('HTTP/2: "GOAWAY" frame received with code 0'), {
      code: "UND_ERR_INFO",
    }),
  });
  expect(transientReason(goaway)).toBe("network");
  expect(isPdbRefusal(pdb429)).toBe(true);
  expect(transientReason(pdb429)).toBeUndefined();
  expect(transientReason(apiException(403, { message: "forbidden" }))).toBeUndefined();
  expect(transientReason(apiException(404, { message: "not found" }))).toBeUndefined();
  expect(
    transientReason(
      apiException(500, { message: "This pod has more than one PodDisruptionBudget" }),
    ),
  ).toBeUndefined();
  expect(
    transientReason(new Error("x509: certificate signed by unknown authority")),
  ).toBeUndefined();
});

test("backoff doubles from 200 ms to at most 5 s (+-20% jitter)", () => {
  for (let i = 0; i < 50; i++) {
    expect(backoffDelay(1)).toBeGreaterThanOrEqual(160);
    expect(backoffDelay(1)).toBeLessThanOrEqual(240);
    expect(backoffDelay(3)).toBeGreaterThanOrEqual(640);
    expect(backoffDelay(3)).toBeLessThanOrEqual(960);
    expect(backoffDelay(30)).toBeLessThanOrEqual(6000);
    expect(backoffDelay(30)).toBeGreaterThanOrEqual(4000);
  }
});

test("retries transient failures until one succeeds, telling each retry", async () => {
  const failures = [refused, apiException(409, { message: "modified" })];
  const told: string[] = [];
  let calls = 0;
  const out = await withTransientRetry(
    async () => {
      calls++;
      const f = failures.shift();
      if (f) throw f;
      return "ok";
    },
    { initialMs: 1, onRetry: (r) => told.push(r.reason) },
  );
  expect(out).toBe("ok");
  expect(calls).toBe(3);
  expect(told).toEqual(["network", "conflict"]);
});

test("a permanent failure is thrown at once; a transient one after the budget", async () => {
  let calls = 0;
  await expect(
    withTransientRetry(async () => {
      calls++;
      throw pdb429;
    }),
  ).rejects.toBe(pdb429);
  expect(calls).toBe(1);

  calls = 0;
  const t0 = Date.now();
  await expect(
    withTransientRetry(
      async () => {
        calls++;
        throw refused;
      },
      { initialMs: 10, maxMs: 20, budgetMs: 300 },
    ),
  ).rejects.toBe(refused);
  expect(Date.now() - t0).toBeLessThan(1000);
  expect(calls).toBeGreaterThan(5);
});

test("an aborted signal stops the retries with the last error", async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  let calls = 0;
  await expect(
    withTransientRetry(
      async () => {
        calls++;
        throw refused;
      },
      { initialMs: 1000, signal: ac.signal },
    ),
  ).rejects.toBe(refused);
  expect(calls).toBe(1);
});

test("a 403 right after the API server was unreachable is retried (its authorizer may not have synced); a 403 from a server that was up is not", async () => {
  const forbidden = apiException(403, {
    message: 'nodes "cp1" is forbidden: User "kubernetes-admin" cannot get resource "nodes"',
  });
  const answers: unknown[] = [refused, forbidden, forbidden, "ok"];
  const seen: string[] = [];
  const out = await withTransientRetry(
    async () => {
      const a = answers.shift();
      if (a !== "ok") throw a;
      return "patched";
    },
    { initialMs: 1, maxMs: 2, onRetry: (r) => seen.push(r.reason) },
  );
  expect(out).toBe("patched");
  expect(seen).toEqual([
    "network",
    "denied by an API server that just came back",
    "denied by an API server that just came back",
  ]);
  let calls = 0;
  await expect(
    withTransientRetry(
      async () => {
        calls++;
        throw forbidden;
      },
      { initialMs: 1, maxMs: 2 },
    ),
  ).rejects.toBe(forbidden);
  expect(calls).toBe(1);
});
