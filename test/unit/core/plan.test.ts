import fc from "fast-check";
import { ValidationErrors } from "../../../lib/core/errors";
import {
  formatPlan,
  planUpgrade,
  resolveMaxUnavailable,
  type PlanNodeInput,
  type UpgradePlan,
} from "../../../lib/core/plan";

const nodes = (cp: number, workers: number, version = "v1.34.2"): PlanNodeInput[] => [
  ...Array.from({ length: cp }, (_, i) => ({
    name: `cp-${i + 1}`,
    role: "control-plane" as const,
    version,
  })),
  ...Array.from({ length: workers }, (_, i) => ({
    name: `w-${i + 1}`,
    role: "worker" as const,
    version,
  })),
];
const step = (plan: UpgradePlan, id: string) => plan.steps.find((s) => s.id === id)!;

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationErrors) return e.errors.map((x) => x.message);
    throw e;
  }
  throw new Error("expected ValidationErrors");
}

describe("planUpgrade", () => {
  it("orders snapshot -> control plane one at a time -> worker chains", () => {
    const plan = planUpgrade({ nodes: nodes(3, 5), targetVersion: "v1.35.4", maxUnavailable: 2 });
    expect(plan.steps.map((s) => [s.id, s.action, s.dependsOn.join(",")])).toEqual([
      ["etcd-snapshot", "etcd-snapshot", ""],
      ["node/cp-1", "kubeadm-upgrade-apply", "etcd-snapshot"],
      ["node/cp-2", "kubeadm-upgrade-node", "node/cp-1"],
      ["node/cp-3", "kubeadm-upgrade-node", "node/cp-2"],
      ["node/w-1", "kubeadm-upgrade-node", "node/cp-3"],
      ["node/w-2", "kubeadm-upgrade-node", "node/cp-3"],
      ["node/w-3", "kubeadm-upgrade-node", "node/w-1"],
      ["node/w-4", "kubeadm-upgrade-node", "node/w-2"],
      ["node/w-5", "kubeadm-upgrade-node", "node/w-3"],
    ]);
    expect(plan.chains).toEqual([
      ["w-1", "w-3", "w-5"],
      ["w-2", "w-4"],
    ]);
    expect(plan.controlPlaneOrder).toEqual(["cp-1", "cp-2", "cp-3"]);
    expect(step(plan, "node/w-4")).toMatchObject({ from: "v1.34.2", to: "v1.35.4", chain: 1 });
    expect(plan).toMatchObject({
      maxUnavailable: 2,
      failurePolicy: "leave-cordoned",
      controlPlaneVersion: "v1.34.2",
    });
  });

  it("marks nodes at the target as skip, and lets upgrade node follow an earlier apply", () => {
    const input = nodes(3, 3);
    const plan = planUpgrade({
      nodes: input.map((n) =>
        n.name === "cp-1" || n.name === "w-2" ? { ...n, version: "v1.35.4" } : n,
      ),
      targetVersion: "v1.35.4",
      etcdSnapshot: false,
    });
    expect(plan.steps.map((s) => `${s.id}:${s.action}:${s.dependsOn.join(",")}`)).toEqual([
      "node/cp-2:kubeadm-upgrade-node:",
      "node/cp-3:kubeadm-upgrade-node:node/cp-2",
      "node/w-1:kubeadm-upgrade-node:node/cp-3",
      "node/w-3:kubeadm-upgrade-node:node/w-1",
      "node/cp-1:skip:",
      "node/w-2:skip:",
    ]);
    expect(plan.skipped).toEqual(["cp-1", "w-2"]);
    // nothing to do at all: no snapshot either
    const done = planUpgrade({ nodes: nodes(1, 1, "v1.35.4"), targetVersion: "v1.35.4" });
    expect(done.steps.map((s) => s.action)).toEqual(["skip", "skip"]);
  });

  it("resolves maxUnavailable: counts, percentages rounded down, at least 1", () => {
    expect(resolveMaxUnavailable(undefined, 10)).toBe(1);
    expect(resolveMaxUnavailable(3, 10)).toBe(3);
    expect(resolveMaxUnavailable("25%", 10)).toBe(2);
    expect(resolveMaxUnavailable("5%", 10)).toBe(1);
    expect(resolveMaxUnavailable("100%", 7)).toBe(7);
    expect(resolveMaxUnavailable("50%", 0)).toBe(1);
    for (const bad of [0, -1, 1.5, "0%", "101%", "abc", "10", "%"]) {
      expect(() => resolveMaxUnavailable(bad as never, 10)).toThrow(/invalid maxUnavailable/);
    }
    // larger than the workers that need work: clamped
    expect(
      planUpgrade({ nodes: nodes(1, 2), targetVersion: "v1.35.0", maxUnavailable: 10 })
        .maxUnavailable,
    ).toBe(2);
  });

  it("reports every input problem at once", () => {
    const msgs = problems(() =>
      planUpgrade({
        nodes: [
          { name: "w-1", role: "worker", version: "v1.34.0" },
          { name: "w-1", role: "worker", version: "v1.34.0" },
          { name: "Bad_Name", role: "worker", version: "v1.34.0" },
          { name: "x", role: "master" as never, version: "v1.34.0" },
        ],
        targetVersion: "v1.35.0",
        maxUnavailable: 0,
        failurePolicy: "retry" as never,
      }),
    );
    expect(msgs).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/nodes\[1\]\.name "w-1": duplicate node name/),
        expect.stringMatching(/nodes\[2\]\.name "Bad_Name": not a DNS-1123 name/),
        expect.stringMatching(/nodes\[3\]\.role "master": unknown role/),
        expect.stringMatching(/invalid nodes .*no control-plane node/),
        expect.stringMatching(/invalid failurePolicy "retry"/),
        expect.stringMatching(/invalid maxUnavailable 0/),
      ]),
    );
    expect(problems(() => planUpgrade({ nodes: nodes(1, 1), targetVersion: "1.35" }))).toEqual([
      expect.stringMatching(/invalid targetVersion "1.35": \[version-format\]/),
    ]);
    expect(
      problems(() => planUpgrade({ nodes: nodes(1, 1, "v1.33.0"), targetVersion: "v1.35.0" })),
    ).toEqual([expect.stringMatching(/\[one-minor-at-a-time\]/)]);
    expect(() => planUpgrade({ nodes: [], targetVersion: "v1.35.0" })).toThrow(
      /no nodes to upgrade/,
    );
  });

  it("formatPlan renders a table like kubeadm upgrade plan", () => {
    const plan = planUpgrade({
      nodes: nodes(2, 3),
      targetVersion: "v1.35.4",
      maxUnavailable: "50%",
    });
    const text = formatPlan(plan);
    expect(text.split("\n")).toEqual([
      "Upgrade plan: control plane v1.34.2 -> v1.35.4, workers 1 at a time in 1 chain(s) (failure policy: leave-cordoned)",
      "",
      "STEP  NODE  ROLE           CURRENT  TARGET   ACTION                         CHAIN  AFTER",
      "1     cp-1  control-plane  -        -        etcd snapshot                  -      -",
      "2     cp-1  control-plane  v1.34.2  v1.35.4  kubeadm upgrade apply v1.35.4  -      etcd-snapshot",
      "3     cp-2  control-plane  v1.34.2  v1.35.4  kubeadm upgrade node           -      cp-1",
      "4     w-1   worker         v1.34.2  v1.35.4  kubeadm upgrade node           1      cp-2",
      "5     w-2   worker         v1.34.2  v1.35.4  kubeadm upgrade node           1      w-1",
      "6     w-3   worker         v1.34.2  v1.35.4  kubeadm upgrade node           1      w-2",
    ]);
  });
});

