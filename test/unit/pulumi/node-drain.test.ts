import * as pulumi from "@pulumi/pulumi";
// The modules only define classes; resources are constructed after setMocks (beforeAll).
import { NODE_DRAIN_TYPE, NodeDrain, nodeDrainProvider } from "../../../lib/pulumi/node-drain";
import { NODE_UNCORDON_TYPE, NodeUncordon } from "../../../lib/pulumi/node-uncordon";

const SECRET_MARKER = "client-key-data: SECRET-MARKER-4711";
const KUBECONFIG = `apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    ${SECRET_MARKER}\n`;

interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}
const registered: Registered[] = [];

beforeAll(() => {
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return {
          id: `${args.name}-id`,
          state: { ...args.inputs, evictedPods: ["ns/a"], durationMs: 12, cordonedByUs: true },
        };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    "project",
    "stack",
    false,
  );
});

function value<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}
function secretness(o: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(o);
}

describe("NodeDrain / NodeUncordon (mocks)", () => {
  test("NodeDrain registers a dynamic resource with the kube-upkeep type, secret kubeconfig, and a serialized provider", async () => {
    const d = new NodeDrain("drain-w1", {
      nodeName: "w1",
      kubeconfig: KUBECONFIG,
      runId: "upgrade-1",
      options: { ignoreDaemonSets: true, timeoutSeconds: 120 },
    });
    const urn = await value(d.urn);
    expect(urn).toContain(`::${NODE_DRAIN_TYPE}::drain-w1`);
    expect(NODE_DRAIN_TYPE).toBe("pulumi-nodejs:dynamic/kube-upkeep:NodeDrain");
    expect(await secretness(d.kubeconfig)).toBe(true);
    expect(await value(d.evictedPods)).toEqual(["ns/a"]);
    expect(await value(d.cordonedByUs)).toBe(true);

    const reg = registered.find((r) => r.name === "drain-w1");
    expect(reg?.type).toBe(NODE_DRAIN_TYPE);
    expect(reg?.inputs.nodeName).toBe("w1");
    expect(reg?.inputs.options).toEqual({ ignoreDaemonSets: true, timeoutSeconds: 120 });
    expect(reg?.inputs.uncordonOnDelete).toBe(true);
    // the serialized provider loads the engine by package self-reference and captures no secret
    const provider = String(reg?.inputs.__provider);
    expect(provider).toContain('require("kube-upkeep/core")');
    expect(provider).not.toContain("SECRET-MARKER-4711");
  });

  test("NodeUncordon registers with its type and secret kubeconfig", async () => {
    const u = new NodeUncordon("uncordon-w1", {
      nodeName: "w1",
      kubeconfig: pulumi.secret(KUBECONFIG),
      runId: "upgrade-1",
    });
    expect(await value(u.urn)).toContain(`::${NODE_UNCORDON_TYPE}::uncordon-w1`);
    const reg = registered.find((r) => r.name === "uncordon-w1");
    expect(reg?.inputs.runId).toBe("upgrade-1");
    expect(String(reg?.inputs.__provider)).not.toContain("SECRET-MARKER-4711");
  });

  test("check reports invalid inputs per property", async () => {
    const res = await nodeDrainProvider.check!(
      {},
      { nodeName: "Bad_Name", kubeconfig: "", runId: "r", options: { timeoutSeconds: 0 } },
    );
    expect(res.failures?.map((f: pulumi.dynamic.CheckFailure) => f.property).sort()).toEqual([
      "kubeconfig",
      "nodeName",
      "options",
    ]);
    expect(
      res.failures?.find((f: pulumi.dynamic.CheckFailure) => f.property === "options")?.reason,
    ).toContain("invalid timeoutSeconds 0");
    const ok = await nodeDrainProvider.check!(
      {},
      { nodeName: "w1", kubeconfig: KUBECONFIG, runId: "r" },
    );
    expect(ok.failures).toEqual([]);
  });

  test("diff: nodeName/runId replace (create before delete); options/kubeconfig only update", async () => {
    const olds = {
      nodeName: "w1",
      kubeconfig: "a",
      runId: "r1",
      options: { force: true },
      uncordonOnDelete: true,
      evictedPods: [],
      skippedPods: [],
      warnings: [],
      retries: 0,
      durationMs: 1,
      cordonedByUs: true,
    };
    const same = await nodeDrainProvider.diff!("id", olds, {
      nodeName: "w1",
      kubeconfig: "a",
      runId: "r1",
      options: { force: true },
      uncordonOnDelete: true,
    });
    expect(same.changes).toBe(false);
    const newRun = await nodeDrainProvider.diff!("id", olds, { ...olds, runId: "r2" });
    expect(newRun).toEqual({ changes: true, replaces: ["runId"], deleteBeforeReplace: false });
    const opts = await nodeDrainProvider.diff!("id", olds, {
      ...olds,
      options: { force: false },
      kubeconfig: "b",
    });
    expect(opts).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    const upd = await nodeDrainProvider.update!("id", olds, {
      nodeName: "w1",
      kubeconfig: "b",
      runId: "r1",
    });
    expect(upd.outs).toMatchObject({ kubeconfig: "b", evictedPods: [], cordonedByUs: true });
  });

  test("delete with uncordonOnDelete: false touches nothing (no cluster needed)", async () => {
    await expect(
      nodeDrainProvider.delete!("id", {
        nodeName: "w1",
        kubeconfig: "not yaml",
        runId: "r",
        uncordonOnDelete: false,
      }),
    ).resolves.toBeUndefined();
  });
});
