/**
 * Health checks, pure parts: validation (field, value, fix of each problem), names, the judges
 * (kubectl rollout status's rules and messages, pods Ready, HTTP status, Prometheus answers) and
 * the poll loop (timeout, interval, fatal answers, probes that throw) on a fake clock. The checks
 * against the API server and real HTTP servers are test/integration/health.
 */
import type { V1Deployment, V1Pod } from "@kubernetes/client-node";
import { ValidationErrors } from "../../../../lib/core/errors";
import {
  FatalProbeError,
  healthCheckName,
  judgeHttp,
  judgePods,
  judgePrometheus,
  judgeRollout,
  parseWorkload,
  pollCheck,
  validateHealthChecks,
  healthGateError,
  type Judgement,
} from "../../../../lib/core/health";

function problems(checks: unknown, nodes?: string[]): string[] {
  try {
    validateHealthChecks("ClusterUpgrade up", "healthChecks", checks, nodes);
    return [];
  } catch (e) {
    if (!(e instanceof ValidationErrors)) throw e;
    return e.errors.map((x) => x.message);
  }
}

describe("validateHealthChecks", () => {
  test("valid checks of every kind pass, unchanged", () => {
    const checks = [
      { kind: "pods", namespace: "prod", selector: { app: "web" } },
      { kind: "pods", namespace: "prod", selector: "app in (web,api),tier!=cache", minPods: 0 },
      { kind: "rollout", namespace: "prod", workload: "deployment/web", timeoutSeconds: 600 },
      { kind: "rollout", namespace: "prod", workload: "sts/db" },
      { kind: "http", url: "https://shop.example.com/healthz", expectStatus: [200, 204] },
      { kind: "prometheus", url: "http://prom:9090", query: 'ALERTS{alertstate="firing"}' },
      { kind: "command", command: "systemctl is-active kubelet", node: "w-1" },
    ];
    expect(validateHealthChecks("x", "healthChecks", checks, ["w-1"])).toBe(checks);
    expect(validateHealthChecks("x", "healthChecks", undefined)).toEqual([]);
  });

  test.each([
    [{ kind: "ping" }, 'healthChecks[0].kind "ping": unknown kind of health check'],
    [
      { kind: "pods", namespace: "Prod", selector: "app=web" },
      'healthChecks[0].namespace "Prod": not a namespace name',
    ],
    [
      { kind: "pods", namespace: "prod", selector: "" },
      'healthChecks[0].selector "": not a label selector',
    ],
    [
      { kind: "pods", namespace: "prod", selector: "app=web", minPods: -1 },
      "healthChecks[0].minPods -1: must be a whole number",
    ],
    [
      { kind: "rollout", namespace: "prod", workload: "pod/web" },
      'healthChecks[0].workload "pod/web": not <kind>/<name>',
    ],
    [
      { kind: "http", url: "ftp://x" },
      'healthChecks[0].url "ftp://x": not an http:// or https:// URL',
    ],
    [
      { kind: "http", url: "http://x", expectStatus: 700 },
      "healthChecks[0].expectStatus 700: must be an HTTP status",
    ],
    [
      { kind: "http", url: "http://x", headers: { "Bad Name": "v" } },
      'healthChecks[0].headers "(not shown)": must map header names',
    ],
    [
      { kind: "prometheus", url: "http://p:9090", query: " " },
      'healthChecks[0].query " ": must be a PromQL query',
    ],
    [
      { kind: "command", command: "true", node: "nope" },
      'healthChecks[0].node "nope": not a node of the roll',
    ],
    [
      { kind: "http", url: "http://x", timeoutSeconds: 0 },
      "healthChecks[0].timeoutSeconds 0: must be a number of seconds above 0",
    ],
    [
      { kind: "http", url: "http://x", timeoutSeconds: 10, intervalSeconds: 20 },
      "healthChecks[0].intervalSeconds 20: longer than the timeout (10 s)",
    ],
  ])("%j: %s", (check, message) => {
    const p = problems([check], ["w-1"]);
    expect(p).toHaveLength(1);
    expect(p[0]).toContain(`ClusterUpgrade up: invalid ${message}`);
    expect(p[0]).toMatch(/\. Fix: \S/);
  });

  test("a URL's password is never shown; names are unique; not a list", () => {
    expect(problems([{ kind: "http", url: "gopher://u:secret@h/" }])[0]).not.toContain("secret");
    expect(
      problems([
        { kind: "http", url: "http://x/" },
        { kind: "http", url: "http://x/", expectStatus: 204 },
      ]),
    ).toEqual([
      expect.stringContaining(
        'healthChecks[1].name "GET http://x/": the same name as healthChecks[0]',
      ),
    ]);
    expect(problems({ kind: "http" })[0]).toContain("must be a list of health checks");
  });

  test("names made from the check", () => {
    expect(
      healthCheckName({ kind: "pods", namespace: "p", selector: { app: "web", tier: "fe" } }),
    ).toBe("pods p/app=web,tier=fe Ready");
    expect(healthCheckName({ kind: "rollout", namespace: "p", workload: "deployment/web" })).toBe(
      "rollout p/deployment/web",
    );
    expect(healthCheckName({ kind: "http", url: "https://u:pw@h/x" })).toBe(
      "GET https://u:***@h/x",
    );
    expect(healthCheckName({ kind: "prometheus", url: "http://p", query: "up == 0" })).toBe(
      "no series for up == 0",
    );
    expect(healthCheckName({ kind: "http", url: "http://h", name: " mine " })).toBe("mine");
    expect(parseWorkload("ds/agent")).toEqual({ kind: "DaemonSet", name: "agent" });
  });
});

