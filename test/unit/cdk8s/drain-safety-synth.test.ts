/**
 * DrainSafety checks once per App.synth() (cdk8s validates the app charts + 1 times), renders
 * each manifest once for the check and the writer, checks again on every later synth, and matches
 * PDBs through an index that must select exactly what selectorMatches selects.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { App, Chart, JsonPatch, Testing } from "cdk8s";
import { k8s } from "cdk8s-plus-33";
import { Construct } from "constructs";
import fc from "fast-check";
import { checkDrainSafety, DrainSafety, PodDisruptionBudget } from "kube-upkeep/cdk8s";
import { type LabelSelector } from "kube-upkeep/core";
import { labelSelectorMatcher, selectorMatches } from "../../../lib/core/pdb";

function deployment(scope: Construct, name: string, labels: Record<string, string>, ns?: string) {
  return new k8s.KubeDeployment(scope, name, {
    metadata: { name, ...(ns ? { namespace: ns } : {}) },
    spec: {
      replicas: 3,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    },
  });
}

/** An app of `charts` charts of 3 Deployment + PDB pairs, each chart with a DrainSafety unless `check` is false. */
function appWithCharts(charts: number, check = true) {
  const app = new App({ outdir: Testing.app().outdir });
  const checks: DrainSafety[] = [];
  for (let c = 0; c < charts; c++) {
    const chart = new Chart(app, `c${c}`, { namespace: `ns${c}` });
    for (let i = 0; i < 3; i++) {
      const w = deployment(chart, `web-${i}`, { app: `web-${i}` });
      PodDisruptionBudget.forWorkload(chart, `web-${i}-pdb`, w, { maxUnavailable: 1 });
    }
    if (check) checks.push(new DrainSafety(chart, "drain-safety", { onWarnings: () => undefined }));
  }
  return { app, checks };
}

const written = (dir: string) =>
  readdirSync(dir)
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("\n---\n");

describe("DrainSafety during App.synth()", () => {
  it("checks once per DrainSafety although cdk8s validates the app charts + 1 times", () => {
    const { app, checks } = appWithCharts(4);
    const spies = checks.map((c) => jest.spyOn(c, "findings"));
    app.synth();
    expect(spies.map((s) => s.mock.calls.length)).toEqual([1, 1, 1, 1]);
    app.synth(); // a new synth checks again, once
    expect(spies.map((s) => s.mock.calls.length)).toEqual([2, 2, 2, 2]);
    app.synthYaml();
    expect(spies.map((s) => s.mock.calls.length)).toEqual([3, 3, 3, 3]);
  });

  it("writes the same YAML as an app without DrainSafety (the check's manifests are the written ones)", () => {
    const withCheck = appWithCharts(3);
    withCheck.app.synth();
    const plain = appWithCharts(3, false).app;
    plain.synth();
    expect(written(withCheck.app.outdir)).toEqual(written(plain.outdir));
    expect(written(plain.outdir)).toContain("kind: PodDisruptionBudget");
  });

  it("a construct added after a synth is checked by the next synth", () => {
    const { app } = appWithCharts(2);
    app.synth();
    const chart = app.node.findChild("c1") as Chart;
    new PodDisruptionBudget(chart, "zero", {
      metadata: { name: "zero" },
      selector: { matchLabels: { app: "web-0" } },
      maxUnavailable: 0,
    });
    expect(() => app.synth()).toThrow(/pdb-blocks-drain.*PodDisruptionBudget zero/);
  });

  it("a change to an existing object (JSON patch) after a synth is seen by the next synth and by toJson()", () => {
    const app = new App({ outdir: Testing.app().outdir });
    const chart = new Chart(app, "c");
    const web = deployment(chart, "web", { app: "web" });
    PodDisruptionBudget.forWorkload(chart, "web-pdb", web, { minAvailable: 2 });
    new DrainSafety(chart, "drain-safety", { onWarnings: () => undefined });
    app.synth();
    web.addJsonPatch(JsonPatch.replace("/spec/replicas", 2));
    // outside a synth the object renders afresh (not the manifest of the last synth)
    expect(web.toJson().spec.replicas).toBe(2);
    expect(() => app.synth()).toThrow(
      /pdb-blocks-drain\]: PodDisruptionBudget c-web-pdb-\w+ .*all 2 pods healthy it allows 0 disruptions/,
    );
    web.addJsonPatch(JsonPatch.replace("/spec/replicas", 3));
    expect(() => app.synth()).not.toThrow();
    expect(readFileSync(join(app.outdir, "c.k8s.yaml"), "utf8")).toContain("replicas: 3");
  });

  it("Testing.synth(chart) and findings() outside App.synth() check every time", () => {
    const chart = Testing.chart();
    deployment(chart, "web", { app: "web" });
    const check = new DrainSafety(chart, "drain-safety", { onWarnings: () => undefined });
    const spy = jest.spyOn(check, "findings");
    Testing.synth(chart);
    Testing.synth(chart);
    expect(spy).toHaveBeenCalledTimes(2);
    new PodDisruptionBudget(chart, "all", {
      metadata: { name: "all" },
      selector: { matchLabels: { app: "web" } },
      minAvailable: "100%",
    });
    expect(() => Testing.synth(chart)).toThrow(/pdb-blocks-drain/);
    expect(check.findings().map((f) => f.code)).toEqual(["pdb-blocks-drain"]);
  });

  it("an App-level and chart-level DrainSafety both report a cross-chart overlap in one synth", () => {
    const app = new App({ outdir: Testing.app().outdir });
    const a = new Chart(app, "a");
    const b = new Chart(app, "b");
    deployment(a, "web", { app: "web" });
    new PodDisruptionBudget(a, "p1", {
      metadata: { name: "p1" },
      selector: { matchLabels: { app: "web" } },
      maxUnavailable: 1,
    });
    new PodDisruptionBudget(b, "p2", {
      metadata: { name: "p2" },
      selector: { matchLabels: { app: "web" } },
      maxUnavailable: 1,
    });
    new DrainSafety(a, "chart-check", { onWarnings: () => undefined });
    new DrainSafety(app, "app-check", { onWarnings: () => undefined });
    expect(() => app.synth()).toThrow(/\[app-check\] DrainSafety error \[pdb-overlap\]/);
  });
});

