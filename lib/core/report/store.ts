/**
 * The files of a roll report, one directory per run under the report path:
 *
 *   <path>/<YYYYMMDDTHHMMSSmmmZ>/events.jsonl   the records, appended as they happen
 *   <path>/<YYYYMMDDTHHMMSSmmmZ>/report.json    the report (model.ts), rewritten from the records
 *   <path>/<YYYYMMDDTHHMMSSmmmZ>/report.html    the page (html.ts), rewritten with it
 *
 * Both the program and the dynamic-provider process append to events.jsonl (one write of one
 * line each, O_APPEND) and rewrite the report files (written aside, then renamed over), so a
 * reader never sees half a page, and the page is current after every step even when the program
 * never gets to write its last record (a killed `pulumi up`).
 */
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { formatEventLine, parseEvents, type ReportEvent } from "./events";
import { renderReportHtml } from "./html";
import { buildRollReport, type RollReport } from "./model";

export const REPORT_FILES = {
  events: "events.jsonl",
  json: "report.json",
  html: "report.html",
} as const;

/** "20261124T213705123Z" */
export function runDirName(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, "");
}

/** Creates `<path>/<run dir>` for a run started at `ms` (a new one, also within the same ms). */
export function createRunDir(path: string, ms: number): string {
  const base = resolve(path);
  mkdirSync(base, { recursive: true });
  for (let i = 0; ; i++) {
    const dir = join(base, runDirName(ms) + (i === 0 ? "" : `-${i}`));
    try {
      mkdirSync(dir);
      return dir;
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
    }
  }
}

export function appendReportEvent(dir: string, event: ReportEvent): void {
  appendFileSync(join(dir, REPORT_FILES.events), formatEventLine(event));
}

/** The run's report from its events.jsonl. */
export function readRollReport(dir: string): RollReport {
  const { events, skippedLines } = parseEvents(
    readFileSync(join(dir, REPORT_FILES.events), "utf8"),
  );
  return buildRollReport(events, skippedLines);
}

function writeAtomically(file: string, text: string): void {
  const aside = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(aside, text);
  renameSync(aside, file);
}

/** Rewrites report.json and report.html of the run from its records; returns the report. */
export function writeRollReport(dir: string): RollReport {
  const report = readRollReport(dir);
  writeAtomically(join(dir, REPORT_FILES.json), `${JSON.stringify(report, null, 2)}\n`);
  writeAtomically(join(dir, REPORT_FILES.html), renderReportHtml(report));
  return report;
}

/** The newest run directory under the report path (undefined when there is none). */
export function latestRunDir(path: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(resolve(path));
  } catch {
    return undefined;
  }
  const runs = names.filter((n) => /^\d{8}T\d{9}Z(-\d+)?$/.test(n)).sort();
  return runs.length === 0 ? undefined : join(resolve(path), runs[runs.length - 1]!);
}
