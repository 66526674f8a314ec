/** BudgetWatch's waiting rules, driven by observed statuses (no cluster; see test/integration/drain/budget-watch.test.ts for the watch itself). */
import type { KubeConfig, V1PodDisruptionBudget } from "@kubernetes/client-node";
import { type DrainClients } from "kube-upkeep/core";
import { BudgetWatch, budgetKey } from "../../../../lib/core/drain/budget-watch";

const clients = {} as unknown as DrainClients & { kc: KubeConfig };

function pdb(name: string, disruptionsAllowed: number, ns = "shop"): V1PodDisruptionBudget {
  return {
    metadata: { name, namespace: ns },
    status: { disruptionsAllowed, currentHealthy: 3, desiredHealthy: 3, expectedPods: 3 },
  };
}

describe("BudgetWatch.waitForAllowance", () => {
  it("resolves when a status allowing a disruption arrives, not before", async () => {
    const w = new BudgetWatch(clients);
    w.observe(pdb("web", 0));
    let how: string | undefined;
    const wait = w.waitForAllowance(["shop/web"], performance.now(), 10_000).then((h) => (how = h));
    w.observe(pdb("web", 0));
    w.observe(pdb("other", 5));
    await new Promise((r) => setTimeout(r, 20));
    expect(how).toBeUndefined();
    w.observe(pdb("web", 1));
    await wait;
    expect(how).toBe("allowed");
    w.stop();
  });

  it("answers at once when a status allowing one arrived after the refused request was sent", async () => {
    const w = new BudgetWatch(clients);
    const sentAt = performance.now();
    w.observe(pdb("web", 2));
    await expect(w.waitForAllowance(["shop/web"], sentAt, 10_000)).resolves.toBe("allowed");
    // a status from before the request says nothing about the refusal: wait for a new one
    const t0 = performance.now();
    await expect(w.waitForAllowance(["shop/web"], performance.now(), 50)).resolves.toBe("interval");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    w.stop();
  });

  it("one status allowing n releases at most n waiters of that budget, oldest first", async () => {
    const w = new BudgetWatch(clients);
    const order: number[] = [];
    const waits = [0, 1, 2].map((i) =>
      w.waitForAllowance(["shop/web"], performance.now(), 10_000).then((how) => {
        order.push(i);
        return how;
      }),
    );
    w.observe(pdb("web", 1));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([0]);
    w.observe(pdb("web", 5));
    await expect(Promise.all(waits)).resolves.toEqual(["allowed", "allowed", "allowed"]);
    expect(order).toEqual([0, 1, 2]);
    w.stop();
  });

  it("a pod covered by several budgets goes when any of them allows; the fixed interval bounds the wait; stop and abort end it", async () => {
    const w = new BudgetWatch(clients);
    const both = w.waitForAllowance(["shop/a", "shop/b"], performance.now(), 10_000);
    w.observe(pdb("b", 1));
    await expect(both).resolves.toBe("allowed");

    const ctrl = new AbortController();
    const aborted = w.waitForAllowance(["shop/a"], performance.now(), 10_000, ctrl.signal);
    ctrl.abort();
    await expect(aborted).resolves.toBe("aborted");
    await expect(w.waitForAllowance(["shop/a"], 0, 10_000, ctrl.signal)).resolves.toBe("aborted");

    const unknown = w.waitForAllowance(["shop/none"], performance.now(), 30);
    await expect(unknown).resolves.toBe("interval");

    const pending = w.waitForAllowance(["shop/a"], performance.now(), 10_000);
    w.stop();
    await expect(pending).resolves.toBe("aborted");
  });

  it("keeps the last status per budget", () => {
    const w = new BudgetWatch(clients);
    w.observe(pdb("web", 0));
    w.observe(pdb("web", 3));
    w.observe(pdb("db", 0, "data"));
    expect(w.budgets("shop").map((p) => [budgetKey(p), p.status?.disruptionsAllowed])).toEqual([
      ["shop/web", 3],
    ]);
    expect(w.budgets("data")).toHaveLength(1);
    expect(w.updates).toBe(3);
  });
});
