/**
 * Property test of the skew rules (lib/core/version.ts validateUpgrade, and planUpgrade on top of
 * it): for random clusters (control-plane and worker kubelet versions) and targets, an upgrade
 * is accepted iff an oracle written here from the sources says so:
 *
 *  - kubeadm (kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/): the
 *    control plane moves to its own minor (a patch release) or the next one, never back, never
 *    to another major ("Skipping MINOR versions when upgrading is unsupported"); the control
 *    plane is as old as its oldest node;
 *  - the version skew policy (kubernetes.io/releases/version-skew-policy/), in minor versions:
 *    kube-apiserver instances of an HA control plane at most one minor apart; a kubelet never
 *    newer than kube-apiserver, and at most three minors older (two for kubelets older than
 *    v1.25), which must still hold for the workers left at their version while the control
 *    plane is at the target.
 *
 * The oracle compares versions itself (numbers, not the library), and reads "newer than
 * kube-apiserver" as newer than every control-plane node: a worker at the newest control-plane
 * version is where a half-done roll leaves it (the roll brings the rest up), one beyond that was
 * upgraded before the control plane.
 */
import fc from "fast-check";
import { ValidationErrors } from "../../../lib/core/errors";
import { planUpgrade } from "../../../lib/core/plan";
import { validateUpgrade, type VersionedNode } from "../../../lib/core/version";

interface V {
  major: number;
  minor: number;
  patch: number;
}

const text = (v: V) => `v${v.major}.${v.minor}.${v.patch}`;
/** Full version order (no pre-releases are generated). */
const cmp = (a: V, b: V) => a.major - b.major || a.minor - b.minor || a.patch - b.patch;
/** Minors a is behind b (majors never mix where this is used). */
const behind = (a: V, b: V) => b.minor - a.minor;

/** Why the policy refuses the upgrade (empty: it is supported). */
function oracle(cps: V[], workers: V[], target: V): string[] {
  const why: string[] = [];
  const all = [...cps, ...workers];
  if (all.some((v) => v.major !== target.major)) return ["a major version change"];
  if (all.some((v) => cmp(v, target) > 0)) why.push("a node would be downgraded");
  const oldest = [...cps].sort(cmp)[0];
  const newest = [...cps].sort(cmp).at(-1)!;
  const step = target.minor - oldest.minor;
  if (step !== 0 && step !== 1) why.push(`the control plane would move ${step} minors`);
  if (behind(oldest, newest) > 1) why.push("HA kube-apiservers more than one minor apart");
  for (const w of workers) {
    if (cmp(w, newest) > 0) why.push(`worker ${text(w)} is newer than every control-plane node`);
    else if (behind(w, target) > (w.minor < 25 ? 2 : 3))
      why.push(`worker ${text(w)} too far behind ${text(target)}`);
  }
  return why;
}

/** Versions around a base minor, so that every rule is hit often both ways. */
const cluster = fc
  .record({
    base: fc.integer({ min: 22, max: 38 }),
    cps: fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.nat(3)), {
      minLength: 1,
      maxLength: 3,
    }),
    workers: fc.array(fc.tuple(fc.integer({ min: -4, max: 1 }), fc.nat(3)), { maxLength: 4 }),
    // mostly the newest patch of its minor, so that "no downgrade" does not decide most cases
    target: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.oneof(fc.constant(3), fc.nat(3))),
    otherMajor: fc.option(fc.nat(6), { freq: 30, nil: undefined }),
  })
  .map(({ base, cps, workers, target, otherMajor }) => {
    const v = ([dm, patch]: [number, number], i = -1): V => ({
      major: otherMajor === i ? 2 : 1,
      minor: base + dm,
      patch,
    });
    const cpv = cps.map((x, i) => v(x, i));
    const wv = workers.map((x, i) => v(x, cps.length + i));
    return { cps: cpv, workers: wv, target: v(target, 6) };
  });

function nodesOf(cps: V[], workers: V[]): VersionedNode[] {
  return [
    ...cps.map((v, i) => ({
      name: `cp-${i + 1}`,
      role: "control-plane" as const,
      version: text(v),
    })),
    ...workers.map((v, i) => ({ name: `w-${i + 1}`, role: "worker" as const, version: text(v) })),
  ];
}

test("validateUpgrade and planUpgrade accept an upgrade iff the skew policy and kubeadm allow it", () => {
  let accepted = 0;
  fc.assert(
    fc.property(cluster, ({ cps, workers, target }) => {
      const why = oracle(cps, workers, target);
      const nodes = nodesOf(cps, workers);
      const errors = validateUpgrade({ nodes, targetVersion: text(target) }).filter(
        (f) => f.severity === "error",
      );
      const case_ = { cps: cps.map(text), workers: workers.map(text), target: text(target) };
      // on a mismatch, the failure shows the oracle's reasons and the findings
      const mismatch = (why.length === 0) !== (errors.length === 0);
      const detail = mismatch ? { oracle: why, findings: errors.map((f) => f.message) } : {};
      expect({ ...case_, accepted: errors.length === 0, ...detail }).toEqual({
        ...case_,
        accepted: why.length === 0,
        ...detail,
      });
      let planned = true;
      try {
        planUpgrade({ nodes, targetVersion: text(target), etcdSnapshot: false });
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationErrors);
        planned = false;
      }
      expect({ ...case_, planned }).toEqual({ ...case_, planned: why.length === 0 });
      if (planned) accepted++;
    }),
    { numRuns: 3000 },
  );
  // both outcomes were common
  expect(accepted).toBeGreaterThan(150);
  expect(accepted).toBeLessThan(2700);
});