// ---------------------------------------------------------------------------------------------
// The index selects what a PDB-by-workload scan selects.

const KEYS = ["app", "tier", "team"];
const VALUES = ["a", "b", "c"];
// plain objects (fast-check's may have a null prototype, which cdk8s cannot render)
const plain = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  a.map((x) => JSON.parse(JSON.stringify(x)) as T);
const labelsArb = plain(
  fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), { maxKeys: 3 }),
);
const requirementArb = fc.oneof(
  fc.record({
    key: fc.constantFrom(...KEYS),
    operator: fc.constantFrom("In", "NotIn"),
    values: fc.uniqueArray(fc.constantFrom(...VALUES), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    key: fc.constantFrom(...KEYS),
    operator: fc.constantFrom("Exists", "DoesNotExist"),
  }),
);
const selectorArb: fc.Arbitrary<LabelSelector> = plain(
  fc.record(
    {
      matchLabels: fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), {
        maxKeys: 2,
      }),
      matchExpressions: fc.array(requirementArb, { maxLength: 2 }),
    },
    { requiredKeys: [] },
  ),
);

describe("PDB matching", () => {
  it("labelSelectorMatcher agrees with selectorMatches", () => {
    fc.assert(
      fc.property(selectorArb, labelsArb, (sel, labels) => {
        expect(labelSelectorMatcher(sel)(labels)).toBe(selectorMatches(sel, labels));
      }),
      { numRuns: 500 },
    );
    expect(labelSelectorMatcher(undefined)({})).toBe(false);
    expect(labelSelectorMatcher(null)({ a: "b" })).toBe(false);
    expect(labelSelectorMatcher({ matchExpressions: [{ key: "a", operator: "Bogus" }] })({})).toBe(
      false,
    );
  });

  it("each PDB's findings name exactly the workloads selectorMatches selects, in order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ labels: labelsArb, ns: fc.constantFrom("x", "y") }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.record({ selector: selectorArb, ns: fc.constantFrom("x", "y") }), {
          minLength: 1,
          maxLength: 4,
        }),
        (workloads, pdbs) => {
          const chart = Testing.chart();
          workloads.forEach((w, i) => deployment(chart, `w${i}`, w.labels, w.ns));
          pdbs.forEach(
            (p, i) =>
              new k8s.KubePodDisruptionBudget(chart, `p${i}`, {
                metadata: { name: `p${i}`, namespace: p.ns },
                spec: {
                  maxUnavailable: k8s.IntOrString.fromNumber(0),
                  selector: p.selector as k8s.LabelSelector,
                },
              }),
          );
          const findings = checkDrainSafety(chart);
          pdbs.forEach((p, i) => {
            const expected = workloads
              .map((w, j) => ({ ...w, label: `Deployment/w${j}` }))
              .filter((w) => w.ns === p.ns && selectorMatches(p.selector, w.labels))
              .map((w) => w.label);
            const blocks = findings.find((f) => f.code === "pdb-blocks-drain" && f.pdb === `p${i}`);
            expect(blocks?.workloads).toEqual(expected);
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});
