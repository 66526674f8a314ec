import {
  DrainFilterError,
  DrainTimeoutError,
  ValidationError,
  ValidationErrors,
} from "kube-upkeep/core";
import { validateDrainOptions } from "../../../../lib/core/drain/drain";
import { formatMs, multiplePdbMessage, pdbRetryMessage } from "../../../../lib/core/drain/messages";

describe("drain messages", () => {
  test("formatMs reads like Go durations", () => {
    expect(formatMs(5000)).toBe("5s");
    expect(formatMs(250)).toBe("250ms");
    expect(formatMs(1500)).toBe("1.5s");
    expect(formatMs(90_000)).toBe("1m30s");
    expect(formatMs(600_000)).toBe("10m0s");
  });

  test("a 429 retry names the pod (kubectl wording) and the PodDisruptionBudget with its status", () => {
    const msg = pdbRetryMessage(
      "shop/web-1",
      [
        {
          name: "shop/web-pdb",
          disruptionsAllowed: 0,
          currentHealthy: 2,
          desiredHealthy: 2,
          expectedPods: 2,
        },
      ],
      5000,
      "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    expect(msg).toBe(
      'error when evicting pods/"web-1" -n "shop" (will retry after 5s): Cannot evict pod as it would ' +
        "violate the pod's disruption budget. [blocked by PodDisruptionBudget shop/web-pdb " +
        "(disruptionsAllowed 0, 2 healthy, 2 desired, 2 expected)]",
    );
  });

  test("a 429 retried as soon as the budget allows says so, with the interval as the upper bound", () => {
    expect(pdbRetryMessage("shop/web-1", [], 5000, "Cannot evict pod.", true)).toBe(
      'error when evicting pods/"web-1" -n "shop" (will retry when the budget allows it, at the latest after 5s): ' +
        "Cannot evict pod. [blocked by a PodDisruptionBudget (none found matching the pod's labels any more)]",
    );
  });

  test("500 with more than one PDB names them and says how to fix it", () => {
    const msg = multiplePdbMessage(
      "shop/web-1",
      [{ name: "shop/a" }, { name: "shop/b" }],
      "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
    );
    expect(msg).toContain("2 PodDisruptionBudgets: shop/a, shop/b");
    expect(msg).toContain("Fix: make the PodDisruptionBudget selectors disjoint");
  });

  test("timeout error lists the pods still there, the blocking PDBs, and says the node stays cordoned", () => {
    const e = new DrainTimeoutError(
      "worker-1",
      30_000,
      [
        {
          pod: "shop/web-1",
          state: "evicting",
          blockedBy: [{ name: "shop/web-pdb", disruptionsAllowed: 0 }],
        },
        { pod: "shop/slow", state: "terminating", blockedBy: [] },
      ],
      ["shop/other"],
    );
    expect(e.message).toContain(
      'drain of node "worker-1" timed out after 30s; node "worker-1" stays cordoned',
    );
    expect(e.message).toContain(
      "shop/web-1: eviction refused by PodDisruptionBudget shop/web-pdb (disruptionsAllowed 0)",
    );
    expect(e.message).toContain("shop/slow: evicted, still terminating");
    expect(e.nodeCordoned).toBe(true);
    expect(e.name).toBe("DrainTimeoutError");
  });

  test("filter error lists every problem and the node state", () => {
    const e = new DrainFilterError("w1", false, ["cannot delete A: ns/a", "cannot delete B: ns/b"]);
    expect(e.message).toBe(
      'cannot drain node "w1": nothing was evicted, the node is schedulable (left as it was).\n' +
        "error: cannot delete A: ns/a\nerror: cannot delete B: ns/b",
    );
  });

  test("options are validated together; a zero timeout (kubectl: forever) is refused", () => {
    expect(() => validateDrainOptions("drainNode", "w1", { timeoutSeconds: 0 })).toThrow(
      ValidationError,
    );
    expect(() => validateDrainOptions("drainNode", "w1", { timeoutSeconds: 0 })).toThrow(
      /invalid timeoutSeconds 0: must be a positive number of seconds \(kubectl's 0 = wait forever is not supported\)/,
    );
    let err: unknown;
    try {
      validateDrainOptions("drainNode", "Bad_Node", {
        concurrency: 0,
        gracePeriodSeconds: -1,
        retryIntervalMs: 0,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationErrors);
    expect((err as ValidationErrors).errors.map((e) => e.field)).toEqual([
      "nodeName",
      "gracePeriodSeconds",
      "retryIntervalMs",
      "concurrency",
    ]);
    expect(() => validateDrainOptions("x", "w1", {})).not.toThrow();
  });
});
