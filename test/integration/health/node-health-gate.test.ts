/**
 * NodeHealthGate's provider against the local control plane and real HTTP servers on loopback:
 * a Deployment rolled out, a StatefulSet and a DaemonSet, pods Ready, an HTTP status and a
 * Prometheus query (a server answering /api/v1/query as Prometheus does) pass; a workload whose
 * pods cannot be scheduled, a URL answering 503 and a query with a firing alert fail at their
 * timeout with what they last saw, all in one error. Each check is a `health-gate` record of the
 * roll report; the node gets a HealthGatePassed or a Failed Event.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { nodeHealthGateProvider } from "../../../lib/pulumi/node-health-gate";
import { parseEvents } from "../../../lib/core/report/events";
import { createRunDir } from "../../../lib/core/report/store";
import { UPGRADE_ANNOTATION, parseUpgradeProgress } from "../../../lib/core/progress/annotation";
import {
  createDaemonSet,
  createDeployment,
  createStatefulSet,
  waitForReadyPods,
} from "../../cluster/fixtures";
import { type DrainEnv, KUBELET_VERSION, TOLERATIONS, drainEnv } from "../drain/helpers";

jest.setTimeout(180_000);

let env: DrainEnv;
let kubeconfig: string;
let server: Server;
let base: string;
let reports: string;
/** Calls of the fake Prometheus per query. */
const queries = new Map<string, number>();

