/**
 * The progress a roll shows in the cluster, pure parts: the kube-upkeep.io/upgrade annotation
 * (format, tolerant parse, what a re-run makes of it), the core/v1 Event objects (the fields
 * `kubectl describe node` reads, the message limit) and the steps' messages. The writes against
 * the API are test/integration/progress.
 */
import {
  EVENT_MESSAGE_LIMIT,
  REPORTING_COMPONENT,
  eventMessage,
  nodeEvent,
} from "../../../../lib/core/progress/events";
import {
  UPGRADE_ANNOTATION,
  formatUpgradeProgress,
  parseUpgradeProgress,
  reachedStep,
  runStateOf,
  type UpgradeProgress,
} from "../../../../lib/core/progress/annotation";
import { drainedEventMessage, upgradeStartedMessage } from "../../../../lib/core/progress/steps";

const P: UpgradeProgress = {
  runId: "upgrade@v1.35.4",
  target: "v1.35.4",
  from: "v1.34.4",
  mode: "node",
  step: "upgraded",
  at: "2026-03-01T10:00:00.000Z",
};

describe("the kube-upkeep.io/upgrade annotation", () => {
  test("key and JSON shape (fixed key order; absent fields left out)", () => {
    expect(UPGRADE_ANNOTATION).toBe("kube-upkeep.io/upgrade");
    expect(formatUpgradeProgress(P)).toBe(
      '{"runId":"upgrade@v1.35.4","target":"v1.35.4","from":"v1.34.4","mode":"node","step":"upgraded","at":"2026-03-01T10:00:00.000Z"}',
    );
    expect(formatUpgradeProgress({ ...P, from: undefined, mode: undefined })).toBe(
      '{"runId":"upgrade@v1.35.4","target":"v1.35.4","step":"upgraded","at":"2026-03-01T10:00:00.000Z"}',
    );
  });

  test("parse is the inverse of format", () => {
    for (const p of [P, { ...P, mode: "apply" as const, step: "healthy" as const }])
      expect(parseUpgradeProgress(formatUpgradeProgress(p))).toEqual(p);
  });

  test.each([
    [undefined],
    [""],
    ["not json"],
    ["[]"],
    ["null"],
    ['{"target":"v1.35.4","step":"drained"}'],
    ['{"runId":"r@v1","target":"v1.35.4","step":"rebooted"}'],
    ['{"runId":"r@v1","target":"v1.35.4","step":"drained","mode":"join"}'],
    ['{"runId":"r@v1","target":"v1.35.4","step":"drained","from":1}'],
  ])("a value that is not one is ignored, never trusted: %j", (text) => {
    expect(parseUpgradeProgress(text)).toBeUndefined();
  });

  test("steps in order", () => {
    expect(reachedStep(P, "drained")).toBe(true);
    expect(reachedStep(P, "upgraded")).toBe(true);
    expect(reachedStep(P, "uncordoned")).toBe(false);
  });

  test("what a re-run makes of it: done, resume, started, or not this run's", () => {
    const at = (step: UpgradeProgress["step"]) => ({ ...P, step });
    // this run finished the node
    expect(runStateOf(at("uncordoned"), P.runId, P.target, "v1.35.4")).toBe("done");
    expect(runStateOf(at("healthy"), P.runId, P.target, "v1.35.4")).toBe("done");
    // upgraded (or the command finished: the kubelet is at the target) but not uncordoned
    expect(runStateOf(at("upgraded"), P.runId, P.target, "v1.35.4")).toBe("resume");
    expect(runStateOf(at("drained"), P.runId, P.target, "v1.35.4")).toBe("resume");
    // drained, the upgrade did not take effect: it runs again
    expect(runStateOf(at("drained"), P.runId, P.target, "v1.34.4")).toBe("started");
    // another run, another target, no annotation
    expect(runStateOf(at("uncordoned"), "other@v1.35.4", P.target, "v1.35.4")).toBeUndefined();
    expect(runStateOf(at("uncordoned"), "upgrade@v1.35.5", "v1.35.5", "v1.35.4")).toBeUndefined();
    expect(runStateOf(undefined, P.runId, P.target, "v1.35.4")).toBeUndefined();
  });
});

describe("Node events", () => {
  const now = new Date("2026-03-01T10:00:00.123Z");

  test("a core/v1 Event on the Node, as kubectl describe node finds and shows it", () => {
    const e = nodeEvent({ name: "w-1", uid: "u-1" }, "Drained", "drained in 1.0 s", {
      now,
      instance: "ci-runner",
      nonce: "abc",
    });
    expect(e).toEqual({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: expect.stringMatching(/^w-1\.[0-9a-f]{16}abc$/), namespace: "default" },
      // describe matches kind, name and the node's uid (or its name)
      involvedObject: { apiVersion: "v1", kind: "Node", name: "w-1", uid: "u-1" },
      reason: "Drained",
      message: "drained in 1.0 s",
      type: "Normal",
      // describe's FROM column is source.component (then reportingComponent)
      source: { component: "kube-upkeep", host: "ci-runner" },
      reportingComponent: REPORTING_COMPONENT,
      reportingInstance: "ci-runner",
      action: "Drain",
      // describe's AGE (microseconds); its order is by lastTimestamp, then the API's (name) order
      eventTime: "2026-03-01T10:00:00.123000Z",
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  });

  test("names made in one millisecond sort in the order they were made", () => {
    const names = Array.from(
      { length: 50 },
      () => nodeEvent({ name: "w-1" }, "Drained", "x", { now, nonce: "0000" }).metadata.name,
    );
    expect([...names].sort()).toEqual(names);
    expect(new Set(names).size).toBe(50);
  });

  test("Failed is a Warning; no uid: the node name (kubectl describe node matches that too)", () => {
    const e = nodeEvent({ name: "w-1" }, "Failed", "drain failed: x", { now });
    expect(e.type).toBe("Warning");
    expect(e.involvedObject.uid).toBe("w-1");
  });

  test("the object name is a DNS subdomain even for the longest node name", () => {
    const long = `${"a".repeat(62)}.${"b".repeat(62)}.${"c".repeat(62)}.${"d".repeat(61)}`;
    expect(long).toHaveLength(250);
    const { name } = nodeEvent({ name: long }, "Cordoned", "x", { now }).metadata;
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  });

  test("messages are cut to 1024 bytes (UTF-8), with an ellipsis", () => {
    expect(eventMessage("  short  ")).toBe("short");
    const cut = eventMessage("é".repeat(2000));
    expect(Buffer.byteLength(cut, "utf8")).toBeLessThanOrEqual(EVENT_MESSAGE_LIMIT);
    expect(cut.endsWith("...")).toBe(true);
  });

  test("the drain's and the upgrade's messages", () => {
    expect(
      drainedEventMessage({
        evictedPods: ["ns/a", "ns/b"],
        skippedPods: [{}],
        retries: 3,
        durationMs: 4200,
      }),
    ).toBe(
      "drained in 4.2 s: 2 pod(s) evicted, 3 PodDisruptionBudget retries, 1 pod(s) left (DaemonSet, mirror)",
    );
    expect(
      upgradeStartedMessage({
        runId: "u@v1.35.4",
        targetVersion: "v1.35.4",
        mode: "apply",
        fromVersion: "v1.34.4",
      }),
    ).toBe(
      "upgrading from v1.34.4 to v1.35.4: kubeadm upgrade apply v1.35.4 and the kubelet over SSH (run u@v1.35.4)",
    );
  });
});
