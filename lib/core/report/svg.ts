/**
 * renderTimelineSvg: the roll as an inline SVG timeline, one row per node in plan order (the
 * etcd snapshot above them when it ran): bars for the drain, the upgrade command, the ready wait,
 * the uncordon and health gates, the drain's evictions as thin lanes under its bar, markers for
 * the cordon and each PodDisruptionBudget refusal; failures in red (hatched when the records
 * cannot tell a failure from a step that never started). Every element carries its times as
 * data-* attributes and a <title> (the browser's tooltip). Pure; no external assets.
 */
import { escapeMarkup as esc } from "./escape";
import { formatDuration, formatOffset, formatTimestamp, tickStepMs } from "./format";
import type {
  ReportEviction,
  ReportNodeRow,
  ReportSegment,
  RollReport,
  SegmentKind,
} from "./model";

export const TIMELINE_WIDTH = 1200;
const LABEL_W = 190;
const RIGHT = 24;
const TOP = 34;
const ROW_H = 46;
const BAR_Y = 8;
const BAR_H = 16;
const LANE_Y = 28;
const LANE_H = 3;
const MAX_LANES = 4;
const LEGEND_H = 44;

/** Fill of each bar kind (failed bars are red whatever their kind). */
export const SEGMENT_COLORS: Record<SegmentKind, string> = {
  snapshot: "#8c8c8c",
  drain: "#4e79a7",
  upgrade: "#9c6ade",
  ready: "#59a14f",
  uncordon: "#17becf",
  "health-gate": "#edc948",
};
export const FAILED_COLOR = "#d62728";
const EVICTION_COLORS: Record<ReportEviction["state"], string> = {
  ok: "#a0cbe8",
  failed: FAILED_COLOR,
  running: "#f1ce63",
  skipped: "#bab0ac",
};
const RETRY_COLOR = "#f28e2b";

const num = (n: number) => String(Math.round(n * 10) / 10);

/** The SVG (a complete <svg> element) of the report's timeline. */
export function renderTimelineSvg(report: RollReport): string {
  const t0 = report.startedAt;
  const span = Math.max(report.endedAt - t0, 1000);
  const plotW = TIMELINE_WIDTH - LABEL_W - RIGHT;
  const x = (t: number) => LABEL_W + ((Math.min(Math.max(t, t0), t0 + span) - t0) / span) * plotW;
  const rows: { key: string; html: (y: number) => string }[] = [];
  if (report.snapshot) {
    const seg = report.snapshot;
    rows.push({
      key: "snapshot",
      html: (y) =>
        `<g class="row-snapshot" data-step="etcd-snapshot" data-status="${esc(seg.state)}">` +
        label(y, "etcd snapshot", "before the first node") +
        bar(seg, y, x, "etcd snapshot", t0) +
        `</g>`,
    });
  }
  report.nodes.forEach((n, i) => rows.push({ key: n.name, html: (y) => nodeRow(n, i, y, x, t0) }));

  const plotH = rows.length * ROW_H;
  const height = TOP + plotH + LEGEND_H;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 ${TIMELINE_WIDTH} ${height}" width="${TIMELINE_WIDTH}" height="${height}" role="img" aria-label="${esc(`Timeline of ${report.component}: ${report.nodes.length} nodes, ${report.result}`)}" font-family="system-ui, sans-serif" font-size="12">`,
    `<defs><pattern id="hatch-failed" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4b6b6"/><rect width="3" height="6" fill="${FAILED_COLOR}"/></pattern></defs>`,
  );
  // alternate row backgrounds, then the time grid over them
  rows.forEach((_, i) => {
    if (i % 2 === 1)
      out.push(
        `<rect class="row-bg" x="0" y="${TOP + i * ROW_H}" width="${TIMELINE_WIDTH}" height="${ROW_H}" fill="#f6f6f6"/>`,
      );
  });
  const step = tickStepMs(span);
  out.push(`<g class="axis" data-tick-ms="${step}">`);
  for (let t = 0; t <= span + 1; t += step) {
    const tx = num(x(t0 + t));
    out.push(
      `<line x1="${tx}" x2="${tx}" y1="${TOP - 6}" y2="${TOP + plotH}" stroke="#dddddd"/>`,
      `<text x="${tx}" y="${TOP - 10}" text-anchor="middle" fill="#555555">+${esc(formatOffset(t))}</text>`,
    );
  }
  out.push(`<text x="8" y="${TOP - 10}" fill="#555555">${esc(formatTimestamp(t0))}</text>`, `</g>`);
  rows.forEach((r, i) => out.push(r.html(TOP + i * ROW_H)));
  out.push(legend(TOP + plotH + 14), `</svg>`);
  return out.join("\n");
}

function label(y: number, name: string, sub: string): string {
  return (
    `<text class="row-label" x="8" y="${y + 18}" font-weight="600">${esc(name)}</text>` +
    `<text class="row-sub" x="8" y="${y + 34}" fill="#666666" font-size="11">${esc(sub)}</text>`
  );
}

