/**
 * ClusterUpgrade's `report` wiring under Pulumi mocks in update mode (not a preview): the run
 * directory and its run-started record, the `report` input of every step, the `resolved`
 * records of the resources the program watches, and the page path. The real engine, a failing
 * roll and the page in a browser are the e2e tests' (test/e2e/roll-report.test.ts).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError, ValidationErrors } from "../../../lib/core/errors";
import { parseEvents } from "../../../lib/core/report/events";
import { ClusterUpgrade, type ClusterNode } from "../../../lib/pulumi/cluster-upgrade";
import { value } from "./mocks";

const inputs = new Map<string, Record<string, unknown>>();
let base: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "ku-report-wiring-"));
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        inputs.set(args.name, args.inputs as Record<string, unknown>);
        return {
          id: `${args.name}-id`,
          state: {
            ...args.inputs,
            ...(args.type.endsWith(":NodeReadyWait")
              ? { kubeletVersion: args.inputs.targetVersion }
              : {}),
          },
        };
      },
      call: (args) => args.inputs,
    },
    "project",
    "stack",
    false, // an update: the report is written
  );
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

const node = (name: string, role: ClusterNode["role"]): ClusterNode => ({
  name,
  role,
  connection: { host: "127.0.0.1", port: 22, privateKey: "k", hostKey: "ssh-ed25519 AAAA" },
});

test("a run directory with the plan, every step told where to record, resolutions recorded", async () => {
  const cu = new ClusterUpgrade("roll", {
    nodes: [node("cp-1", "control-plane"), node("w-1", "worker"), node("w-2", "worker")],
    currentVersion: "v1.34.2",
    targetVersion: "v1.35.4",
    maxUnavailable: 2,
    kubeconfig: "apiVersion: v1\nkind: Config\n",
    commandOverride: "true",
    report: { path: join(base, "reports") },
  });
  await value(cu.kubeletVersions);
  await value(cu.snapshot!.id);
  await Promise.all(Object.values(cu.nodeUpgrades).map((u) => value(u.uncordon.id)));
  const runs = readdirSync(join(base, "reports"));
  expect(runs).toHaveLength(1);
  const dir = join(base, "reports", runs[0]!);
  expect(cu.reportFile).toBe(join(dir, "report.html"));
  for (const step of ["drain", "ready", "uncordon"])
    for (const n of ["cp-1", "w-1", "w-2"])
      expect({ n, step, report: inputs.get(`roll-${n}-${step}`)?.report }).toEqual({
        n,
        step,
        report: { dir },
      });
  // the command does not record (remote.Command): no report input
  expect(inputs.get("roll-w-1-upgrade")?.report).toBeUndefined();

  const { events } = parseEvents(readFileSync(join(dir, "events.jsonl"), "utf8"));
  expect(events[0]).toMatchObject({
    type: "run-started",
    component: "roll",
    project: "project",
    stack: "stack",
    runId: "roll@v1.35.4",
    controlPlaneVersion: "v1.34.2",
    targetVersion: "v1.35.4",
    maxUnavailable: 2,
    etcdSnapshot: true,
    nodes: [
      { name: "cp-1", role: "control-plane", action: "kubeadm-upgrade-apply" },
      { name: "w-1", role: "worker", action: "kubeadm-upgrade-node", chain: 0 },
      { name: "w-2", role: "worker", action: "kubeadm-upgrade-node", chain: 1 },
    ],
  });
  const resolved = events
    .filter((e) => e.type === "resolved")
    .map((e) => `${"node" in e && e.node ? e.node : "-"}/${e.step}`)
    .sort();
  expect(resolved).toEqual(
    [
      "-/snapshot",
      ...["cp-1", "w-1", "w-2"].flatMap((n) =>
        ["drain", "upgrade", "ready", "uncordon"].map((s) => `${n}/${s}`),
      ),
    ].sort(),
  );
  expect(readFileSync(cu.reportFile!, "utf8")).toContain("<svg ");
});

test("report.path must be a directory path", () => {
  let err: unknown;
  try {
    new ClusterUpgrade("bad", {
      nodes: [node("cp-1", "control-plane")],
      currentVersion: "v1.34.2",
      targetVersion: "v1.35.4",
      kubeconfig: "k",
      report: { path: "" },
    });
  } catch (e) {
    err = e;
  }
  const errors = err instanceof ValidationErrors ? err.errors : [err as ValidationError];
  expect(errors.map((e) => e.message)).toEqual([
    expect.stringMatching(/^ClusterUpgrade bad: invalid report\.path "": must be a directory path/),
  ]);
});
