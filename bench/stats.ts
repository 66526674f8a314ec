/** Small helpers shared by the benchmarks: statistics and markdown tables. */

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/** min / median / max of the values (median of an even count: mean of the middle two). */
export function summarize(values: readonly number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, min: s[0], median, max: s[s.length - 1] };
}

/** Seconds with one decimal below 100 s ("2.9 s"), "-" for undefined. */
export function seconds(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return "-";
  const s = ms / 1000;
  return `${s < 100 ? s.toFixed(s < 10 ? 2 : 1) : s.toFixed(0)} s`;
}

/** "0.14x"; "-" when either side is missing. */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !(b > 0)) return "-";
  return `${(a / b).toFixed(2)}x`;
}

export function mib(kb: number): string {
  return `${(kb / 1024).toFixed(0)} MiB`;
}

/** A markdown table; cells are escaped for `|` and newlines. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cell = (c: string) => c.replace(/\|/g, "\\|").replace(/\s*\n\s*/g, " ");
  const line = (cs: readonly string[]) => `| ${cs.map(cell).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** First line of an error message, at most `max` characters. */
export function shortError(e: unknown, max = 160): string {
  const msg = e instanceof Error ? e.message : String(e);
  const first = msg.split("\n").find((l) => l.trim()) ?? msg;
  return first.length > max ? `${first.slice(0, max - 1)}…` : first;
}
