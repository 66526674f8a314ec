/**
 * A gate's checks in the roll report: one `health-gate` record per check (its start, end,
 * result and what it saw), then the page is written again. Best effort, like every report write.
 */
import type { StepReportTarget } from "../report/recorder";
import { appendReportEvent, writeRollReport } from "../report/store";
import type { CheckResult } from "./poll";

export function healthGateRecorder(
  target: StepReportTarget | undefined,
  node: string,
  warn: (message: string) => void = () => undefined,
): (r: CheckResult) => void {
  if (!target || typeof target.dir !== "string" || target.dir === "") return () => undefined;
  let warned = false;
  return (r) => {
    try {
      appendReportEvent(target.dir, {
        type: "health-gate",
        t: r.endedAt,
        node,
        gate: r.name,
        startedAt: r.startedAt,
        passed: r.passed,
        message: r.message,
      });
      writeRollReport(target.dir);
    } catch (e) {
      if (warned) return;
      warned = true;
      warn(
        `roll report: could not record health check ${r.name} in ${target.dir} (${e instanceof Error ? e.message : String(e)}); the roll goes on without it`,
      );
    }
  };
}
