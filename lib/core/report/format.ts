/**
 * Times and durations as the report prints them: UTC (the report may be read on another machine
 * than the one that ran the roll), durations in s / min.
 */

/** "2026-11-24 21:37:05 UTC" */
export function formatTimestamp(ms: number): string {
  return `${new Date(ms)
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, "")} UTC`;
}

/** "0.4 s", "12.3 s", "2 min 05 s", "1 h 02 min" */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const total = Math.round(s);
  const [h, m, sec] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  if (h > 0) return `${h} h ${String(m).padStart(2, "0")} min`;
  return `${m} min ${String(sec).padStart(2, "0")} s`;
}

/** An axis offset from the run start: "0s", "45s", "2:30", "1:02:00". */
export function formatOffset(ms: number): string {
  const total = Math.round(Math.max(0, ms) / 1000);
  if (total < 60) return `${total}s`;
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
}

const TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];

/** A tick spacing (ms) that gives at most `maxTicks` ticks over `spanMs`. */
export function tickStepMs(spanMs: number, maxTicks = 10): number {
  for (const s of TICK_SECONDS) if (s * 1000 * maxTicks >= spanMs) return s * 1000;
  return Math.ceil(spanMs / maxTicks / 3_600_000) * 3_600_000;
}
