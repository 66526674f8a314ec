import { App, Chart, Testing } from "cdk8s";
import * as kplus from "cdk8s-plus-33";
import { k8s } from "cdk8s-plus-33";
import { Construct } from "constructs";
import {
  checkDrainSafety,
  DrainSafety,
  DRAIN_SAFETY_ERROR_CODES,
  DRAIN_SAFETY_WARNING_CODES,
  Finding,
  PodDisruptionBudget,
} from "kube-upkeep/cdk8s";
import { ValidationError } from "kube-upkeep/core";
import { addPdbExamples } from "../../../examples/cdk8s/pdb-examples";
import { thrown } from "./thrown";

/** A raw Deployment with fixed names and labels. */
function deployment(
  scope: Construct,
  name: string,
  replicas: number | undefined,
  labels: Record<string, string>,
) {
  return new k8s.KubeDeployment(scope, name, {
    metadata: { name },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "app", image: "registry.example/app:1" }] },
      },
    },
  });
}

function pdb(
  scope: Construct,
  name: string,
  budget: { minAvailable?: number | string; maxUnavailable?: number | string },
  matchLabels: Record<string, string>,
) {
  return new PodDisruptionBudget(scope, `pdb-${name}`, {
    metadata: { name },
    selector: { matchLabels },
    ...budget,
  });
}

/** Each finding as [severity, code, pdb, workloads]. */
const brief = (fs: Finding[]) => fs.map((f) => [f.severity, f.code, f.pdb, f.workloads]);

function synthError(chart: Chart): string {
  return thrown(() => Testing.synth(chart), "synth").message;
}

