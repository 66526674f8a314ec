/**
 * A construct whose props are rejected leaves nothing in the tree: the same id can be used again
 * in that scope (the constructs library adds a child before its constructor body runs, so each
 * construct validates before super()). The error still names the path the construct would have.
 */
import { Testing, type Chart } from "cdk8s";
import { k8s } from "cdk8s-plus-33";
import {
  CertificateRenewal,
  DrainSafety,
  EtcdBackup,
  PodDisruptionBudget,
} from "kube-upkeep/cdk8s";
import { thrown } from "./thrown";

type Build = (chart: Chart, id: string, bad: boolean) => unknown;

const webDeployment = (chart: Chart) =>
  new k8s.KubeDeployment(chart, "web", {
    metadata: { name: "web" },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "web" } },
      template: {
        metadata: { labels: { app: "web" } },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    },
  });

const CASES: [string, string, Build][] = [
  [
    "PodDisruptionBudget (both minAvailable and maxUnavailable)",
    "invalid minAvailable/maxUnavailable",
    (chart, id, bad) =>
      new PodDisruptionBudget(chart, id, {
        selector: { matchLabels: { app: "web" } },
        ...(bad ? { minAvailable: 1, maxUnavailable: 1 } : { maxUnavailable: 1 }),
      }),
  ],
  [
    "PodDisruptionBudget.forWorkload (bad budget over a good workload)",
    'invalid minAvailable "150%"',
    (chart, id, bad) =>
      PodDisruptionBudget.forWorkload(
        chart,
        id,
        chart.node.tryFindChild("web") as k8s.KubeDeployment,
        {
          minAvailable: bad ? "150%" : 2,
        },
      ),
  ],
  [
    "EtcdBackup (timeoutSeconds not below activeDeadlineSeconds, checked last)",
    "invalid timeoutSeconds 1800",
    (chart, id, bad) => new EtcdBackup(chart, id, bad ? { timeoutSeconds: 1800 } : {}),
  ],
  [
    "EtcdBackup (bad schedule)",
    "invalid schedule",
    (chart, id, bad) => new EtcdBackup(chart, id, { schedule: bad ? "@daily" : "0 3 * * *" }),
  ],
  [
    "CertificateRenewal (overlapping runs, checked late)",
    "invalid staggerMinutes 5",
    (chart, id, bad) =>
      new CertificateRenewal(chart, id, {
        nodes: ["cp-1", "cp-2"],
        ...(bad ? { staggerMinutes: 5 } : {}),
      }),
  ],
  [
    "CertificateRenewal (no nodes)",
    "invalid nodes",
    (chart, id, bad) => new CertificateRenewal(chart, id, { nodes: bad ? [] : ["cp-1"] }),
  ],
  [
    "DrainSafety (downgrade of a code that is not an error)",
    'invalid downgrade[0].code "pdb-selects-nothing"',
    (chart, id, bad) =>
      new DrainSafety(chart, id, {
        downgrade: [{ code: bad ? ("pdb-selects-nothing" as never) : "pdb-blocks-drain" }],
        onWarnings: () => undefined,
      }),
  ],
];

describe.each(CASES)("%s", (_, expected, build) => {
  test("after the error, the same id works and nothing was left in the tree", () => {
    const chart = Testing.chart();
    webDeployment(chart);
    const before = chart.node.children.length;
    const e = thrown(() => build(chart, "maint", true), "the bad props");
    expect(e.message).toContain(`test/maint: ${expected}`);
    expect(chart.node.tryFindChild("maint")).toBeUndefined();
    expect(chart.node.children).toHaveLength(before);

    const ok = build(chart, "maint", false) as { node: { path: string } };
    expect(ok.node.path).toBe("test/maint");
    expect(chart.node.tryFindChild("maint")).toBe(ok);
    expect(() => Testing.synth(chart)).not.toThrow();
  });

  test("the path in the error is the one the construct gets (an id with '/' becomes '--')", () => {
    const chart = Testing.chart();
    webDeployment(chart);
    const e = thrown(() => build(chart, "a/b", true), "the bad props");
    expect(e.message).toContain(`test/a--b: ${expected}`);
    const ok = build(chart, "a/b", false) as { node: { path: string } };
    expect(ok.node.path).toBe("test/a--b");
  });
});
