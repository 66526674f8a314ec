/**
 * The upgrade verification's probes against the local control plane (a real kube-apiserver
 * v1.35.4, kwok nodes): `/readyz?verbose` and `/version` read with the kubeconfig's credentials,
 * also at an explicit host:port as the advertise-address annotation gives it; the control-plane
 * check of a node without kubeadm's mirror pods and the cluster check of a cluster without
 * kube-proxy and CoreDNS fail with what is missing, while the node and the server versions pass.
 * The passing checks on a real kubeadm control plane: test/e2e/real-nodes.test.ts.
 */
import { runHealthChecks } from "../../../lib/core/health/run";
import { apiServerGet, judgeReadyz } from "../../../lib/core/health/verify";
import { type DrainEnv, KUBELET_VERSION, drainEnv } from "../drain/helpers";

jest.setTimeout(120_000);

let env: DrainEnv;
beforeAll(async () => {
  env = await drainEnv("verify");
});
afterAll(async () => {
  await env?.cleanup();
});

test("/readyz?verbose of the real apiserver: every check ok, through the kubeconfig's server and at host:port", async () => {
  const viaServer = await apiServerGet(env.kc, "/readyz?verbose", undefined);
  const readyz = judgeReadyz(viaServer.status, viaServer.body);
  expect(readyz.ok).toBe(true);
  expect(viaServer.body).toContain("[+]informer-sync ok");
  const endpoint = new URL(env.kc.getCurrentCluster()!.server).host;
  const direct = await apiServerGet(env.kc, "/readyz?verbose", endpoint);
  expect(judgeReadyz(direct.status, direct.body)).toEqual(readyz);
  const version = await apiServerGet(env.kc, "/version", undefined);
  expect(JSON.parse(version.body).gitVersion).toBe(KUBELET_VERSION);
});

test("a node without kubeadm's mirror pods fails its control-plane check, naming each; the cluster check names what is missing", async () => {
  const [node] = await env.workers("vf", 1);
  const results = await runHealthChecks(env.kc, [
    {
      kind: "control-plane",
      node: node!,
      version: KUBELET_VERSION,
      timeoutSeconds: 2,
      intervalSeconds: 1,
    },
    {
      kind: "cluster-version",
      version: KUBELET_VERSION,
      nodes: [node!],
      timeoutSeconds: 2,
      intervalSeconds: 1,
    },
  ]);
  expect(results.map((r) => [r.name, r.passed])).toEqual([
    [`control plane of ${node} at ${KUBELET_VERSION}`, false],
    [`cluster at ${KUBELET_VERSION}`, false],
  ]);
  expect(results[0]!.message).toContain(
    ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"]
      .map((c) => `no ${c} pod on ${node}`)
      .join("; "),
  );
  // the kwok node is Ready at the version and the server reports it: only the add-ons are missing
  expect(results[1]!.message).toContain(
    "no kube-system/kube-proxy DaemonSet; no kube-system/coredns Deployment",
  );
  expect(results[1]!.message).not.toContain("node(s) not Ready");
  expect(results[1]!.message).not.toContain("API server reports");
});
