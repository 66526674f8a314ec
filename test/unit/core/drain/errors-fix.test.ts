/**
 * The "Fix:" of a drain timeout fits what kept the pods on the node: a PodDisruptionBudget
 * refusal, an eviction not accepted for another reason, a pod stuck terminating, or a pod never
 * started because of the concurrency bound. Only PDB-blocked pods get the PDB remedy.
 */
import { DrainTimeoutError, type PendingPod } from "../../../../lib/core/drain/errors";

const PDB_FIX =
  "let the PodDisruptionBudgets allow a disruption (scale the workload up, or relax minAvailable/maxUnavailable)";
const TAIL = "raise timeoutSeconds; then drain again, or uncordon the node to give up.";

function fixOf(pending: PendingPod[]): string {
  const msg = new DrainTimeoutError("w1", 10_000, pending, []).message;
  const fix = msg.slice(msg.lastIndexOf("\nFix: ") + 1);
  expect(fix).toMatch(/^Fix: /);
  expect(fix.endsWith(TAIL)).toBe(true);
  return fix;
}

const blocked: PendingPod = {
  pod: "shop/web-1",
  state: "evicting",
  blockedBy: [{ name: "shop/web-pdb", disruptionsAllowed: 0 }],
};
const terminating: PendingPod = { pod: "shop/slow", state: "terminating", blockedBy: [] };
const notStarted: PendingPod = { pod: "shop/later", state: "not-started", blockedBy: [] };
const notAccepted: PendingPod = { pod: "shop/x", state: "evicting", blockedBy: [] };

describe("DrainTimeoutError: the fix fits the cause", () => {
  test("a pod stuck terminating, no PDB involved: no PDB remedy, says why pods stay terminating", () => {
    const fix = fixOf([terminating]);
    expect(fix).not.toContain("PodDisruptionBudget");
    expect(fix).toContain("find out why the evicted pods do not terminate (kubectl describe pod)");
    expect(fix).toContain("metadata.finalizers");
    expect(fix).toContain("skipWaitForDeleteTimeoutSeconds");
  });

  test("PDB-blocked pods: the PDB remedy only", () => {
    expect(fixOf([blocked])).toBe(`Fix: ${PDB_FIX}; or ${TAIL}`);
  });

  test("pods not started (concurrency bound): raise concurrency, no PDB remedy", () => {
    expect(fixOf([notStarted])).toBe(
      `Fix: raise concurrency (pods were still waiting for a free eviction slot); or ${TAIL}`,
    );
  });

  test("an eviction not accepted without a PDB refusal: points at the API server, no PDB remedy", () => {
    const fix = fixOf([notAccepted]);
    expect(fix).not.toContain("PodDisruptionBudget");
    expect(fix).toContain("find out why the API server did not accept the evictions");
  });

  test("several causes: one remedy each, PDB first, each once", () => {
    const fix = fixOf([terminating, blocked, notStarted, { ...blocked, pod: "shop/web-2" }]);
    expect(
      fix.startsWith(`Fix: ${PDB_FIX}; or find out why the evicted pods do not terminate`),
    ).toBe(true);
    expect(fix.split(PDB_FIX)).toHaveLength(2);
    expect(fix).toContain("; or raise concurrency");
  });
});
