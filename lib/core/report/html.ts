/**
 * renderReportHtml: one self-contained HTML page (inline CSS and SVG, no script, no external
 * asset) for a roll report: a header with the versions, times, duration, totals and result, the
 * failures, the timeline (svg.ts) and a table of the nodes in plan order. Pure.
 */
import { escapeMarkup as esc } from "./escape";
import { formatDuration, formatTimestamp } from "./format";
import type { ReportNodeRow, ReportSegment, RollReport, SegmentKind } from "./model";
import { renderTimelineSvg } from "./svg";

const RESULT_TEXT: Record<RollReport["result"], string> = {
  succeeded: "succeeded",
  failed: "failed",
  "in-progress": "in progress (or stopped without ending: no run-ended record)",
  "no-changes": "no changes (every node was already done)",
};

const CSS = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
.result { display: inline-block; padding: 2px 10px; border-radius: 10px; color: #fff; font-weight: 600; }
.result-succeeded { background: #2e7d32; } .result-failed { background: #d62728; }
.result-in-progress { background: #b8860b; } .result-no-changes { background: #777; }
dl.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: #666; } dl.facts dd { margin: 0; font-weight: 500; }
ul.failures { color: #b71c1c; } ul.failures li { margin: 4px 0; white-space: pre-wrap; }
figure { margin: 16px 0; overflow-x: auto; }
table.nodes { border-collapse: collapse; font-size: 13px; }
table.nodes th, table.nodes td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
table.nodes tr.status-failed td { color: #b71c1c; }
td.num { text-align: right; }
footer, .notes { color: #666; font-size: 12px; }
`;

function dur(s: ReportSegment | undefined): string {
  return s ? `${formatDuration(s.end - s.start)}${s.approximate ? " ≈" : ""}` : "-";
}

function seg(n: ReportNodeRow, kind: SegmentKind): ReportSegment | undefined {
  return n.segments.find((s) => s.kind === kind);
}

/** The page (a complete HTML document). */
export function renderReportHtml(report: RollReport): string {
  const r = report;
  const title = `${r.component}: ${r.fromVersion} -> ${r.targetVersion}`;
  const fact = (field: string, name: string, value: string) =>
    `<dt>${esc(name)}</dt><dd data-field="${field}">${esc(value)}</dd>`;
  const facts = [
    fact("versions", "versions", `${r.fromVersion} -> ${r.targetVersion}`),
    fact("result", "result", r.result),
    fact("started", "started", formatTimestamp(r.startedAt)),
    fact("ended", r.ended ? "ended" : "last record", formatTimestamp(r.endedAt)),
    fact("duration", "duration", formatDuration(r.durationMs)),
    fact("nodes", "nodes upgraded", `${r.totals.upgraded} of ${r.totals.nodes}`),
    fact("evictions", "evictions", String(r.totals.evictions)),
    fact("pdb-retries", "PDB retries (429)", String(r.totals.pdbRetries)),
    fact("transient-retries", "transient API retries", String(r.totals.transientRetries)),
    fact("failed", "nodes failed", String(r.totals.failed)),
    fact("max-unavailable", "maxUnavailable", String(r.maxUnavailable)),
    fact("failure-policy", "failure policy", r.failurePolicy),
    fact("stack", "stack", [r.project, r.stack].filter(Boolean).join(" / ") || "-"),
    fact("run-id", "run id", r.runId),
  ];
  const failures =
    r.failures.length === 0
      ? ""
      : `<h2>Failures</h2><ul class="failures">${r.failures
          .map(
            (f) =>
              `<li data-node="${esc(f.node ?? "")}" data-step="${esc(f.step ?? "")}"><strong>${esc(f.node ?? (f.step ? "etcd snapshot" : "roll"))}</strong>${f.step ? ` (${esc(f.step)}${f.uncertain ? ", uncertain" : ""})` : ""}: ${esc(f.message)}</li>`,
          )
          .join("")}</ul>`;
  const rows = r.nodes
    .map(
      (n, i) =>
        `<tr class="status-${esc(n.status)}" data-node="${esc(n.name)}"><td class="num">${i + 1}</td><td>${esc(n.name)}</td><td>${esc(n.role)}${n.chain !== undefined ? ` (chain ${n.chain + 1})` : ""}</td><td>${esc(n.from ?? "-")}</td><td>${esc(n.kubeletVersion ?? "-")}</td>` +
        `<td>${esc(dur(seg(n, "drain")))}</td><td class="num">${n.evicted}</td><td class="num">${n.pdbRetries}</td><td>${esc(dur(seg(n, "upgrade")))}</td><td>${esc(dur(seg(n, "ready")))}</td><td>${esc(dur(seg(n, "uncordon")))}</td><td>${esc(n.status)}: ${esc(n.statusText)}</td></tr>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(`Roll report: ${title} (${r.result})`)}</title>
<style>${CSS}</style>
</head>
<body data-result="${esc(r.result)}">
<header>
<h1>Roll report: ${esc(title)} <span class="result result-${esc(r.result)}">${esc(RESULT_TEXT[r.result])}</span></h1>
<dl class="facts">${facts.join("")}</dl>
</header>
${failures}
<figure>
${renderTimelineSvg(r)}
</figure>
<h2>Nodes (plan order)</h2>
<table class="nodes">
<thead><tr><th>#</th><th>node</th><th>role</th><th>from</th><th>kubelet after</th><th>drain</th><th>evicted</th><th>PDB retries</th><th>upgrade command</th><th>Ready wait</th><th>uncordon</th><th>status</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p class="notes">Built from the steps' own records (events.jsonl beside this page): the drain, ready wait and uncordon record their start, end and the drain's events; the upgrade command runs over SSH and records nothing, so its bar starts when its drain ended and ends when its ready wait started (≈: taken from when the program saw a resource complete). A failed upgrade command's error, with its stderr, is in pulumi's output.${r.skippedLines > 0 ? ` ${r.skippedLines} unreadable line(s) of events.jsonl were skipped.` : ""}</p>
<footer>kube-upkeep roll report, format ${r.reportVersion}</footer>
</body>
</html>
`;
}
