import {
  formatDuration,
  formatOffset,
  formatTimestamp,
  tickStepMs,
} from "../../../../lib/core/report/format";

test("formatDuration", () => {
  expect(formatDuration(0)).toBe("0.0 s");
  expect(formatDuration(12_340)).toBe("12.3 s");
  expect(formatDuration(125_000)).toBe("2 min 05 s");
  expect(formatDuration(3_720_000)).toBe("1 h 02 min");
  expect(formatDuration(-5)).toBe("0.0 s");
});

test("formatOffset", () => {
  expect(formatOffset(0)).toBe("0s");
  expect(formatOffset(45_000)).toBe("45s");
  expect(formatOffset(150_000)).toBe("2:30");
  expect(formatOffset(3_720_000)).toBe("1:02:00");
});

test("formatTimestamp is UTC to the second", () => {
  expect(formatTimestamp(Date.UTC(2026, 10, 24, 21, 37, 5, 900))).toBe("2026-11-24 21:37:05 UTC");
});

test("tickStepMs: at most 10 ticks, round steps", () => {
  expect(tickStepMs(5_000)).toBe(1_000);
  expect(tickStepMs(14_000)).toBe(2_000);
  expect(tickStepMs(95_000)).toBe(10_000);
  expect(tickStepMs(40 * 60_000)).toBe(300_000);
  for (const span of [1, 999, 61_000, 86_400_000])
    expect(span / tickStepMs(span)).toBeLessThanOrEqual(10);
});
