import { ValidationError, ValidationErrors } from "../../../lib/core/errors";
import {
  assertUpgradeValid,
  componentSkewProblem,
  maxKubeletSkew,
  parseKubeVersion,
  tryParseKubeVersion,
  validateUpgrade,
  type VersionedNode,
} from "../../../lib/core/version";

const v = (s: string) => parseKubeVersion(s);

describe("parseKubeVersion", () => {
  it("accepts v-prefixed and bare versions and prints them with v", () => {
    expect(v("v1.35.4").text).toBe("v1.35.4");
    expect(v("1.35.4").text).toBe("v1.35.4");
    expect(v("1.35.4").semver).toBe("1.35.4");
    expect(tryParseKubeVersion(" v1.35.4 ")?.text).toBe("v1.35.4");
    expect(v("v1.36.0-rc.1")).toMatchObject({
      major: 1,
      minor: 36,
      patch: 0,
      prerelease: ["rc", 1],
    });
  });
  it.each(["1.35", "v1", "latest", "", "v1.35.4; rm -rf /", "v1.35.x", 135])(
    "rejects %p with a ValidationError",
    (bad) => {
      expect(() => parseKubeVersion(bad, "here", "targetVersion")).toThrow(ValidationError);
      expect(() => parseKubeVersion(bad, "here", "targetVersion")).toThrow(
        /^here: invalid targetVersion .*: not an exact Kubernetes version\. Fix: /,
      );
    },
  );
});

describe("skew policy (upstream numbers)", () => {
  it("kubelet may be three minors older (two for kubelets older than 1.25)", () => {
    expect(maxKubeletSkew(v("v1.32.0"))).toBe(3);
    expect(maxKubeletSkew(v("v1.25.0"))).toBe(3);
    expect(maxKubeletSkew(v("v1.24.9"))).toBe(2);
    expect(componentSkewProblem("kubelet", v("v1.32.9"), v("v1.35.0"))).toBeUndefined();
    expect(componentSkewProblem("kubelet", v("v1.31.9"), v("v1.35.0"))).toMatch(
      /4 minor versions older .* \(at most 3\)/,
    );
    expect(componentSkewProblem("kubelet", v("v1.24.0"), v("v1.27.0"))).toMatch(/at most 2/);
    expect(componentSkewProblem("kubelet", v("v1.35.1"), v("v1.35.0"))).toBeUndefined();
    expect(componentSkewProblem("kubelet", v("v1.36.0"), v("v1.35.0"))).toMatch(/newer than/);
  });
  it("controller-manager and scheduler: N or N-1, never newer", () => {
    expect(componentSkewProblem("kube-scheduler", v("v1.34.0"), v("v1.35.0"))).toBeUndefined();
    expect(componentSkewProblem("kube-scheduler", v("v1.33.0"), v("v1.35.0"))).toMatch(/at most 1/);
    expect(componentSkewProblem("kube-controller-manager", v("v1.36.0"), v("v1.35.0"))).toMatch(
      /newer/,
    );
  });
  it("kubectl: one minor either side", () => {
    expect(componentSkewProblem("kubectl", v("v1.36.0"), v("v1.35.0"))).toBeUndefined();
    expect(componentSkewProblem("kubectl", v("v1.34.0"), v("v1.35.0"))).toBeUndefined();
    expect(componentSkewProblem("kubectl", v("v1.37.0"), v("v1.35.0"))).toMatch(/newer/);
    expect(componentSkewProblem("kubectl", v("v1.33.0"), v("v1.35.0"))).toMatch(/older/);
  });
  it("HA kube-apiservers within one minor", () => {
    expect(componentSkewProblem("kube-apiserver", v("v1.34.0"), v("v1.35.0"))).toBeUndefined();
    expect(componentSkewProblem("kube-apiserver", v("v1.33.0"), v("v1.35.0"))).toMatch(/apart/);
  });
});

const cluster = (cp: string[], workers: string[]): VersionedNode[] => [
  ...cp.map((version, i) => ({ name: `cp-${i + 1}`, role: "control-plane" as const, version })),
  ...workers.map((version, i) => ({ name: `w-${i + 1}`, role: "worker" as const, version })),
];
const errors = (f: ReturnType<typeof validateUpgrade>) =>
  f.filter((x) => x.severity === "error").map((x) => `${x.rule}:${x.node ?? "-"}`);