const pod = (name: string, ready: boolean, extra: Partial<V1Pod["status"]> = {}): V1Pod => ({
  metadata: { name },
  spec: { nodeName: "w-1", containers: [] },
  status: {
    phase: "Running",
    conditions: [
      ready
        ? { type: "Ready", status: "True" }
        : {
            type: "Ready",
            status: "False",
            reason: "ContainersNotReady",
            message: "containers with unready status: [app]",
          },
    ],
    ...extra,
  },
});

describe("judges", () => {
  test("pods: every one Ready, at least minPods; completed and terminating pods left out", () => {
    expect(judgePods([pod("a", true), pod("b", true)])).toEqual({
      ok: true,
      message: "2 of 2 pod(s) Ready",
    });
    expect(judgePods([pod("a", true), pod("b", false)])).toEqual({
      ok: false,
      message:
        "1 of 2 pod(s) Ready; not Ready: b on w-1 (ContainersNotReady: containers with unready status: [app])",
    });
    expect(judgePods([]).ok).toBe(false);
    expect(judgePods([], 0).ok).toBe(true);
    const done = pod("job", false, { phase: "Succeeded" });
    const leaving = {
      ...pod("old", false),
      metadata: { name: "old", deletionTimestamp: new Date() },
    };
    expect(judgePods([pod("a", true), done, leaving]).ok).toBe(true);
  });

  const deployment = (
    spec: number,
    s: Record<string, unknown>,
    gen = 2,
    cond?: string,
  ): V1Deployment => ({
    metadata: { name: "web", generation: gen },
    spec: { replicas: spec, selector: {}, template: {} },
    status: {
      observedGeneration: 2,
      ...s,
      conditions: cond ? [{ type: "Progressing", status: "False", reason: cond }] : [],
    },
  });

  test("rollout: kubectl rollout status, message for message", () => {
    const j = (d: V1Deployment): Judgement => judgeRollout("Deployment", d);
    expect(j(deployment(3, {}, 3)).message).toBe(
      "Waiting for deployment spec update to be observed...",
    );
    expect(j(deployment(3, { updatedReplicas: 1 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been updated...',
    );
    expect(j(deployment(3, { updatedReplicas: 3, replicas: 4 })).message).toBe(
      'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...',
    );
    expect(
      j(deployment(3, { updatedReplicas: 3, replicas: 3, availableReplicas: 2 })).message,
    ).toBe(
      'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are available...',
    );
    expect(j(deployment(3, { updatedReplicas: 3, replicas: 3, availableReplicas: 3 }))).toEqual({
      ok: true,
      message: 'deployment "web" successfully rolled out',
    });
    expect(j(deployment(3, {}, 2, "ProgressDeadlineExceeded"))).toEqual({
      ok: false,
      fatal: true,
      message: 'deployment "web" exceeded its progress deadline',
    });
    const ds = (s: Record<string, unknown>, type = "RollingUpdate") =>
      judgeRollout("DaemonSet", {
        metadata: { name: "agent", generation: 1 },
        spec: { updateStrategy: { type }, selector: {}, template: {} },
        status: {
          observedGeneration: 1,
          currentNumberScheduled: 0,
          numberMisscheduled: 0,
          numberReady: 0,
          desiredNumberScheduled: 3,
          ...s,
        },
      });
    expect(ds({ updatedNumberScheduled: 2 }).message).toBe(
      'Waiting for daemon set "agent" rollout to finish: 2 out of 3 new pods have been updated...',
    );
    expect(ds({ updatedNumberScheduled: 3, numberAvailable: 3 }).ok).toBe(true);
    expect(ds({}, "OnDelete")).toMatchObject({ ok: false, fatal: true });
    const sts = (s: Record<string, unknown>, partition?: number) =>
      judgeRollout("StatefulSet", {
        metadata: { name: "db", generation: 1 },
        spec: {
          replicas: 3,
          serviceName: "db",
          selector: {},
          template: {},
          updateStrategy: {
            type: "RollingUpdate",
            rollingUpdate: partition === undefined ? undefined : { partition },
          },
        },
        status: { observedGeneration: 1, replicas: 3, ...s },
      });
    expect(sts({ readyReplicas: 1 }).message).toBe("Waiting for 2 pods to be ready...");
    expect(sts({ readyReplicas: 3, updatedReplicas: 1 }, 1).message).toBe(
      "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
    );
    expect(sts({ readyReplicas: 3, updatedReplicas: 3 }, 0).ok).toBe(true);
    expect(
      sts({ readyReplicas: 3, updateRevision: "b", currentRevision: "a", updatedReplicas: 1 })
        .message,
    ).toBe("waiting for statefulset rolling update to complete 1 pods at revision b...");
  });

  test("http: the status, with the start of the body", () => {
    expect(judgeHttp(200, "ok\n")).toEqual({ ok: true, message: "HTTP 200: ok" });
    expect(judgeHttp(503, "x".repeat(300))).toEqual({
      ok: false,
      message: `HTTP 503: ${"x".repeat(197)}... (expected 200)`,
    });
    expect(judgeHttp(204, "", [200, 204]).ok).toBe(true);
  });

  test("prometheus: no series passes; series, errors and scalars do not", () => {
    const answer = (result: unknown[], resultType = "vector") =>
      JSON.stringify({ status: "success", data: { resultType, result } });
    expect(judgePrometheus(200, answer([]))).toEqual({ ok: true, message: "no series" });
    expect(
      judgePrometheus(
        200,
        answer([
          {
            metric: { __name__: "ALERTS", alertname: "KubePodCrashLooping", severity: "critical" },
            value: [1, "1"],
          },
        ]),
      ),
    ).toEqual({
      ok: false,
      message: '1 series: ALERTS{alertname="KubePodCrashLooping", severity="critical"} 1',
    });
    expect(
      judgePrometheus(
        400,
        JSON.stringify({ status: "error", errorType: "bad_data", error: "parse error" }),
      ),
    ).toEqual({ ok: false, fatal: true, message: "Prometheus answered bad_data: parse error" });
    expect(
      judgePrometheus(
        200,
        JSON.stringify({ status: "success", data: { resultType: "scalar", result: [1, "0"] } }),
      ),
    ).toMatchObject({ ok: false, fatal: true });
    expect(judgePrometheus(502, "<html>bad gateway</html>")).toEqual({
      ok: false,
      message: "HTTP 502, not a Prometheus answer: <html>bad gateway</html>",
    });
  });
});

describe("pollCheck", () => {
  /** A fake clock that moves only when the loop sleeps. */
  function clock() {
    let t = 1_000_000;
    return { now: () => t, sleep: async (ms: number) => void (t += ms), at: () => t };
  }

  test("passes on the first attempt that passes; the interval between attempts", async () => {
    const c = clock();
    const seen: number[] = [];
    let n = 0;
    const r = await pollCheck(
      "c",
      async () => {
        seen.push(c.at());
        return ++n < 3 ? { ok: false, message: `attempt ${n}` } : { ok: true, message: "fine" };
      },
      { timeoutMs: 60_000, intervalMs: 5_000, now: c.now, sleep: c.sleep },
    );
    expect(r).toEqual({
      name: "c",
      passed: true,
      message: "fine",
      attempts: 3,
      startedAt: 1_000_000,
      endedAt: 1_010_000,
    });
    expect(seen).toEqual([1_000_000, 1_005_000, 1_010_000]);
  });

  test("fails at the timeout with what it last saw; a probe that throws is an attempt", async () => {
    const c = clock();
    let n = 0;
    const r = await pollCheck(
      "c",
      async () => {
        if (++n % 2) throw new Error("connect ECONNREFUSED");
        return { ok: false, message: "1 of 2 pod(s) Ready" };
      },
      { timeoutMs: 20_000, intervalMs: 5_000, now: c.now, sleep: c.sleep },
    );
    expect(r.passed).toBe(false);
    expect(r.attempts).toBe(5);
    expect(r.message).toBe(
      "did not pass within 20 s after 5 attempt(s) in 20 s: connect ECONNREFUSED",
    );
  });

  test("a fatal answer or error ends it at once", async () => {
    const c = clock();
    const r = await pollCheck(
      "c",
      async () => {
        throw new FatalProbeError("reading deployment/web in p: forbidden");
      },
      { timeoutMs: 60_000, intervalMs: 5_000, now: c.now, sleep: c.sleep },
    );
    expect(r).toMatchObject({
      passed: false,
      attempts: 1,
      message: "failed after 1 attempt(s) in 0 s: reading deployment/web in p: forbidden",
    });
  });

  test("the gate's error lists every failed check with its output", () => {
    const e = healthGateError("w-2", [
      { name: "a", passed: true, message: "ok", attempts: 1, startedAt: 0, endedAt: 0 },
      {
        name: "b",
        passed: false,
        message: "did not pass within 5 s: HTTP 503",
        attempts: 2,
        startedAt: 0,
        endedAt: 0,
      },
    ]);
    expect(e.message).toContain("health gate after node w-2 failed: 1 of 2 check(s) did not pass");
    expect(e.message).toContain("\n  - b: did not pass within 5 s: HTTP 503");
    expect(e.message).not.toContain("  - a:");
  });
});
