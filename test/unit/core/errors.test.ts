import { ValidationError } from "kube-upkeep/core";

describe("ValidationError", () => {
  it("names the path, field, value, problem and fix", () => {
    const e = new ValidationError(
      "chart/pdb",
      "minAvailable",
      "150%",
      "percentage above 100%",
      "use 0%..100%",
    );
    expect(e.message).toBe(
      'chart/pdb: invalid minAvailable "150%": percentage above 100%. Fix: use 0%..100%',
    );
    expect(e.field).toBe("minAvailable");
  });
  it("loads the ESM-only Kubernetes client under jest", async () => {
    const k8s = await import("@kubernetes/client-node");
    expect(typeof k8s.CoreV1Api).toBe("function");
  });
});
