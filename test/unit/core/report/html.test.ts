import { renderReportHtml } from "../../../../lib/core/report/html";
import { buildRollReport } from "../../../../lib/core/report/model";
import { escapeMarkup } from "../../../../lib/core/report/escape";
import { failedCommandRun, PLAN, Run, succeededRun } from "./fixture";

describe("renderReportHtml", () => {
  const page = renderReportHtml(buildRollReport(succeededRun().events));

  test("one self-contained document: no script, no external reference", () => {
    expect(page.startsWith("<!doctype html>")).toBe(true);
    expect(page).not.toMatch(/<script|<link|<img|@import|url\((?!#)/i);
    expect(page).not.toMatch(/(src|href)=/i);
    expect(page).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(page.match(/<svg /g)).toHaveLength(1);
  });

  test("the header: versions, duration, evictions, retries, result", () => {
    const field = (f: string) => page.match(new RegExp(`data-field="${f}">([^<]*)<`))?.[1];
    expect(field("versions")).toBe("v1.34.4 -&gt; v1.35.4");
    expect(field("duration")).toBe("14.0 s");
    expect(field("evictions")).toBe("3");
    expect(field("pdb-retries")).toBe("2");
    expect(field("result")).toBe("succeeded");
    expect(field("nodes")).toBe("3 of 3");
    expect(field("started")).toBe("2026-11-24 21:37:00 UTC");
    expect(page).toContain('<body data-result="succeeded">');
  });

  test("the node table in plan order", () => {
    const rows = [...page.matchAll(/<tr class="status-(\w[\w-]*)" data-node="([^"]+)"/g)].map(
      (m) => [m[2], m[1]],
    );
    expect(rows).toEqual([
      ["cp-1", "upgraded"],
      ["w-1", "upgraded"],
      ["w-2", "upgraded"],
    ]);
  });

  test("failures are listed, red, with their message", () => {
    const failed = renderReportHtml(buildRollReport(failedCommandRun().events));
    expect(failed).toContain('<body data-result="failed">');
    expect(failed).toMatch(/<ul class="failures"><li data-node="w-1" data-step="upgrade">/);
    expect(failed).toMatch(/<tr class="status-failed" data-node="w-1">/);
  });

  test("every recorded text is escaped (node names, pods, error messages)", () => {
    const r = new Run(PLAN, false).at(10).started("cp-1", "drain");
    r.at(20).failed("cp-1", "drain", `<script>alert("x")</script> & 'quoted'`);
    const html = renderReportHtml(buildRollReport(r.at(30).end().events));
    expect(html).not.toContain("<script>");
    expect(html).toContain(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39;",
    );
  });
});

test("escapeMarkup", () => {
  expect(escapeMarkup(`a<b>&"c"'d'`)).toBe("a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;");
  expect(escapeMarkup(12)).toBe("12");
});