describe("validateUpgrade", () => {
  it("accepts the next minor and a patch of the current minor", () => {
    expect(
      validateUpgrade({ nodes: cluster(["v1.34.2"], ["v1.34.2"]), targetVersion: "v1.35.4" }),
    ).toEqual([]);
    expect(
      validateUpgrade({ nodes: cluster(["v1.35.1"], ["v1.35.1"]), targetVersion: "1.35.4" }),
    ).toEqual([]);
    // nodes default to currentVersion
    expect(
      validateUpgrade({
        nodes: [
          { name: "a", role: "control-plane" },
          { name: "b", role: "worker" },
        ],
        currentVersion: "v1.34.0",
        targetVersion: "v1.35.0",
      }),
    ).toEqual([]);
  });

  it("rejects skipping a minor, naming the node and the steps", () => {
    const f = validateUpgrade({
      nodes: cluster(["v1.33.0", "v1.33.0"], []),
      targetVersion: "v1.35.0",
    });
    expect(errors(f)).toEqual(["one-minor-at-a-time:cp-1"]);
    expect(f[0]!.fix).toContain("v1.33 -> v1.34 -> v1.35");
  });

  it("rejects downgrades per node", () => {
    const f = validateUpgrade({
      nodes: cluster(["v1.35.2"], ["v1.35.2"]),
      targetVersion: "v1.35.1",
    });
    expect(errors(f)).toEqual(["no-downgrade:cp-1", "no-downgrade:w-1"]);
    expect(f[0]!.message).toMatch(/node cp-1: at v1.35.2, newer than targetVersion v1.35.1/);
    const g = validateUpgrade({
      nodes: [{ name: "w", role: "worker" }],
      currentVersion: "v1.35.2",
      targetVersion: "v1.34.0",
    });
    expect(errors(g)).toContain("no-downgrade:-");
  });

  it("rejects workers upgraded before the control plane", () => {
    const f = validateUpgrade({
      nodes: cluster(["v1.34.0"], ["v1.35.0", "v1.34.0"]),
      targetVersion: "v1.35.0",
    });
    expect(errors(f)).toEqual(["control-plane-first:w-1"]);
    expect(f[0]!.message).toMatch(
      /node w-1: worker kubelet v1.35.0 is newer than the control plane/,
    );
  });

  it("rejects kubelets left beyond N-3 of the target control plane (N-2 below 1.25)", () => {
    const ok = validateUpgrade({
      nodes: cluster(["v1.34.0"], ["v1.32.0"]),
      targetVersion: "v1.35.0",
    });
    expect(errors(ok)).toEqual([]);
    expect(ok.map((x) => `${x.severity}:${x.rule}`)).toEqual(["warning:worker-skips-minor"]);
    const bad = validateUpgrade({
      nodes: cluster(["v1.34.0"], ["v1.34.0", "v1.31.5"]),
      targetVersion: "v1.35.0",
    });
    expect(errors(bad)).toEqual(["kubelet-skew:w-2"]);
    expect(bad[0]!.message).toBe(
      "node w-2: kubelet v1.31.5 would be 4 minor versions behind the upgraded control plane v1.35.0; the version skew policy allows at most 3",
    );
    const legacy = validateUpgrade({
      nodes: cluster(["v1.26.0"], ["v1.24.0"]),
      targetVersion: "v1.27.0",
    });
    expect(errors(legacy)).toEqual(["kubelet-skew:w-1"]);
  });

  it("rejects HA control planes more than one minor apart", () => {
    const f = validateUpgrade({
      nodes: cluster(["v1.35.0", "v1.33.0"], []),
      targetVersion: "v1.35.0",
    });
    expect(errors(f)).toContain("apiserver-ha-skew:cp-2");
  });

  it("reports bad and missing versions, and major changes", () => {
    const f = validateUpgrade({
      nodes: [
        { name: "a", role: "control-plane", version: "1.35" },
        { name: "b", role: "worker" },
      ],
      targetVersion: "v1.35.0",
    });
    expect(errors(f)).toEqual(["version-format:a", "version-format:b"]);
    expect(
      errors(validateUpgrade({ nodes: cluster(["v1.35.0"], []), targetVersion: "v2.0.0" })),
    ).toEqual(["same-major:-"]);
  });

  it("assertUpgradeValid throws all errors together and returns warnings", () => {
    let thrown: unknown;
    try {
      assertUpgradeValid(
        { nodes: cluster(["v1.33.0"], ["v1.36.0", "v1.29.0"]), targetVersion: "v1.35.0" },
        "upgrade",
      );
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ValidationErrors);
    const msgs = (thrown as ValidationErrors).errors.map((e) => e.message);
    expect(msgs).toHaveLength(3);
    // the field that is wrong is the target (the message still names the control-plane node)
    expect(msgs[0]).toMatch(
      /^upgrade: invalid targetVersion "v1.35.0": \[one-minor-at-a-time\] .*\(node cp-1\) is at v1.33.0/,
    );
    expect(msgs.join("\n")).toMatch(/\[no-downgrade\] node w-1/);
    expect(msgs.join("\n")).toMatch(/\[kubelet-skew\] node w-2/);
    expect(
      assertUpgradeValid({ nodes: cluster(["v1.34.0"], ["v1.33.0"]), targetVersion: "v1.35.0" }),
    ).toHaveLength(1);
  });
});