describe("checkDrainSafety", () => {
  it("passes a realistic chart (web maxUnavailable 1, zookeeper minAvailable 2 of 3)", () => {
    const chart = Testing.chart();
    const web = deployment(chart, "web", 3, { app: "web" });
    PodDisruptionBudget.forWorkload(chart, "web-pdb", web, {
      metadata: { name: "web" },
      maxUnavailable: 1,
    });
    const zk = new kplus.StatefulSet(chart, "zk", {
      replicas: 3,
      containers: [{ image: "zookeeper:3.9", portNumber: 2181 }],
    });
    PodDisruptionBudget.forWorkload(chart, "zk-pdb", zk, { minAvailable: 2 });
    expect(checkDrainSafety(chart)).toEqual([]);
  });

  describe("pdb-blocks-drain", () => {
    it.each([
      ["maxUnavailable 0", { maxUnavailable: 0 }, 3],
      ['maxUnavailable "0%"', { maxUnavailable: "0%" }, 3],
      ["minAvailable = replicas", { minAvailable: 3 }, 3],
      ["minAvailable > replicas", { minAvailable: 5 }, 3],
      ['minAvailable "100%"', { minAvailable: "100%" }, 3],
      ['minAvailable "90%" of 3 rounds up to 3', { minAvailable: "90%" }, 3],
      ['minAvailable "50%" of 1 rounds up to 1', { minAvailable: "50%" }, 1],
      ["minAvailable 1 of a default (1) replica", { minAvailable: 1 }, undefined],
    ])("%s", (_n, budget, replicas) => {
      const chart = Testing.chart();
      deployment(chart, "web", replicas, { app: "web" });
      pdb(chart, "web-pdb", budget, { app: "web" });
      const findings = checkDrainSafety(chart);
      expect(brief(findings)).toEqual([
        ["error", "pdb-blocks-drain", "web-pdb", ["Deployment/web"]],
      ]);
      expect(findings[0].path).toBe("test/pdb-web-pdb");
      expect(findings[0].pdbs).toEqual(["web-pdb"]);
      expect(findings[0].message).toContain("PodDisruptionBudget web-pdb");
      expect(findings[0].message).toContain("Deployment/web");
      expect(findings[0].message).toContain("Fix: ");
    });

    it("explains the arithmetic and the fix", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 3, { app: "web" });
      pdb(chart, "web-pdb", { minAvailable: "90%" }, { app: "web" });
      expect(checkDrainSafety(chart)[0].message).toBe(
        'PodDisruptionBudget web-pdb (the default namespace) sets minAvailable "90%" over Deployment/web (3 replicas): with all 3 pods healthy it allows 0 disruptions (percentages are rounded up), so kubectl drain can never evict them and waits until it times out. Fix: allow at least one disruption: maxUnavailable: 1 or minAvailable: 2 (a percentage of at most 66% for minAvailable), or raise the replica count.',
      );
    });

    it("sums the replicas of every selected workload, as the disruption controller does", () => {
      const chart = Testing.chart();
      deployment(chart, "a", 2, { app: "shop", part: "a" });
      deployment(chart, "b", 2, { app: "shop", part: "b" });
      pdb(chart, "shop", { minAvailable: 3 }, { app: "shop" });
      expect(checkDrainSafety(chart)).toEqual([]);
      pdb(chart, "a-only", { minAvailable: 2 }, { part: "a" });
      expect(brief(checkDrainSafety(chart)).map(([, code, pdb]) => [code, pdb])).toEqual([
        ["pdb-blocks-drain", "a-only"],
        ["pdb-overlap", "shop"],
      ]);
    });

    it("accepts rounding that still leaves a disruption", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 3, { app: "web" });
      pdb(chart, "web-pdb", { minAvailable: "66%" }, { app: "web" });
      deployment(chart, "api", 2, { app: "api" });
      pdb(chart, "api-pdb", { maxUnavailable: "1%" }, { app: "api" });
      expect(checkDrainSafety(chart)).toEqual([]);
    });

    it("flags maxUnavailable 0 even when nothing is selected", () => {
      const chart = Testing.chart();
      pdb(chart, "orphan", { maxUnavailable: 0 }, { app: "nothing" });
      expect(brief(checkDrainSafety(chart))).toEqual([
        ["error", "pdb-blocks-drain", "orphan", []],
        ["warning", "pdb-selects-nothing", "orphan", []],
      ]);
    });

    it("ignores workloads scaled to zero", () => {
      const chart = Testing.chart();
      deployment(chart, "idle", 0, { app: "idle" });
      pdb(chart, "idle", { minAvailable: 1 }, { app: "idle" });
      expect(checkDrainSafety(chart)).toEqual([]);
    });

    it("checks raw KubePodDisruptionBudget objects too", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 2, { app: "web" });
      new k8s.KubePodDisruptionBudget(chart, "raw", {
        metadata: { name: "raw" },
        spec: {
          selector: { matchLabels: { app: "web" } },
          minAvailable: k8s.IntOrString.fromNumber(2),
        },
      });
      const [f] = checkDrainSafety(chart);
      expect(f).toMatchObject({
        code: "pdb-blocks-drain",
        pdb: "raw",
        path: "test/raw",
        workloads: ["Deployment/web"],
      });
    });
  });

  describe("pdb-overlap", () => {
    it("reports pods selected by two PDBs, naming both and the HTTP 500", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 3, { app: "web", tier: "frontend" });
      pdb(chart, "by-app", { maxUnavailable: 1 }, { app: "web" });
      pdb(chart, "by-tier", { maxUnavailable: 1 }, { tier: "frontend" });
      const findings = checkDrainSafety(chart);
      expect(brief(findings)).toEqual([["error", "pdb-overlap", "by-app", ["Deployment/web"]]]);
      expect(findings[0].pdbs).toEqual(["by-app", "by-tier"]);
      expect(findings[0].message).toBe(
        'Pods of Deployment/web (3 replicas) in the default namespace are selected by 2 PodDisruptionBudgets: by-app, by-tier. The Eviction API refuses such pods with HTTP 500 "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support", so kubectl drain fails on every node running them. Fix: keep one PDB per workload; narrow the selectors so each pod matches exactly one.',
      );
    });

    it("groups workloads with the same PDBs into one finding", () => {
      const chart = Testing.chart();
      deployment(chart, "a", 2, { app: "a", team: "x" });
      deployment(chart, "b", 2, { app: "b", team: "x" });
      pdb(chart, "team", { maxUnavailable: 1 }, { team: "x" });
      new PodDisruptionBudget(chart, "ab", {
        metadata: { name: "ab" },
        selector: { matchExpressions: [{ key: "app", operator: "In", values: ["a", "b"] }] },
        maxUnavailable: 1,
      });
      expect(brief(checkDrainSafety(chart))).toEqual([
        ["error", "pdb-overlap", "team", ["Deployment/a", "Deployment/b"]],
      ]);
    });

    it("only within one namespace", () => {
      const app = Testing.app();
      const a = new Chart(app, "a", { namespace: "a" });
      const b = new Chart(app, "b", { namespace: "b" });
      deployment(a, "web", 2, { app: "web" });
      deployment(b, "web", 2, { app: "web" });
      pdb(a, "web", { maxUnavailable: 1 }, { app: "web" });
      pdb(b, "web", { maxUnavailable: 1 }, { app: "web" });
      expect(checkDrainSafety(app)).toEqual([]);
      // a PDB in chart b does not protect chart a's pods
      expect(brief(checkDrainSafety(a))).toEqual([]);
    });

    it("sees across charts when given the App", () => {
      const app = Testing.app();
      const workloads = new Chart(app, "workloads", { namespace: "shop" });
      const policies = new Chart(app, "policies", { namespace: "shop" });
      deployment(workloads, "web", 2, { app: "web" });
      pdb(workloads, "web-1", { maxUnavailable: 1 }, { app: "web" });
      pdb(policies, "web-2", { maxUnavailable: 1 }, { app: "web" });
      expect(brief(checkDrainSafety(app))).toEqual([
        ["error", "pdb-overlap", "web-1", ["Deployment/web"]],
      ]);
      expect(checkDrainSafety(app)[0].namespace).toBe("shop");
      expect(checkDrainSafety(app)[0].message).toContain("in namespace shop");
    });
  });

  describe("warnings", () => {
    it("pdb-selects-nothing", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 3, { app: "web" });
      pdb(chart, "typo", { maxUnavailable: 1 }, { app: "wbe" });
      const findings = checkDrainSafety(chart);
      expect(brief(findings)).toEqual([["warning", "pdb-selects-nothing", "typo", []]]);
      expect(findings[0].message).toBe(
        'PodDisruptionBudget typo (the default namespace) selects no workload in test (selector {"matchLabels":{"app":"wbe"}}). Fix: make the selector match the workload\'s pod template labels, or remove the PDB; ignore this if the pods are deployed outside this app.',
      );
    });

    it("pdb-selects-nothing for a raw PDB without selector", () => {
      const chart = Testing.chart();
      new k8s.KubePodDisruptionBudget(chart, "nosel", {
        metadata: { name: "nosel" },
        spec: { maxUnavailable: k8s.IntOrString.fromNumber(1) },
      });
      const [f] = checkDrainSafety(chart);
      expect(f.code).toBe("pdb-selects-nothing");
      expect(f.message).toContain("has no selector; a null selector selects no pods");
    });

    it("pdb-empty-selector (and the overlap it causes)", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 3, { app: "web" });
      pdb(chart, "web-pdb", { maxUnavailable: 1 }, { app: "web" });
      new PodDisruptionBudget(chart, "all", {
        metadata: { name: "all" },
        selector: {},
        maxUnavailable: 1,
      });
      const findings = checkDrainSafety(chart);
      expect(brief(findings)).toEqual([
        ["error", "pdb-overlap", "web-pdb", ["Deployment/web"]],
        ["warning", "pdb-empty-selector", "all", ["Deployment/web"]],
      ]);
      expect(findings[1].message).toContain(
        "has an empty selector, which selects every pod in the default namespace",
      );
    });

    it("pdb-unscalable for maxUnavailable or percentages over DaemonSet, Job, CronJob and bare Pod", () => {
      const chart = Testing.chart();
      const labels = { app: "agent" };
      const template = { metadata: { labels }, spec: { containers: [{ name: "c", image: "x" }] } };
      new k8s.KubeDaemonSet(chart, "ds", {
        metadata: { name: "agent" },
        spec: { selector: { matchLabels: labels }, template },
      });
      new k8s.KubeJob(chart, "job", {
        metadata: { name: "batch" },
        spec: { parallelism: 2, template },
      });
      new k8s.KubeCronJob(chart, "cj", {
        metadata: { name: "nightly" },
        spec: { schedule: "0 2 * * *", jobTemplate: { spec: { template } } },
      });
      new k8s.KubePod(chart, "pod", { metadata: { name: "solo", labels }, spec: template.spec });
      pdb(chart, "agent", { maxUnavailable: 1 }, labels);
      const findings = checkDrainSafety(chart);
      expect(brief(findings)).toEqual([
        [
          "error",
          "pdb-unscalable",
          "agent",
          ["DaemonSet/agent", "Job/batch", "CronJob/nightly", "Pod/solo"],
        ],
      ]);
      expect(findings[0].message).toContain("does not implement the scale subresource");
      expect(findings[0].message).toMatch(
        /A drain of a node running pods of Job\/batch.*CronJob\/nightly.*Pod\/solo.* waits on them until it times out \(bare pods: with force; without it the drain refuses them at once\)\./,
      );
      expect(findings[0].message).not.toMatch(/running pods of [^.]*DaemonSet/);
      expect(findings[0].message).toContain("Fix: use an integer minAvailable");
    });

    it("pdb-unscalable over DaemonSet pods only is a warning: a drain with ignoreDaemonSets skips them", () => {
      const chart = Testing.chart();
      const labels = { app: "agent" };
      const template = { metadata: { labels }, spec: { containers: [{ name: "c", image: "x" }] } };
      new k8s.KubeDaemonSet(chart, "ds", {
        metadata: { name: "agent" },
        spec: { selector: { matchLabels: labels }, template },
      });
      pdb(chart, "agent", { maxUnavailable: "10%" }, labels);
      const findings = checkDrainSafety(chart);
      expect(brief(findings)).toEqual([
        ["warning", "pdb-unscalable", "agent", ["DaemonSet/agent"]],
      ]);
      expect(findings[0].message).toContain("skips DaemonSet pods");
    });

    it("no pdb-unscalable for an integer minAvailable; bare pods and jobs count their pods", () => {
      const chart = Testing.chart();
      const labels = { app: "solo" };
      new k8s.KubePod(chart, "pod", {
        metadata: { name: "solo", labels },
        spec: { containers: [{ name: "c", image: "x" }] },
      });
      pdb(chart, "solo", { minAvailable: 0 }, labels);
      expect(checkDrainSafety(chart)).toEqual([]);
      pdb(chart, "solo-1", { minAvailable: 1 }, labels);
      expect(brief(checkDrainSafety(chart)).map(([, code]) => code)).toEqual([
        "pdb-blocks-drain",
        "pdb-overlap",
      ]);
    });

    it("a DaemonSet's pod count is unknown at synth: integer minAvailable is not judged", () => {
      const chart = Testing.chart();
      const labels = { app: "agent" };
      new k8s.KubeDaemonSet(chart, "ds", {
        metadata: { name: "agent" },
        spec: { selector: { matchLabels: labels }, template: { metadata: { labels } } },
      });
      pdb(chart, "agent", { minAvailable: 5 }, labels);
      expect(checkDrainSafety(chart)).toEqual([]);
    });
  });

  describe("pdb-invalid (raw objects the API server would reject)", () => {
    it("reports both fields, bad percentages and bad policies", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 3, { app: "web" });
      new k8s.KubePodDisruptionBudget(chart, "raw", {
        metadata: { name: "raw" },
        spec: {
          selector: { matchLabels: { app: "web" } },
          minAvailable: k8s.IntOrString.fromString("150%"),
          unhealthyPodEvictionPolicy: "Sometimes",
        },
      });
      const findings = checkDrainSafety(chart);
      expect(brief(findings).map(([severity, code]) => [severity, code])).toEqual([
        ["error", "pdb-invalid"],
        ["error", "pdb-invalid"],
      ]);
      expect(findings[0].message).toBe(
        'test/raw (PodDisruptionBudget raw): invalid minAvailable "150%": percentage must be between 0% and 100%. Fix: use a percentage from "0%" to "100%", e.g. minAvailable: 2 or minAvailable: "50%" (the API server would reject this PodDisruptionBudget)',
      );
      expect(findings[1].message).toContain('invalid spec.unhealthyPodEvictionPolicy "Sometimes"');
      expect(findings.map((f) => f.fix)).toEqual([
        'use a percentage from "0%" to "100%", e.g. minAvailable: 2 or minAvailable: "50%"',
        'use "AlwaysAllow"',
      ]);
    });
  });

  describe("downgrade", () => {
    function blocked() {
      const chart = Testing.chart();
      deployment(chart, "postgres", 1, { app: "postgres" });
      pdb(chart, "postgres", { minAvailable: 1 }, { app: "postgres" });
      deployment(chart, "web", 2, { app: "web" });
      pdb(chart, "web", { maxUnavailable: 0 }, { app: "web" });
      return chart;
    }

    it("turns a named error into a warning, leaving the others", () => {
      const findings = checkDrainSafety(blocked(), {
        downgrade: [
          {
            code: "pdb-blocks-drain",
            pdb: "postgres",
            reason: "single primary, failed over by hand",
          },
        ],
      });
      expect(brief(findings)).toEqual([
        ["error", "pdb-blocks-drain", "web", ["Deployment/web"]],
        ["warning", "pdb-blocks-drain", "postgres", ["Deployment/postgres"]],
      ]);
      expect(findings[1].downgraded).toBe(true);
      expect(findings[1].message).toMatch(
        / \[downgraded to a warning by the DrainSafety downgrade option: single primary, failed over by hand\]$/,
      );
    });

    it("matches by namespace/name or construct path, or every PDB when pdb is omitted", () => {
      expect(
        checkDrainSafety(blocked(), {
          downgrade: [{ code: "pdb-blocks-drain", pdb: "test/pdb-web" }],
        }).map((f) => [f.pdb, f.severity]),
      ).toEqual([
        ["postgres", "error"],
        ["web", "warning"],
      ]);
      expect(
        checkDrainSafety(blocked(), { downgrade: [{ code: "pdb-blocks-drain" }] }).every(
          (f) => f.severity === "warning",
        ),
      ).toBe(true);
      const app = Testing.app();
      const chart = new Chart(app, "c", { namespace: "db" });
      deployment(chart, "pg", 1, { app: "pg" });
      pdb(chart, "pg", { minAvailable: 1 }, { app: "pg" });
      expect(
        checkDrainSafety(app, { downgrade: [{ code: "pdb-blocks-drain", pdb: "db/pg" }] })[0]
          .severity,
      ).toBe("warning");
      expect(
        checkDrainSafety(app, { downgrade: [{ code: "pdb-blocks-drain", pdb: "other/pg" }] })[0]
          .severity,
      ).toBe("error");
    });

    it("downgrades an overlap by any of its PDBs", () => {
      const chart = Testing.chart();
      deployment(chart, "web", 3, { app: "web", tier: "frontend" });
      pdb(chart, "by-app", { maxUnavailable: 1 }, { app: "web" });
      pdb(chart, "by-tier", { maxUnavailable: 1 }, { tier: "frontend" });
      const [f] = checkDrainSafety(chart, { downgrade: [{ code: "pdb-overlap", pdb: "by-tier" }] });
      expect([f.code, f.severity, f.downgraded]).toEqual(["pdb-overlap", "warning", true]);
    });

    it("downgrades pdb-unscalable, an error for Job / CronJob / bare-pod budgets (not 'already a warning')", () => {
      const chart = Testing.chart();
      const labels = { app: "batch" };
      const template = { metadata: { labels }, spec: { containers: [{ name: "c", image: "x" }] } };
      new k8s.KubeJob(chart, "job", {
        metadata: { name: "batch" },
        spec: { parallelism: 2, template },
      });
      pdb(chart, "batch", { maxUnavailable: 1 }, labels);
      const [before] = checkDrainSafety(chart);
      expect([before.severity, before.code]).toEqual(["error", "pdb-unscalable"]);
      expect(before.message).toContain(
        'downgrade this error if those pods may hold a drain until it times out (DrainSafety option downgrade: [{ code: "pdb-unscalable", pdb: "batch" }])',
      );
      const [f] = checkDrainSafety(chart, {
        downgrade: [{ code: "pdb-unscalable", pdb: "batch", reason: "batch jobs wait" }],
      });
      expect([f.code, f.severity, f.downgraded]).toEqual(["pdb-unscalable", "warning", true]);
      expect(f.message).toMatch(
        /downgraded to a warning by the DrainSafety downgrade option: batch jobs wait\]$/,
      );
      // the construct accepts it too and synth passes with the downgraded finding as a warning
      const warned: Finding[] = [];
      new DrainSafety(chart, "drain-safety", {
        downgrade: [{ code: "pdb-unscalable", pdb: "batch" }],
        onWarnings: (ws) => warned.push(...ws),
      });
      expect(() => Testing.synth(chart)).not.toThrow();
      expect(brief(warned)).toEqual([["warning", "pdb-unscalable", "batch", ["Job/batch"]]]);
    });

    it("rejects codes that are not errors", () => {
      const chart = Testing.chart();
      let e: unknown;
      try {
        checkDrainSafety(chart, { downgrade: [{ code: "pdb-selects-nothing" as never }] });
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as Error).message).toBe(
        'test: invalid downgrade[0].code "pdb-selects-nothing": is already a warning. Fix: use one of pdb-blocks-drain, pdb-overlap, pdb-invalid, pdb-unscalable',
      );
      expect(
        () => new DrainSafety(chart, "ds", { downgrade: [{ code: "pdb-block" as never }] }),
      ).toThrow('test/ds: invalid downgrade[0].code "pdb-block": is not a DrainSafety error code');
    });
  });
});

