import { buildRollReport } from "../../../../lib/core/report/model";
import { FAILED_COLOR, renderTimelineSvg, SEGMENT_COLORS } from "../../../../lib/core/report/svg";
import { failedCommandRun, succeededRun } from "./fixture";

/** The <g class="row"> elements: node, and each bar's kind, x, width, fill. */
function rows(svg: string) {
  return [
    ...svg.matchAll(
      /<g class="row" data-node="([^"]+)" data-index="(\d+)" data-status="([^"]+)">(.*?)<\/g>/gs,
    ),
  ].map((m) => ({
    node: m[1],
    index: Number(m[2]),
    status: m[3],
    bars: [
      ...m[4]!.matchAll(
        /<rect class="bar bar-([\w-]+) state-(\w+)"[^>]* data-start="(\d+)" data-end="(\d+)"[^>]* x="([\d.]+)" y="[\d.]+" width="([\d.]+)"[^>]* fill="([^"]+)"/g,
      ),
    ].map((b) => ({
      kind: b[1],
      state: b[2],
      start: Number(b[3]),
      end: Number(b[4]),
      x: Number(b[5]),
      w: Number(b[6]),
      fill: b[7],
    })),
    evictions: (m[4]!.match(/class="eviction /g) ?? []).length,
    retries: (m[4]!.match(/class="marker marker-pdb-retry"/g) ?? []).length,
  }));
}

describe("renderTimelineSvg", () => {
  const report = buildRollReport(succeededRun().events);
  const svg = renderTimelineSvg(report);

  test("one row per node in plan order, the snapshot row apart", () => {
    expect(rows(svg).map((r) => [r.index, r.node])).toEqual([
      [0, "cp-1"],
      [1, "w-1"],
      [2, "w-2"],
    ]);
    expect(svg).toContain('<g class="row-snapshot" data-step="etcd-snapshot" data-status="ok">');
  });

  test("bars left to right in time order, inside the plot, colored by kind", () => {
    for (const r of rows(svg)) {
      expect(r.bars.map((b) => b.kind)).toEqual(["drain", "upgrade", "ready", "uncordon"]);
      for (let i = 1; i < r.bars.length; i++) {
        expect(r.bars[i]!.x).toBeGreaterThanOrEqual(r.bars[i - 1]!.x);
        expect(r.bars[i]!.start).toBeGreaterThanOrEqual(r.bars[i - 1]!.end);
      }
      for (const b of r.bars) {
        expect(b.fill).toBe(SEGMENT_COLORS[b.kind as keyof typeof SEGMENT_COLORS]);
        expect(b.w).toBeGreaterThanOrEqual(2);
        expect(b.x + b.w).toBeLessThanOrEqual(1200);
      }
    }
    // the workers ran side by side: w-2's drain starts where w-1's does
    const [, w1, w2] = rows(svg);
    expect(w2!.bars[0]!.x).toBe(w1!.bars[0]!.x);
  });

  test("evictions and PDB retries drawn", () => {
    const [, , w2] = rows(svg);
    expect(w2!.evictions).toBe(1);
    expect(w2!.retries).toBe(2);
  });

  test("failures in red; one that may not have started hatched", () => {
    const failed = rows(renderTimelineSvg(buildRollReport(failedCommandRun().events)));
    const w1 = failed.find((r) => r.node === "w-1")!;
    expect(w1.status).toBe("failed");
    expect(w1.bars.map((b) => [b.kind, b.state, b.fill])).toEqual([
      ["drain", "ok", SEGMENT_COLORS.drain],
      ["upgrade", "failed", FAILED_COLOR],
    ]);
    const w2 = failed.find((r) => r.node === "w-2")!;
    expect(w2.bars[1]!.fill).toBe("url(#hatch-failed)");
  });

  test("the axis has ticks within the run", () => {
    const ticks = [
      ...svg.matchAll(/<text x="[\d.]+" y="\d+" text-anchor="middle" fill="#555555">\+([^<]+)</g),
    ].map((m) => m[1]);
    expect(ticks[0]).toBe("0s");
    expect(ticks).toContain("10s");
    expect(ticks.length).toBeLessThanOrEqual(11);
  });
});