/** Simulates the plan as a scheduler would run it: a step starts once its dependencies are done. */
function simulate(plan: UpgradePlan, durations: Map<string, number>) {
  const start = new Map<string, number>();
  const end = new Map<string, number>();
  const pending = [...plan.steps];
  while (pending.length) {
    const i = pending.findIndex((s) => s.dependsOn.every((d) => end.has(d)));
    if (i < 0) throw new Error("cycle or missing dependency");
    const s = pending.splice(i, 1)[0]!;
    const t = Math.max(0, ...s.dependsOn.map((d) => end.get(d)!));
    start.set(s.id, t);
    end.set(s.id, t + (durations.get(s.id) ?? 1));
  }
  return { start, end };
}

describe("planUpgrade properties", () => {
  const arb = fc.record({
    cp: fc.integer({ min: 1, max: 5 }),
    workers: fc.integer({ min: 0, max: 40 }),
    k: fc.oneof(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 100 }).map((p) => `${p}%`),
    ),
    cpDone: fc.integer({ min: 0, max: 5 }),
    atTarget: fc.array(fc.boolean(), { minLength: 45, maxLength: 45 }),
    durations: fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 50, maxLength: 50 }),
  });

  it("never has more than k workers out, every worker in exactly one chain, control plane serial and first", () => {
    fc.assert(
      fc.property(arb, ({ cp, cpDone, workers, k, atTarget, durations }) => {
        // a resumed roll: the first cpDone control-plane nodes are done; workers only once all are
        const done = (n: PlanNodeInput, i: number) =>
          n.role === "control-plane" ? i < cpDone : cpDone >= cp && atTarget[i];
        const input = nodes(cp, workers).map((n, i) =>
          done(n, i) ? { ...n, version: "v1.35.0" } : n,
        );
        const plan = planUpgrade({ nodes: input, targetVersion: "v1.35.0", maxUnavailable: k });
        const todoWorkers = input
          .filter((n) => n.role === "worker" && n.version !== "v1.35.0")
          .map((n) => n.name);
        const resolved = resolveMaxUnavailable(k, workers);

        // every worker that needs work is in exactly one chain, in input order within its chain
        const flat = plan.chains.flat();
        expect([...flat].sort()).toEqual([...todoWorkers].sort());
        expect(new Set(flat).size).toBe(flat.length);
        for (const chain of plan.chains) {
          expect(chain).toEqual(todoWorkers.filter((w) => chain.includes(w)));
        }
        expect(plan.chains.length).toBe(Math.min(resolved, todoWorkers.length));
        // every node appears in exactly one step
        expect(
          plan.steps
            .filter((s) => s.action !== "etcd-snapshot")
            .map((s) => s.node)
            .sort(),
        ).toEqual(input.map((n) => n.name).sort());

        const d = new Map(plan.steps.map((s, i) => [s.id, durations[i % durations.length]!]));
        const { start, end } = simulate(plan, d);
        const ids = (role: string) =>
          plan.steps
            .filter((s) => s.role === role && s.action !== "skip" && s.action !== "etcd-snapshot")
            .map((s) => s.id);
        const cps = ids("control-plane");
        // control plane strictly one at a time, in order, after the snapshot
        for (let i = 1; i < cps.length; i++)
          expect(start.get(cps[i]!)!).toBeGreaterThanOrEqual(end.get(cps[i - 1]!)!);
        if (plan.steps[0]?.id === "etcd-snapshot")
          for (const s of plan.steps.slice(1))
            if (s.action !== "skip")
              expect(start.get(s.id)!).toBeGreaterThanOrEqual(end.get("etcd-snapshot")!);
        // workers only after the whole control plane
        const cpEnd = Math.max(0, ...cps.map((c) => end.get(c)!));
        const ws = ids("worker");
        for (const w of ws) expect(start.get(w)!).toBeGreaterThanOrEqual(cpEnd);
        // at most k workers out at any moment (check at every start)
        for (const w of ws) {
          const t = start.get(w)!;
          const out = ws.filter((x) => start.get(x)! <= t && t < end.get(x)!).length;
          expect(out).toBeLessThanOrEqual(plan.maxUnavailable);
          expect(plan.maxUnavailable).toBeLessThanOrEqual(Math.max(1, resolved));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("planUpgrade: fields of the problems", () => {
  it("a skipped minor is an invalid targetVersion; a bad node name is reported once", () => {
    expect(
      problems(() => planUpgrade({ nodes: nodes(1, 1, "v1.33.0"), targetVersion: "v1.35.0" })),
    ).toEqual([
      expect.stringMatching(
        /^planUpgrade: invalid targetVersion "v1.35.0": \[one-minor-at-a-time\] .*\(node cp-1\)/,
      ),
    ]);
    const msgs = problems(() =>
      planUpgrade({
        nodes: [...nodes(1, 0), { name: "w1; rm -rf /", role: "worker", version: "v1.34.2" }],
        targetVersion: "v1.35.0",
      }),
    );
    expect(msgs).toEqual([
      expect.stringMatching(
        /^planUpgrade: invalid nodes\[1\]\.name "w1; rm -rf \/": not a DNS-1123 name/,
      ),
    ]);
  });
});