describe("the fix of each finding", () => {
  /** Builds a chart with one finding of `code` (a Job for the unscalable cases). */
  const job = (chart: Chart, name: string, labels: Record<string, string>) =>
    new k8s.KubeJob(chart, name, {
      metadata: { name },
      spec: {
        template: { metadata: { labels }, spec: { containers: [{ name: "c", image: "x" }] } },
      },
    });
  const daemonSet = (chart: Chart, name: string, labels: Record<string, string>) =>
    new k8s.KubeDaemonSet(chart, name, {
      metadata: { name },
      spec: { selector: { matchLabels: labels }, template: { metadata: { labels } } },
    });
  /** One Deployment "web" and a PDB "web" over it. */
  const web =
    (replicas: number, budget: { minAvailable?: number | string; maxUnavailable?: number }) =>
    (c: Chart) => {
      deployment(c, "web", replicas, { app: "web" });
      pdb(c, "web", budget, { app: "web" });
    };
  const CASES: [string, (chart: Chart) => void, string][] = [
    [
      "pdb-blocks-drain, minAvailable over a single replica",
      web(1, { minAvailable: 1 }),
      'run at least 2 replicas so one can be evicted while the other serves, or downgrade this error if the workload may be interrupted only by hand (DrainSafety option downgrade: [{ code: "pdb-blocks-drain", pdb: "web" }])',
    ],
    [
      "pdb-blocks-drain, minAvailable = replicas",
      web(3, { minAvailable: 3 }),
      "allow at least one disruption: maxUnavailable: 1 or minAvailable: 2, or raise the replica count",
    ],
    [
      "pdb-blocks-drain, maxUnavailable 0",
      web(3, { maxUnavailable: 0 }),
      "set maxUnavailable to at least 1 (or a percentage above 0%)",
    ],
    [
      'pdb-blocks-drain, minAvailable "100%"',
      web(3, { minAvailable: "100%" }),
      "use a minAvailable below 100%, e.g. maxUnavailable: 1 instead",
    ],
    [
      "pdb-overlap",
      (c) => {
        deployment(c, "web", 3, { app: "web", tier: "frontend" });
        pdb(c, "by-app", { maxUnavailable: 1 }, { app: "web" });
        pdb(c, "by-tier", { maxUnavailable: 1 }, { tier: "frontend" });
      },
      "keep one PDB per workload; narrow the selectors so each pod matches exactly one",
    ],
    [
      "pdb-unscalable over a Job (an error)",
      (c) => {
        job(c, "batch", { app: "batch" });
        pdb(c, "batch", { maxUnavailable: 1 }, { app: "batch" });
      },
      'use an integer minAvailable for them, or narrow the selector to scalable workloads, or downgrade this error if those pods may hold a drain until it times out (DrainSafety option downgrade: [{ code: "pdb-unscalable", pdb: "batch" }])',
    ],
    [
      "pdb-unscalable over DaemonSet pods only (a warning)",
      (c) => {
        daemonSet(c, "agent", { app: "agent" });
        pdb(c, "agent", { maxUnavailable: 1 }, { app: "agent" });
      },
      "use an integer minAvailable for them, or narrow the selector to scalable workloads",
    ],
    [
      "pdb-selects-nothing",
      (c) => pdb(c, "typo", { maxUnavailable: 1 }, { app: "wbe" }),
      "make the selector match the workload's pod template labels, or remove the PDB; ignore this if the pods are deployed outside this app",
    ],
    [
      "pdb-selects-nothing, no selector",
      (c) =>
        new k8s.KubePodDisruptionBudget(c, "nosel", {
          metadata: { name: "nosel" },
          spec: { maxUnavailable: k8s.IntOrString.fromNumber(1) },
        }),
      "set spec.selector to the workload's selector (PodDisruptionBudget.forWorkload does this)",
    ],
    [
      "pdb-empty-selector",
      (c) => {
        deployment(c, "web", 3, { app: "web" });
        new PodDisruptionBudget(c, "all", { selector: {}, maxUnavailable: 1 });
      },
      'select one workload\'s pods, e.g. selector: { matchLabels: { app: "<name>" } }',
    ],
  ];

  it.each(CASES)("%s", (_name, build, fix) => {
    const chart = Testing.chart();
    build(chart);
    const [f] = checkDrainSafety(chart);
    expect(f.fix).toBe(fix);
    expect(f.message.endsWith(` Fix: ${fix}.`)).toBe(true);
  });

  it("covers every code", () => {
    const codes = new Set(
      CASES.flatMap(([, build]) => {
        const chart = Testing.chart();
        build(chart);
        return checkDrainSafety(chart).map((f) => f.code);
      }),
    );
    codes.add("pdb-invalid"); // its fix is the ValidationError's: the pdb-invalid test above
    expect([...codes].sort()).toEqual(
      [...DRAIN_SAFETY_ERROR_CODES, ...DRAIN_SAFETY_WARNING_CODES].sort(),
    );
  });

  it("a downgraded finding keeps its fix; the reason goes to the message only", () => {
    const chart = Testing.chart();
    deployment(chart, "db", 1, { app: "db" });
    pdb(chart, "db", { minAvailable: 1 }, { app: "db" });
    const [before] = checkDrainSafety(chart);
    const [after] = checkDrainSafety(chart, {
      downgrade: [{ code: "pdb-blocks-drain", reason: "moved by hand" }],
    });
    expect([after.severity, after.fix]).toEqual(["warning", before.fix]);
    expect(after.message).toBe(
      `${before.message} [downgraded to a warning by the DrainSafety downgrade option: moved by hand]`,
    );
  });
});

