import {
  checkNodeDrain,
  checkNodeReadyWait,
  checkNodeUncordon,
} from "../../../../lib/core/drain/provider";
import { validateReadyWaitOptions } from "../../../../lib/core/drain/ready";
import { ValidationError, ValidationErrors } from "../../../../lib/core/errors";

const KUBECONFIG = "apiVersion: v1\nkind: Config\n";
/** Pulumi's stand-in for a value a preview does not know yet. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

describe("the drain providers' check, through core", () => {
  test("NodeDrain: every problem on its property, options' fields on options", () => {
    const failures = checkNodeDrain({
      nodeName: "Bad_Name",
      kubeconfig: " ",
      runId: "",
      options: { timeoutSeconds: 0, concurrency: 0.5 },
    });
    expect(failures.map((f) => f.property)).toEqual([
      "nodeName",
      "runId",
      "options",
      "options",
      "kubeconfig",
    ]);
    expect(failures[2].reason).toContain("NodeDrain: invalid timeoutSeconds 0");
    expect(failures[3].reason).toContain("NodeDrain: invalid concurrency 0.5");
    expect(failures[4].reason).toBe("NodeDrain: kubeconfig must be the kubeconfig YAML text");
    expect(checkNodeDrain({ nodeName: "w1", kubeconfig: KUBECONFIG, runId: "r" })).toEqual([]);
  });

  test("NodeUncordon: a name that is not a node name, and no kubeconfig", () => {
    expect(checkNodeUncordon({ nodeName: "w1; rm -rf /", kubeconfig: "" })).toEqual([
      {
        property: "nodeName",
        reason:
          'NodeUncordon: invalid nodeName "w1; rm -rf /": not a Kubernetes node name. Fix: use the name `kubectl get nodes` shows',
      },
      {
        property: "kubeconfig",
        reason: "NodeUncordon: kubeconfig must be the kubeconfig YAML text",
      },
    ]);
    expect(checkNodeUncordon({ nodeName: "w1", kubeconfig: KUBECONFIG })).toEqual([]);
  });

  test("NodeReadyWait: node, target and both durations named at once; unknown values wait for their value", () => {
    const failures = checkNodeReadyWait({
      nodeName: "W1",
      kubeconfig: KUBECONFIG,
      targetVersion: "",
      timeoutSeconds: -1,
      pollSeconds: Number.NaN,
    });
    expect(failures.map((f) => f.property)).toEqual([
      "nodeName",
      "targetVersion",
      "timeoutSeconds",
      "pollSeconds",
    ]);
    expect(failures[2].reason).toBe(
      "NodeReadyWait: invalid timeoutSeconds -1: must be a positive number of seconds. Fix: leave it unset for 600, or give e.g. 900",
    );
    const preview = {
      nodeName: "w1",
      kubeconfig: UNKNOWN,
      targetVersion: UNKNOWN,
      timeoutSeconds: UNKNOWN as unknown as number,
    };
    expect(checkNodeReadyWait(preview)).toEqual([]);
  });

  test("validateReadyWaitOptions throws one problem as itself, several as ValidationErrors", () => {
    expect(() => validateReadyWaitOptions("w", "w1", "v1.35.4", { pollSeconds: 0 })).toThrow(
      ValidationError,
    );
    let thrown: unknown;
    try {
      validateReadyWaitOptions("w", "w1", 1, { pollSeconds: 0 });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ValidationErrors);
    expect((thrown as ValidationErrors).errors.map((e) => e.field)).toEqual([
      "targetVersion",
      "pollSeconds",
    ]);
  });
});
