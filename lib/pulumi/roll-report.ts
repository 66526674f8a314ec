/**
 * The Pulumi side of ClusterUpgrade's roll report (`report: { path }`): the records the program
 * writes, the run directory the steps write to. The report itself (records, model, page) is
 * kube-upkeep/core's report module.
 *
 * Where each record comes from, in a `pulumi up` (a preview writes nothing):
 *  - the program (this file): `run-started` with the plan, when ClusterUpgrade is constructed;
 *    `resolved` when one of the roll's resources completed (create, update, or unchanged), the
 *    only record of the upgrade command and the etcd snapshot, which run in remote.Command;
 *    `run-ended` when the program exits. The program outlives every step: after a failure the
 *    engine starts nothing new but lets the steps in flight finish, and the program exits after
 *    them.
 *  - the dynamic providers (NodeDrain, NodeReadyWait, NodeUncordon, in the engine's
 *    dynamic-provider process): their start, end or failure and the drain's events, as they
 *    happen (core's stepRecorder), each followed by a rewrite of the page. Their input `report`
 *    names the run directory; their diffs ignore it, so it never causes an update.
 */
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ValidationError, type ProblemCollector } from "../core/errors";
import type { UpgradePlan } from "../core/plan";
import type { ReportStep } from "../core/report/events";
import { reportPlanNodes } from "../core/report/model";
import type { StepReportTarget } from "../core/report/recorder";
import {
  appendReportEvent,
  createRunDir,
  REPORT_FILES,
  writeRollReport,
} from "../core/report/store";

/** ClusterUpgrade's `report` option. */
export interface RollReportSettings {
  /**
   * Directory of the reports: each `pulumi up` writes `<path>/<UTC start time>/` with
   * `events.jsonl`, `report.json` and `report.html` (one self-contained page). A relative path
   * is taken from the program's directory. Nothing is written in `pulumi preview`.
   */
  readonly path: string;
}

/** Collects a problem of the `report` option. */
export function checkRollReportSettings(
  where: string,
  settings: RollReportSettings | undefined,
  problems: ProblemCollector,
): void {
  if (settings === undefined) return;
  const path = (settings as { path?: unknown } | null)?.path;
  if (typeof path !== "string" || path.trim() === "" || path.includes("\0")) {
    problems.add(
      new ValidationError(
        where,
        "report.path",
        path,
        "must be a directory path",
        'give e.g. { path: "reports" } (relative to the program directory), or leave report unset',
      ),
    );
  }
}

/** One run's report, as the program writes it. */
export interface RollReportRun {
  /** The run directory. */
  readonly dir: string;
  readonly html: string;
  readonly json: string;
  /** What the steps get as their `report` input. */
  readonly target: StepReportTarget;
  /** Records `resolved` when `resource` completes in this deployment. */
  watch(
    resource: pulumi.CustomResource,
    step: ReportStep | "upgrade" | "snapshot",
    node?: string,
  ): void;
}

/**
 * Starts the run's report (in a preview: nothing, undefined): the run directory, the
 * `run-started` record and a first page (once the plan is known: ClusterUpgrade's live plan is a
 * promise; `started` resolves after them), and the `run-ended` record and last page at exit.
 */
export function startRollReport(
  component: string,
  settings: RollReportSettings | undefined,
  plan: UpgradePlan | Promise<UpgradePlan>,
  runId: string,
  parent: pulumi.Resource,
): (RollReportRun & { readonly started: Promise<void> }) | undefined {
  if (settings === undefined || pulumi.runtime.isDryRun()) return undefined;
  const now = Date.now();
  const cannot = (e: unknown) =>
    pulumi.log.warn(
      `roll report: could not start it in ${settings.path} (${e instanceof Error ? e.message : String(e)}); the roll goes on without it`,
      parent,
    );
  let dir: string;
  try {
    dir = createRunDir(settings.path, now);
  } catch (e) {
    cannot(e);
    return undefined;
  }
  const started = Promise.resolve(plan).then(
    (p) => {
      try {
        appendReportEvent(dir, {
          type: "run-started",
          t: now,
          component,
          project: pulumi.getProject(),
          stack: pulumi.getStack(),
          runId,
          controlPlaneVersion: p.controlPlaneVersion,
          targetVersion: p.targetVersion,
          maxUnavailable: p.maxUnavailable,
          failurePolicy: p.failurePolicy,
          etcdSnapshot: p.steps.some((s) => s.action === "etcd-snapshot"),
          nodes: reportPlanNodes(p.steps),
        });
        writeRollReport(dir);
      } catch (e) {
        cannot(e);
      }
    },
    () => undefined, // no plan: the component reports why; nothing will run
  );
  const runDir = dir;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    try {
      appendReportEvent(runDir, { type: "run-ended", t: Date.now() });
      writeRollReport(runDir);
    } catch (e) {
      process.stderr.write(
        `roll report: could not finish ${runDir}: ${e instanceof Error ? e.message : String(e)}\n`,
      );
    }
  };
  // beforeExit: the event loop is empty, every step has reported; exit: the last chance (the
  // language host may end the program right after beforeExit)
  process.once("beforeExit", end);
  process.once("exit", end);
  return {
    started,
    dir: runDir,
    html: join(runDir, REPORT_FILES.html),
    json: join(runDir, REPORT_FILES.json),
    target: { dir: runDir },
    watch(resource, step, node) {
      resource.id.apply((id) => {
        if (ended) return id;
        try {
          appendReportEvent(runDir, { type: "resolved", t: Date.now(), node, step });
        } catch {
          // best effort, like every report write
        }
        return id;
      });
    },
  };
}