describe("DrainSafety construct", () => {
  it("fails Testing.synth listing every error at once, with PDB and workload names", () => {
    const chart = Testing.chart();
    deployment(chart, "web", 3, { app: "web" });
    pdb(chart, "web-zero", { maxUnavailable: 0 }, { app: "web" });
    deployment(chart, "api", 2, { app: "api" });
    pdb(chart, "api-all", { minAvailable: 2 }, { app: "api" });
    new DrainSafety(chart, "drain-safety", { onWarnings: () => undefined });
    const message = synthError(chart);
    const lines = message.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe("Validation failed with the following errors:");
    expect(lines[1]).toMatch(
      /^  \[test\/drain-safety\] DrainSafety error \[pdb-blocks-drain\]: PodDisruptionBudget web-zero .* Fix: /,
    );
    expect(lines[2]).toMatch(
      /^  \[test\/drain-safety\] DrainSafety error \[pdb-blocks-drain\]: PodDisruptionBudget api-all .* Fix: /,
    );
    expect(message).toContain("Deployment/web");
    expect(message).toContain("Deployment/api (2 replicas)");
  });

  it("synthesizes when there are only warnings, and reports them once", () => {
    const chart = Testing.chart();
    deployment(chart, "web", 3, { app: "web" });
    pdb(chart, "typo", { maxUnavailable: 1 }, { app: "wbe" });
    const seen: Finding[][] = [];
    new DrainSafety(chart, "drain-safety", { onWarnings: (ws) => seen.push([...ws]) });
    expect(Testing.synth(chart).map((o) => o.kind)).toEqual(["Deployment", "PodDisruptionBudget"]);
    Testing.synth(chart);
    expect(seen).toHaveLength(1);
    expect(seen[0].map((f) => f.code)).toEqual(["pdb-selects-nothing"]);
  });

  it("prints warnings with console.warn by default", () => {
    const chart = Testing.chart();
    pdb(chart, "typo", { maxUnavailable: 1 }, { app: "wbe" });
    new DrainSafety(chart, "drain-safety");
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      Testing.synth(chart);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toMatch(
        /^kube-upkeep DrainSafety warning \[pdb-selects-nothing\]: PodDisruptionBudget typo/,
      );
    } finally {
      warn.mockRestore();
    }
  });

  it("honours downgrades and exposes findings()", () => {
    const chart = Testing.chart();
    deployment(chart, "pg", 1, { app: "pg" });
    pdb(chart, "pg", { minAvailable: 1 }, { app: "pg" });
    const check = new DrainSafety(chart, "drain-safety", {
      downgrade: [{ code: "pdb-blocks-drain", pdb: "pg" }],
      onWarnings: () => undefined,
    });
    expect(() => Testing.synth(chart)).not.toThrow();
    expect(check.findings().map((f) => [f.code, f.severity])).toEqual([
      ["pdb-blocks-drain", "warning"],
    ]);
    expect(check.target).toBe(chart);
  });

  it("added to the App, fails app.synth() for a cross-chart overlap", () => {
    const app = new App({ outdir: Testing.app().outdir });
    const workloads = new Chart(app, "workloads");
    const policies = new Chart(app, "policies");
    deployment(workloads, "web", 2, { app: "web" });
    pdb(workloads, "web-a", { maxUnavailable: 1 }, { app: "web" });
    pdb(policies, "web-b", { maxUnavailable: 1 }, { app: "web" });
    new DrainSafety(app, "drain-safety");
    expect(() => app.synth()).toThrow(
      "[drain-safety] DrainSafety error [pdb-overlap]: Pods of Deployment/web (2 replicas) in the default namespace are selected by 2 PodDisruptionBudgets: web-a, web-b.",
    );
  });
});

