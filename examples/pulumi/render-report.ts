/**
 * Renders a roll report again from its records, outside Pulumi: the renderer is pure
 * (events.jsonl -> RollReport -> one self-contained HTML page), so a run's page can be rebuilt
 * after an upgrade of kube-upkeep, or from a copy of events.jsonl on another machine.
 *
 *   node --import tsx examples/pulumi/render-report.ts <report path or run directory>
 *
 * With the report path (ClusterUpgrade's `report.path`, e.g. the demo's
 * $TMPDIR/kube-upkeep-demo-reports) it takes the newest run. Prints the page's path and the
 * report's header.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { formatDuration, latestRunDir, REPORT_FILES, writeRollReport } from "kube-upkeep/core";

const arg = process.argv[2];
if (!arg) {
  process.stderr.write("usage: render-report.ts <report path or run directory>\n");
  process.exit(2);
}
const dir = existsSync(join(arg, REPORT_FILES.events)) ? arg : latestRunDir(arg);
if (!dir) {
  process.stderr.write(`no roll report run in ${arg}\n`);
  process.exit(1);
}
const report = writeRollReport(dir); // rewrites report.json and report.html from events.jsonl
process.stdout.write(
  [
    `${join(dir, REPORT_FILES.html)}`,
    `${report.component}: ${report.fromVersion} -> ${report.targetVersion}, ${report.result} in ${formatDuration(report.durationMs)}`,
    `nodes upgraded ${report.totals.upgraded}/${report.totals.nodes}, evictions ${report.totals.evictions}, PDB retries ${report.totals.pdbRetries}`,
    ...report.failures.map(
      (f) =>
        `failed: ${f.node ?? (f.step ? "etcd snapshot" : "roll")} ${f.step ?? ""}: ${f.message}`,
    ),
    "",
  ].join("\n"),
);
