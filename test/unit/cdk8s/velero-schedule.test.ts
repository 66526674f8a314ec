/* eslint-disable @typescript-eslint/no-explicit-any */
import { Testing } from "cdk8s";
import { VeleroSchedule, type VeleroScheduleProps } from "kube-upkeep/cdk8s";
import { ValidationErrors } from "kube-upkeep/core";
import { FULL } from "../../integration/fixtures/velero-schedule-full";
import { thrown } from "./thrown";

test("every field lands where Velero's Schedule has it", () => {
  const chart = Testing.chart();
  new VeleroSchedule(chart, "nightly", FULL);
  const [s] = Testing.synth(chart) as any[];
  expect(s.apiVersion).toBe("velero.io/v1");
  expect(s.kind).toBe("Schedule");
  expect(s.metadata).toEqual({ name: "nightly", namespace: "velero" });
  expect(s.spec).toEqual({
    schedule: "0 1 * * *",
    paused: false,
    useOwnerReferencesInBackup: true,
    skipImmediately: true,
    template: {
      includedNamespaces: ["production", "app-*"],
      excludedNamespaces: ["kube-system"],
      includedResources: ["deployments", "persistentvolumeclaims", "certificates.cert-manager.io"],
      excludedResources: ["events", "events.events.k8s.io"],
      includeClusterResources: false,
      labelSelector: {
        matchLabels: { "backup.example.com/tier": "gold" },
        matchExpressions: [{ key: "app", operator: "In", values: ["web", "db"] }],
      },
      ttl: "720h0m0s",
      storageLocation: "default",
      volumeSnapshotLocations: ["aws-default"],
      snapshotVolumes: true,
      defaultVolumesToFsBackup: false,
      hooks: {
        resources: [
          {
            name: "fsfreeze",
            includedNamespaces: ["production"],
            labelSelector: { matchLabels: { app: "db" } },
            pre: [
              {
                exec: {
                  command: ["/sbin/fsfreeze", "--freeze", "/data"],
                  container: "fsfreeze",
                  onError: "Fail",
                  timeout: "30s",
                },
              },
            ],
            post: [
              {
                exec: { command: ["/sbin/fsfreeze", "--unfreeze", "/data"], container: "fsfreeze" },
              },
            ],
          },
        ],
      },
    },
  });
});

test("minimal: the guide's full backup on a schedule", () => {
  const chart = Testing.chart();
  new VeleroSchedule(chart, "full", { schedule: "0 3 * * *" });
  const [s] = Testing.synth(chart) as any[];
  expect(s.spec).toEqual({ schedule: "0 3 * * *", template: {} });
  expect(s.metadata.namespace).toBe("velero");
});

test.each([
  [{ schedule: "@daily" }, "schedule"],
  [{ schedule: "0 1 * * *", template: { ttl: "30d" } }, "template.ttl"],
  [
    { schedule: "0 1 * * *", template: { includedNamespaces: ["Prod"] } },
    "template.includedNamespaces[0]",
  ],
  [
    { schedule: "0 1 * * *", template: { includedResources: ["Deployment"] } },
    "template.includedResources[0]",
  ],
  [
    { schedule: "0 1 * * *", template: { storageLocation: "S3 bucket" } },
    "template.storageLocation",
  ],
  [
    {
      schedule: "0 1 * * *",
      template: { labelSelector: { matchExpressions: [{ key: "a", operator: "In" }] } },
    },
    "template.labelSelector.matchExpressions[0].values",
  ],
  [
    { schedule: "0 1 * * *", template: { hooks: [{ name: "h", pre: [{ command: [] }] }] } },
    "template.hooks[0].pre[0].command",
  ],
  [
    {
      schedule: "0 1 * * *",
      template: { hooks: [{ name: "h", post: [{ command: ["x"], timeout: "1 minute" }] }] },
    },
    "template.hooks[0].post[0].timeout",
  ],
  [{ schedule: "0 1 * * *", template: { hooks: [{ name: "h" }] } }, "template.hooks[0]"],
  [{ schedule: "0 1 * * *", namespace: "Velero" }, "namespace"],
] as [VeleroScheduleProps, string][])("%j is rejected naming %s", (props, field) => {
  const chart = Testing.chart();
  const e = thrown(() => new VeleroSchedule(chart, "s", props));
  expect(e.message).toContain(`test/s: invalid ${field} `);
  expect(e.message).toContain("Fix: ");
  expect(chart.node.tryFindChild("s")).toBeUndefined();
});

test("every problem at once", () => {
  const e = thrown(
    () =>
      new VeleroSchedule(Testing.chart(), "s", {
        schedule: "61 * * * *",
        template: { ttl: "1 week", excludedNamespaces: ["A"] },
      }),
  );
  expect(e).toBeInstanceOf(ValidationErrors);
  expect((e as ValidationErrors).errors.map((x) => x.field)).toEqual([
    "schedule",
    "template.excludedNamespaces[0]",
    "template.ttl",
  ]);
});