describe("validateUpgrade: the field that is wrong, and node names", () => {
  it("a skipped minor names targetVersion (the node only in the message); a bad currentVersion names currentVersion", () => {
    const f = validateUpgrade({ nodes: cluster(["v1.34.4"], []), targetVersion: "v1.36.0" });
    expect(f.map((x) => [x.rule, x.field, x.node, x.value])).toEqual([
      ["one-minor-at-a-time", "targetVersion", "cp-1", "v1.36.0"],
    ]);
    const thrown = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as ValidationErrors).errors.map((x) => [x.field, x.message]);
      }
      throw new Error("did not throw");
    };
    expect(
      thrown(() =>
        assertUpgradeValid(
          { nodes: cluster(["v1.35.4"], []), targetVersion: "v1.36.0", currentVersion: "v1.35" },
          "ClusterUpgrade prod",
        ),
      ),
    ).toEqual([
      [
        "currentVersion",
        expect.stringMatching(
          /^ClusterUpgrade prod: invalid currentVersion "v1.35": \[version-format\]/,
        ),
      ],
    ]);
    expect(
      thrown(() =>
        assertUpgradeValid(
          { nodes: cluster(["v1.34.4"], []), targetVersion: "v1.36.0" },
          "ClusterUpgrade prod",
        ),
      ),
    ).toEqual([
      [
        "targetVersion",
        expect.stringMatching(
          /^ClusterUpgrade prod: invalid targetVersion "v1.36.0": \[one-minor-at-a-time\]/,
        ),
      ],
    ]);
  });

  it.each(["w1; rm -rf /", "W-1", "", "w_1", "-w", "a".repeat(254), "w-1\n"])(
    "rejects the node name %j (rule node-name, field nodes[i].name)",
    (bad) => {
      const f = validateUpgrade({
        nodes: [...cluster(["v1.34.4"], []), { name: bad, role: "worker", version: "v1.34.4" }],
        targetVersion: "v1.35.0",
      });
      expect(f.filter((x) => x.severity === "error").map((x) => [x.rule, x.field])).toEqual([
        ["node-name", "nodes[1].name"],
      ]);
      expect(() =>
        assertUpgradeValid({
          nodes: [...cluster(["v1.34.4"], []), { name: bad, role: "worker", version: "v1.34.4" }],
          targetVersion: "v1.35.0",
        }),
      ).toThrow(/^validateUpgrade: invalid nodes\[1\]\.name .*\[node-name\]/);
    },
  );

  it("rejects a node listed twice, and accepts DNS-1123 names", () => {
    const f = validateUpgrade({
      nodes: [...cluster(["v1.34.4"], ["v1.34.4"]), { name: "w-1", role: "worker" }],
      currentVersion: "v1.34.4",
      targetVersion: "v1.35.0",
    });
    expect(f.map((x) => [x.rule, x.field, x.message])).toEqual([
      ["node-name", "nodes[2].name", "nodes[2]: node w-1 is listed twice"],
    ]);
    expect(
      validateUpgrade({
        nodes: [
          { name: "cp-1.example.com", role: "control-plane" },
          { name: "0w", role: "worker" },
        ],
        currentVersion: "v1.34.4",
        targetVersion: "v1.35.0",
      }),
    ).toEqual([]);
  });
});
