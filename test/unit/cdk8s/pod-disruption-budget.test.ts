import { ApiObject, Chart, JsonPatch, Testing } from "cdk8s";
import * as kplus from "cdk8s-plus-33";
import { k8s } from "cdk8s-plus-33";
import { PodDisruptionBudget, PodDisruptionBudgetProps } from "kube-upkeep/cdk8s";
import { ValidationError, ValidationErrors } from "kube-upkeep/core";
import { thrown } from "./thrown";

function pdbsOf(chart: Chart) {
  return Testing.synth(chart).filter((o) => o.kind === "PodDisruptionBudget");
}

describe("PodDisruptionBudget", () => {
  it("synthesizes policy/v1 with AlwaysAllow by default", () => {
    const chart = Testing.chart();
    const pdb = new PodDisruptionBudget(chart, "web-pdb", {
      metadata: { name: "web", namespace: "shop", labels: { team: "a" } },
      selector: { matchLabels: { app: "web" } },
      maxUnavailable: 1,
    });
    expect(pdbsOf(chart)).toEqual([
      {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: "web", namespace: "shop", labels: { team: "a" } },
        spec: {
          maxUnavailable: 1,
          selector: { matchLabels: { app: "web" } },
          unhealthyPodEvictionPolicy: "AlwaysAllow",
        },
      },
    ]);
    expect(pdb.name).toBe("web");
    expect(pdb.namespace).toBe("shop");
    expect(pdb.maxUnavailable).toBe(1);
    expect(pdb.minAvailable).toBeUndefined();
    expect(pdb.unhealthyPodEvictionPolicy).toBe("AlwaysAllow");
    expect(pdb.budget).toEqual({
      field: "maxUnavailable",
      value: { kind: "int", value: 1, raw: 1 },
    });
    expect(ApiObject.of(pdb)).toBe(pdb.apiObject);
  });

  it("renders percentages as strings, matchExpressions, and an explicit policy", () => {
    const chart = Testing.chart();
    new PodDisruptionBudget(chart, "zk", {
      selector: {
        matchLabels: { app: "zk" },
        matchExpressions: [
          { key: "tier", operator: "In", values: ["db", "cache"] },
          { key: "canary", operator: "DoesNotExist" },
        ],
      },
      minAvailable: "60%",
      unhealthyPodEvictionPolicy: "IfHealthyBudget",
    });
    const [pdb] = pdbsOf(chart);
    expect(pdb.metadata.name).toMatch(/^test-zk-/);
    expect(pdb.spec).toEqual({
      minAvailable: "60%",
      selector: {
        matchLabels: { app: "zk" },
        matchExpressions: [
          { key: "tier", operator: "In", values: ["db", "cache"] },
          { key: "canary", operator: "DoesNotExist" },
        ],
      },
      unhealthyPodEvictionPolicy: "IfHealthyBudget",
    });
  });

  it("takes the chart's namespace", () => {
    const chart = new Chart(Testing.app(), "c", { namespace: "data" });
    const pdb = new PodDisruptionBudget(chart, "p", {
      selector: { matchLabels: { app: "x" } },
      minAvailable: 0,
    });
    expect(pdb.namespace).toBe("data");
    expect(pdbsOf(chart)[0].spec.minAvailable).toBe(0);
  });

  describe("bad input names the construct path, field, value and fix", () => {
    const base = { selector: { matchLabels: { app: "web" } } };
    const cases: Array<[string, Partial<PodDisruptionBudgetProps>, string]> = [
      [
        "both fields",
        { minAvailable: 1, maxUnavailable: 1 },
        'test/pdb: invalid minAvailable/maxUnavailable {"minAvailable":1,"maxUnavailable":1}: both are set, but a PodDisruptionBudget takes exactly one of them (the API server rejects both). Fix: keep only one',
      ],
      [
        "neither field",
        {},
        "test/pdb: invalid minAvailable/maxUnavailable (unset): neither is set, but a PodDisruptionBudget needs exactly one of them. Fix: set maxUnavailable: 1",
      ],
      [
        "negative",
        { maxUnavailable: -1 },
        "test/pdb: invalid maxUnavailable -1: must not be negative. Fix: use an integer >= 0",
      ],
      [
        "fraction",
        { minAvailable: 1.5 },
        "test/pdb: invalid minAvailable 1.5: must be a whole number of pods or a percentage string. Fix:",
      ],
      [
        "> 100%",
        { minAvailable: "101%" },
        'test/pdb: invalid minAvailable "101%": percentage must be between 0% and 100%. Fix: use a percentage from "0%" to "100%"',
      ],
      [
        "malformed percentage",
        { maxUnavailable: "12.5%" },
        'test/pdb: invalid maxUnavailable "12.5%": is not an integer or a percentage string of the form "N%". Fix: write a whole-number percentage such as "50%"',
      ],
      [
        "number as string",
        { maxUnavailable: "1" },
        'test/pdb: invalid maxUnavailable "1": is not an integer or a percentage string of the form "N%". Fix: write the number 1 (no quotes) or "1%"',
      ],
      [
        "negative percentage",
        { maxUnavailable: "-10%" },
        'test/pdb: invalid maxUnavailable "-10%": is not an integer or a percentage string of the form "N%". Fix: percentages and pod counts must not be negative',
      ],
      [
        "bad policy",
        { maxUnavailable: 1, unhealthyPodEvictionPolicy: "Always" as never },
        'test/pdb: invalid unhealthyPodEvictionPolicy "Always": must be AlwaysAllow or IfHealthyBudget. Fix: use "AlwaysAllow"',
      ],
      [
        "selector without values",
        {
          maxUnavailable: 1,
          selector: { matchExpressions: [{ key: "app", operator: "NotIn", values: [] }] },
        },
        "test/pdb: invalid selector.matchExpressions[0].values []: operator NotIn needs at least one value. Fix:",
      ],
      [
        "bad label value",
        { maxUnavailable: 1, selector: { matchLabels: { app: "web server" } } },
        'test/pdb: invalid selector.matchLabels.app "web server": label value must be at most 63 characters',
      ],
    ];
    it.each(cases)("%s", (_name, props, message) => {
      const chart = Testing.chart();
      const e = thrown(
        () =>
          new PodDisruptionBudget(chart, "pdb", { ...base, ...props } as PodDisruptionBudgetProps),
      );
      expect(e).toBeInstanceOf(ValidationError);
      expect(e.message.startsWith(message)).toBe(true);
    });

    it("reports every problem at once", () => {
      const chart = Testing.chart();
      const e = thrown(
        () =>
          new PodDisruptionBudget(chart, "pdb", {
            selector: { matchExpressions: [{ key: "a", operator: "Like", values: ["x"] }] },
            maxUnavailable: "200%",
            unhealthyPodEvictionPolicy: "Never" as never,
          }),
      );
      expect(e).toBeInstanceOf(ValidationErrors);
      expect((e as ValidationErrors).errors.map((x) => x.field)).toEqual([
        "maxUnavailable",
        "selector.matchExpressions[0].operator",
        "unhealthyPodEvictionPolicy",
      ]);
      expect(e.message.split("\n")).toHaveLength(3);
    });
  });

  describe("forWorkload", () => {
    it("uses a cdk8s-plus Deployment's selector and namespace", () => {
      const app = Testing.app();
      const apps = new Chart(app, "apps", { namespace: "shop" });
      const web = new kplus.Deployment(apps, "web", {
        replicas: 3,
        containers: [{ image: "nginx:1.27", portNumber: 8080 }],
      });
      const other = new Chart(app, "policies");
      const pdb = PodDisruptionBudget.forWorkload(other, "web-pdb", web, { maxUnavailable: 1 });
      const [json] = pdbsOf(other);
      const deployment = ApiObject.of(web).toJson();
      expect(json.metadata.namespace).toBe("shop");
      expect(json.spec).toEqual({
        maxUnavailable: 1,
        selector: deployment.spec.selector,
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      });
      expect(Object.keys(json.spec.selector.matchLabels)).toEqual(["cdk8s.io/metadata.addr"]);
      expect(pdb.namespace).toBe("shop");
    });

    it("reads a cdk8s-plus workload's selector from the construct, as rendering it would; renders it when patched", () => {
      const chart = Testing.chart();
      const web = new kplus.Deployment(chart, "web", {
        metadata: { namespace: "shop" },
        select: false,
        podMetadata: { labels: { app: "web", tier: "front" } },
        containers: [{ image: "nginx:1.27" }],
      });
      web.select(
        kplus.LabelSelector.of({
          labels: { app: "web" },
          expressions: [
            kplus.LabelExpression.in("tier", ["front", "edge"]),
            kplus.LabelExpression.exists("app"),
          ],
        }),
      );
      const toJson = jest.spyOn(ApiObject.of(web), "toJson");
      PodDisruptionBudget.forWorkload(chart, "web-pdb", web, { maxUnavailable: 1 });
      expect(toJson).not.toHaveBeenCalled();
      toJson.mockRestore();
      const rendered = ApiObject.of(web).toJson();
      const [pdb] = pdbsOf(chart);
      expect(pdb.metadata.namespace).toBe("shop");
      expect(pdb.spec.selector).toEqual(rendered.spec.selector);
      expect(pdb.spec.selector.matchExpressions).toHaveLength(2);

      // a JSON patch may change the selector: then the manifest is rendered and read
      const patched = new kplus.Deployment(chart, "patched", {
        containers: [{ image: "nginx:1.27" }],
      });
      ApiObject.of(patched).addJsonPatch(
        JsonPatch.add("/spec/selector/matchLabels/patched", "yes"),
      );
      PodDisruptionBudget.forWorkload(chart, "patched-pdb", patched, { maxUnavailable: 1 });
      const patchedPdb = pdbsOf(chart).find((o) => o.metadata.name.includes("patched-pdb"));
      expect(patchedPdb.spec.selector.matchLabels.patched).toBe("yes");
      expect(patchedPdb.spec.selector).toEqual(ApiObject.of(patched).toJson().spec.selector);
    });

    it("uses a cdk8s-plus StatefulSet and a raw KubeStatefulSet", () => {
      const chart = Testing.chart();
      const zk = new kplus.StatefulSet(chart, "zk", {
        replicas: 3,
        containers: [{ image: "zookeeper:3.9", portNumber: 2181 }],
      });
      PodDisruptionBudget.forWorkload(chart, "zk-pdb", zk, {
        metadata: { name: "zk-pdb" },
        minAvailable: 2,
      });
      const raw = new k8s.KubeStatefulSet(chart, "raw", {
        metadata: { name: "kafka", namespace: "stream" },
        spec: {
          replicas: 3,
          serviceName: "kafka",
          selector: {
            matchLabels: { app: "kafka" },
            matchExpressions: [{ key: "role", operator: "In", values: ["broker"] }],
          },
          template: {
            metadata: { labels: { app: "kafka", role: "broker" } },
            spec: { containers: [{ name: "kafka", image: "kafka" }] },
          },
        },
      });
      PodDisruptionBudget.forWorkload(chart, "kafka-pdb", raw, { maxUnavailable: "34%" });
      const [zkPdb, kafkaPdb] = pdbsOf(chart);
      expect(zkPdb.metadata).toEqual({ name: "zk-pdb" });
      expect(zkPdb.spec.selector).toEqual(ApiObject.of(zk).toJson().spec.selector);
      expect(zkPdb.spec.minAvailable).toBe(2);
      expect(kafkaPdb.metadata.namespace).toBe("stream");
      expect(kafkaPdb.spec).toEqual({
        maxUnavailable: "34%",
        selector: {
          matchLabels: { app: "kafka" },
          matchExpressions: [{ key: "role", operator: "In", values: ["broker"] }],
        },
        unhealthyPodEvictionPolicy: "AlwaysAllow",
      });
    });

    it("converts a ReplicationController's map selector", () => {
      const chart = Testing.chart();
      const rc = new k8s.KubeReplicationController(chart, "rc", {
        spec: {
          replicas: 2,
          selector: { app: "legacy" },
          template: { metadata: { labels: { app: "legacy" } } },
        },
      });
      PodDisruptionBudget.forWorkload(chart, "p", rc, { maxUnavailable: 1 });
      expect(pdbsOf(chart)[0].spec.selector).toEqual({ matchLabels: { app: "legacy" } });
    });

    it("rejects kinds without a scale, missing selectors and a conflicting namespace", () => {
      const chart = Testing.chart();
      const ds = new kplus.DaemonSet(chart, "agent", { containers: [{ image: "agent" }] });
      const e1 = thrown(() =>
        PodDisruptionBudget.forWorkload(chart, "p1", ds, { maxUnavailable: 1 }),
      );
      expect(e1).toBeInstanceOf(ValidationError);
      expect(e1.message).toMatch(
        /^test\/p1: invalid workload "DaemonSet\/test-agent-[0-9a-f]+": kind DaemonSet has no scale the disruption controller can read\. Fix: pass a Deployment, StatefulSet, ReplicaSet, ReplicationController/,
      );

      const noSel = new k8s.KubeDeployment(chart, "nosel", {
        metadata: { name: "nosel" },
        spec: { selector: {}, template: {} },
      });
      const e2 = thrown(() =>
        PodDisruptionBudget.forWorkload(chart, "p2", noSel, { minAvailable: 1 }),
      );
      expect(e2.message).toContain(
        'test/p2: invalid workload "Deployment/nosel": has no spec.selector (or an empty one)',
      );

      const nsDep = new k8s.KubeDeployment(chart, "ns", {
        metadata: { name: "ns", namespace: "a" },
        spec: { selector: { matchLabels: { x: "y" } }, template: {} },
      });
      const e3 = thrown(() =>
        PodDisruptionBudget.forWorkload(chart, "p3", nsDep, {
          metadata: { namespace: "b" },
          minAvailable: 1,
        }),
      );
      expect(e3.message).toBe(
        'test/p3: invalid metadata.namespace "b": differs from the namespace of Deployment/ns ("a"); a PodDisruptionBudget only selects pods in its own namespace. Fix: omit metadata.namespace or set it to "a"',
      );

      const app = Testing.app();
      const plain = new Chart(app, "plain");
      const bare = new k8s.KubeDeployment(plain, "bare", {
        metadata: { name: "bare" },
        spec: { selector: { matchLabels: { x: "y" } }, template: {} },
      });
      const e5 = thrown(() =>
        PodDisruptionBudget.forWorkload(new Chart(app, "ops", { namespace: "ops" }), "p5", bare, {
          minAvailable: 1,
        }),
      );
      expect(e5.message).toMatch(
        /^ops\/p5: invalid metadata.namespace "ops": the PodDisruptionBudget would be created in namespace "ops" but Deployment\/bare has no namespace/,
      );

      const notApi = new Chart(Testing.app(), "empty");
      const e4 = thrown(() =>
        PodDisruptionBudget.forWorkload(chart, "p4", notApi, { minAvailable: 1 }),
      );
      expect(e4.message).toContain(
        'test/p4: invalid workload "empty": is neither a cdk8s ApiObject',
      );
    });

    it("validates the budget like the constructor", () => {
      const chart = Testing.chart();
      const web = new kplus.Deployment(chart, "web", { containers: [{ image: "nginx" }] });
      const e = thrown(() =>
        PodDisruptionBudget.forWorkload(chart, "p", web, { maxUnavailable: "1.5%" }),
      );
      expect(e.message).toMatch(/^test\/p: invalid maxUnavailable "1.5%"/);
    });
  });
});