describe("examples/cdk8s/pdb-examples", () => {
  it("synthesizes the field guide's web-pdb and zk-pdb with DrainSafety passing", () => {
    const chart = new Chart(Testing.app(), "maintenance", { namespace: "demo" });
    const examples = addPdbExamples(chart);
    const warn = jest.spyOn(console, "warn");
    try {
      const objects = Testing.synth(chart);
      expect(warn).not.toHaveBeenCalled();
      const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget");
      expect(pdbs).toEqual([
        {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: { name: "web-pdb", namespace: "demo" },
          spec: {
            maxUnavailable: 1,
            selector: { matchLabels: { app: "web" } },
            unhealthyPodEvictionPolicy: "AlwaysAllow",
          },
        },
        {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: { name: "zk-pdb", namespace: "demo" },
          spec: {
            minAvailable: 2,
            selector: { matchLabels: { app: "zookeeper" } },
            unhealthyPodEvictionPolicy: "AlwaysAllow",
          },
        },
      ]);
      const web = objects.find((o) => o.kind === "Deployment");
      const zk = objects.find((o) => o.kind === "StatefulSet");
      expect([web.spec.replicas, web.spec.template.metadata.labels.app]).toEqual([3, "web"]);
      expect([zk.spec.replicas, zk.spec.template.metadata.labels.app]).toEqual([3, "zookeeper"]);
      expect(examples.drainSafety.findings()).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });
});
