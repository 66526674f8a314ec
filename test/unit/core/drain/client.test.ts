/** Connection reuse: one dispatcher per TLS setting on a KubeConfig, one set of clients per kubeconfig text. */
import { KubeConfig } from "@kubernetes/client-node";
import { clientsFromYaml } from "kube-upkeep/core";
import { makeClients, reuseConnections } from "../../../../lib/core/drain/client";

const CA = Buffer.from(
  "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n",
).toString("base64");

function kubeconfig(server: string, token = "t"): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: c\n  cluster:\n    server: ${server}\n    certificate-authority-data: ${CA}`,
    "users:",
    `- name: u\n  user:\n    token: ${token}`,
    "contexts:",
    "- name: x\n  context:\n    cluster: c\n    user: u",
    "current-context: x",
  ].join("\n");
}

type Dispatching = { createDispatcher(cluster: unknown, o: Record<string, unknown>): unknown };

test("a KubeConfig keeps one dispatcher per TLS setting instead of one per API call", async () => {
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig("https://127.0.0.1:6443"));
  const built: unknown[] = [];
  const d = kc as unknown as Dispatching;
  const original = d.createDispatcher.bind(kc);
  d.createDispatcher = (c, o) => {
    const x = original(c, o);
    built.push(x);
    return x;
  };
  reuseConnections(kc);
  reuseConnections(kc); // idempotent
  const cluster = kc.getCurrentCluster();
  const a = d.createDispatcher(cluster, { ca: Buffer.from("ca-1") });
  const b = d.createDispatcher(cluster, { ca: Buffer.from("ca-1") });
  const c = d.createDispatcher(cluster, { ca: Buffer.from("ca-1"), cert: Buffer.from("rotated") });
  expect(a).toBeDefined();
  expect(b).toBe(a);
  expect(c).not.toBe(a);
  expect(built).toHaveLength(2);

  // what an API call goes through: applySecurityAuthentication sets the same dispatcher each time
  const seen: unknown[] = [];
  const ctx = { setHeaderParam: () => undefined, setDispatcher: (x: unknown) => seen.push(x) };
  await kc.applySecurityAuthentication(ctx as never);
  await kc.applySecurityAuthentication(ctx as never);
  expect(seen).toHaveLength(2);
  expect(seen[1]).toBe(seen[0]);
});

test("clientsFromYaml: the same clients for the same kubeconfig text, others for another", () => {
  const one = clientsFromYaml(kubeconfig("https://a.example:6443"));
  expect(clientsFromYaml(kubeconfig("https://a.example:6443"))).toBe(one);
  const other = clientsFromYaml(kubeconfig("https://a.example:6443", "another-token"));
  expect(other).not.toBe(one);
  expect(other.kc.getCurrentUser()?.token).toBe("another-token");
  expect(makeClients(one.kc).kc).toBe(one.kc);
});