function nodeRow(
  n: ReportNodeRow,
  index: number,
  y: number,
  x: (t: number) => number,
  t0: number,
): string {
  const sub = [
    n.role,
    n.chain !== undefined ? `chain ${n.chain + 1}` : undefined,
    n.status === "upgraded" || n.status === "failed" || n.status === "running"
      ? undefined
      : n.status,
  ]
    .filter(Boolean)
    .join(" · ");
  const parts = [
    `<g class="row" data-node="${esc(n.name)}" data-index="${index}" data-status="${esc(n.status)}">`,
    `<title>${esc(`${n.name}: ${n.statusText}`)}</title>`,
    label(y, n.name, sub),
  ];
  if (n.segments.length === 0) {
    parts.push(
      `<text class="row-note" x="${LABEL_W + 4}" y="${y + BAR_Y + 12}" fill="#888888" font-style="italic">${esc(n.statusText)}</text>`,
    );
  }
  for (const s of n.segments) parts.push(bar(s, y, x, n.name, t0));
  n.evictions.forEach((e, i) => {
    const ly = y + LANE_Y + (i % MAX_LANES) * (LANE_H + 1);
    const [x1, x2] = [x(e.start), x(e.end)];
    parts.push(
      `<rect class="eviction state-${e.state}" data-pod="${esc(e.pod)}" data-start="${e.start}" data-end="${e.end}" data-state="${e.state}" x="${num(x1)}" y="${ly}" width="${num(Math.max(2, x2 - x1))}" height="${LANE_H}" fill="${EVICTION_COLORS[e.state]}">` +
        `<title>${esc(`${n.name}: evicting ${e.pod}: ${e.state === "ok" ? "gone" : e.state} after ${formatDuration(e.end - e.start)}${e.retries.length ? `, ${e.retries.length} PDB retries` : ""}`)}</title></rect>`,
    );
  });
  for (const m of n.markers) {
    const mx = num(x(m.t));
    if (m.kind === "cordon") {
      parts.push(
        `<path class="marker marker-cordon" data-t="${m.t}" d="M${mx} ${y + BAR_Y - 5} l-4 -4 h8 z M${mx} ${y + BAR_Y - 5} v${BAR_H + 5}" stroke="#333333" fill="#333333"><title>${esc(`${n.name}: ${m.label} at +${formatOffset(m.t - t0)}`)}</title></path>`,
      );
    } else {
      parts.push(
        `<path class="marker marker-pdb-retry" data-t="${m.t}" d="M${mx} ${y + BAR_Y - 6} l3 3 l-3 3 l-3 -3 z" fill="${RETRY_COLOR}" stroke="#ffffff" stroke-width="0.5"><title>${esc(`${n.name}: ${m.label} at +${formatOffset(m.t - t0)}`)}</title></path>`,
      );
    }
  }
  parts.push(`</g>`);
  return parts.join("");
}

function bar(
  s: ReportSegment,
  y: number,
  x: (t: number) => number,
  who: string,
  t0: number,
): string {
  const [x1, x2] = [x(s.start), x(s.end)];
  const fill =
    s.state === "failed"
      ? s.uncertain
        ? "url(#hatch-failed)"
        : FAILED_COLOR
      : SEGMENT_COLORS[s.kind];
  const style =
    s.state === "running"
      ? ` fill-opacity="0.55" stroke="${SEGMENT_COLORS[s.kind]}" stroke-dasharray="3 2"`
      : s.approximate
        ? ` stroke="#333333" stroke-dasharray="2 2" stroke-width="0.8"`
        : "";
  const when = `+${formatOffset(s.start - t0)} .. +${formatOffset(s.end - t0)} (${formatDuration(s.end - s.start)}${s.approximate ? ", times approximate" : ""})`;
  const title = [
    `${who}: ${s.label} ${s.state === "ok" ? "" : s.state}`.trim(),
    when,
    s.detail,
  ].filter(Boolean);
  const failMark =
    s.state === "failed"
      ? `<path class="fail-mark" d="M${num(x2 - 4)} ${y + BAR_Y - 4} l8 8 m0 -8 l-8 8" stroke="${FAILED_COLOR}" stroke-width="2"/>`
      : "";
  return (
    `<rect class="bar bar-${s.kind} state-${s.state}" data-kind="${s.kind}" data-state="${s.state}" data-start="${s.start}" data-end="${s.end}"${s.approximate ? ' data-approximate="true"' : ""}${s.uncertain ? ' data-uncertain="true"' : ""} x="${num(x1)}" y="${y + BAR_Y}" width="${num(Math.max(2, x2 - x1))}" height="${BAR_H}" rx="2" fill="${fill}"${style}>` +
    `<title>${esc(title.join("\n"))}</title></rect>` +
    failMark
  );
}

function legend(y: number): string {
  const items: [string, string][] = [
    [SEGMENT_COLORS.snapshot, "etcd snapshot"],
    [SEGMENT_COLORS.drain, "cordon + drain"],
    [EVICTION_COLORS.ok, "eviction (pod gone)"],
    [RETRY_COLOR, "PDB retry (429)"],
    [SEGMENT_COLORS.upgrade, "upgrade command"],
    [SEGMENT_COLORS.ready, "Ready at target"],
    [SEGMENT_COLORS.uncordon, "uncordon"],
    [SEGMENT_COLORS["health-gate"], "health gate"],
    [FAILED_COLOR, "failed"],
  ];
  let cx = 8;
  const parts = [`<g class="legend">`];
  for (const [color, text] of items) {
    parts.push(
      `<rect x="${cx}" y="${y}" width="14" height="10" rx="2" fill="${color}"/>`,
      `<text x="${cx + 18}" y="${y + 9}" fill="#333333" font-size="11">${esc(text)}</text>`,
    );
    cx += 30 + text.length * 6.8;
  }
  parts.push(
    `<text x="8" y="${y + 26}" fill="#666666" font-size="11">dashed outline: a time taken from the adjacent step (see the report notes); hatched red: failed, or never started</text>`,
    `</g>`,
  );
  return parts.join("");
}