beforeAll(async () => {
  env = await drainEnv("health");
  kubeconfig = readFileSync(process.env.KUBECONFIG ?? "", "utf8");
  reports = mkdtempSync(join(tmpdir(), "ku-health-report-"));
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/healthz") return void res.writeHead(200).end("ok");
    if (url.pathname === "/down") return void res.writeHead(503).end("warming up");
    if (url.pathname === "/api/v1/query") {
      const q = url.searchParams.get("query") ?? "";
      const n = (queries.get(q) ?? 0) + 1;
      queries.set(q, n);
      // "clears": firing for the first two queries, then nothing; "firing": always
      const firing = q.includes("firing") || (q.includes("clears") && n <= 2);
      res.writeHead(200, { "Content-Type": "application/json" });
      return void res.end(
        JSON.stringify({
          status: "success",
          data: {
            resultType: "vector",
            result: firing
              ? [
                  {
                    metric: { __name__: "ALERTS", alertname: "TargetDown", alertstate: "firing" },
                    value: [Date.now() / 1000, "1"],
                  },
                ]
              : [],
          },
        }),
      );
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server?.close();
  rmSync(reports, { recursive: true, force: true });
  await env?.cleanup();
});

async function nodeEvents(node: string) {
  const list = await env.kc.makeApiClient(CoreV1Api).listNamespacedEvent({
    namespace: "default",
    fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node}`,
  });
  return list.items.filter((e) => e.reportingComponent === "kube-upkeep");
}

test("every kind passes: rollouts, pods Ready, HTTP, a query whose alert clears; recorded and shown", async () => {
  const [a, b] = await env.workers("hg", 2);
  const ns = env.ns;
  await createDeployment(env.kc, ns, {
    name: "web",
    replicas: 2,
    nodeNames: [a, b],
    tolerations: TOLERATIONS,
  });
  await createStatefulSet(env.kc, ns, {
    name: "db",
    replicas: 2,
    nodeNames: [a, b],
    tolerations: TOLERATIONS,
  });
  await createDaemonSet(env.kc, ns, { name: "agent", nodeNames: [a, b], tolerations: TOLERATIONS });
  const dir = createRunDir(reports, Date.now());
  const runId = "health@v1.35.4";
  const started = Date.now();
  const r = await nodeHealthGateProvider.create!({
    nodeName: a,
    kubeconfig,
    trigger: KUBELET_VERSION,
    report: { dir },
    progress: { runId, targetVersion: KUBELET_VERSION, mode: "node" },
    checks: [
      // created just now: the rollouts and pods become ready while the gate waits
      {
        kind: "rollout",
        namespace: ns,
        workload: "deployment/web",
        intervalSeconds: 0.5,
        timeoutSeconds: 60,
      },
      {
        kind: "rollout",
        namespace: ns,
        workload: "sts/db",
        intervalSeconds: 0.5,
        timeoutSeconds: 60,
      },
      {
        kind: "rollout",
        namespace: ns,
        workload: "daemonset/agent",
        intervalSeconds: 0.5,
        timeoutSeconds: 60,
      },
      {
        kind: "pods",
        namespace: ns,
        selector: { app: "web" },
        minPods: 2,
        intervalSeconds: 0.5,
        timeoutSeconds: 60,
      },
      { kind: "http", url: `${base}/healthz`, intervalSeconds: 0.5 },
      {
        kind: "prometheus",
        name: "no alerts",
        url: base,
        query: 'ALERTS{alertname="clears"}',
        intervalSeconds: 0.5,
      },
    ],
  });
  process.stderr.write(
    `[health] passed in ${Date.now() - started} ms:\n${r.outs.results.join("\n")}\n`,
  );
  expect(r.outs.results).toEqual([
    `rollout ${ns}/deployment/web: deployment "web" successfully rolled out`,
    `rollout ${ns}/sts/db: partitioned roll out complete: 2 new pods have been updated...`,
    `rollout ${ns}/daemonset/agent: daemon set "agent" successfully rolled out`,
    `pods ${ns}/app=web Ready: 2 of 2 pod(s) Ready`,
    `GET ${base}/healthz: HTTP 200: ok`,
    "no alerts: no series",
  ]);
  expect(queries.get('ALERTS{alertname="clears"}')).toBe(3);
  await waitForReadyPods(env.kc, ns, { app: "web" }, 2);

  const records = parseEvents(readFileSync(join(dir, "events.jsonl"), "utf8")).events;
  expect(
    records.map((e) => (e.type === "health-gate" ? [e.node, e.gate, e.passed] : e.type)).sort(),
  ).toEqual(
    r.outs.results.map((line: string) => [a, line.slice(0, line.indexOf(": ")), true]).sort(),
  );
  for (const e of records)
    if (e.type === "health-gate") expect(e.t).toBeGreaterThanOrEqual(e.startedAt);
  const events = await nodeEvents(a);
  expect(events.map((e) => e.reason)).toEqual(["HealthGatePassed"]);
  expect(events[0]!.message).toMatch(/^6 health check\(s\) passed: /);
  expect(
    parseUpgradeProgress((await env.readNode(a)).metadata?.annotations?.[UPGRADE_ANNOTATION]),
  ).toMatchObject({ runId, step: "healthy" });
});

test("failing checks: each fails at its timeout with what it saw, one error names them all", async () => {
  const [a] = await env.workers("hf", 1);
  const ns = env.ns;
  // no node has the label: the pods stay Pending
  await createDeployment(env.kc, ns, {
    name: "stuck",
    replicas: 2,
    nodeSelector: { "kube-upkeep.test/none": "x" },
  });
  const dir = createRunDir(reports, Date.now() + 1000);
  const t0 = Date.now();
  const failed = await nodeHealthGateProvider.create!({
    nodeName: a,
    kubeconfig,
    trigger: KUBELET_VERSION,
    report: { dir },
    progress: { runId: "health-fail@v1.35.4", targetVersion: KUBELET_VERSION },
    checks: [
      {
        kind: "rollout",
        namespace: ns,
        workload: "deployment/stuck",
        timeoutSeconds: 4,
        intervalSeconds: 1,
      },
      { kind: "pods", namespace: ns, selector: "app=stuck", timeoutSeconds: 4, intervalSeconds: 1 },
      { kind: "http", url: `${base}/down`, timeoutSeconds: 3, intervalSeconds: 1 },
      {
        kind: "prometheus",
        url: base,
        query: 'ALERTS{alertstate="firing"}',
        timeoutSeconds: 3,
        intervalSeconds: 1,
      },
      { kind: "http", url: `${base}/healthz`, timeoutSeconds: 3, intervalSeconds: 1 },
    ],
  }).then(
    () => undefined,
    (e: Error) => e,
  );
  const took = Date.now() - t0;
  expect(failed).toBeInstanceOf(Error);
  const message = failed!.message;
  process.stderr.write(`[health] failed after ${took} ms:\n${message}\n`);
  expect(took).toBeLessThan(15_000);
  expect(message).toContain(`health gate after node ${a} failed: 4 of 5 check(s) did not pass`);
  expect(message).toMatch(
    new RegExp(
      `  - rollout ${ns}/deployment/stuck: did not pass within 4 s after \\d attempt\\(s\\) in [\\d.]+ s: Waiting for deployment "stuck" rollout to finish: 0 of 2 updated replicas are available\\.\\.\\.`,
    ),
  );
  expect(message).toMatch(
    / {2}- pods .*app=stuck Ready: did not pass within 4 s .*: 0 of 2 pod\(s\) Ready; not Ready: stuck-\S+ on no node \(Unschedulable: /,
  );
  expect(message).toContain(`  - GET ${base}/down: did not pass within 3 s`);
  expect(message).toContain("HTTP 503: warming up (expected 200)");
  expect(message).toContain(
    `  - no series for ALERTS{alertstate="firing"}: did not pass within 3 s`,
  );
  expect(message).toContain('1 series: ALERTS{alertname="TargetDown", alertstate="firing"} 1');
  expect(message).not.toContain("/healthz:");

  const records = parseEvents(readFileSync(join(dir, "events.jsonl"), "utf8")).events;
  expect(records.filter((e) => e.type === "health-gate" && !e.passed)).toHaveLength(4);
  const events = await nodeEvents(a);
  expect(events.map((e) => [e.reason, e.type])).toEqual([["Failed", "Warning"]]);
  expect(events[0]!.message).toContain("health gate failed: health gate after node");
  expect((await env.readNode(a)).metadata?.annotations?.[UPGRADE_ANNOTATION]).toBeUndefined();
});
