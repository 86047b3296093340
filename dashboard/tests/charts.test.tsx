import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { DeploymentsPerDay, DurationsPerService, SuccessRatePerDay } from "@/components/Charts";
import { bars, dayLabel, dayRate, heightOf, niceDuration, niceMax, percent, seconds } from "@/lib/chart";
import { windowOf, type ServiceFigures } from "@/lib/metrics";

describe("chart scales", () => {
  it("rounds an axis top up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 3, 7, 10, 11, 140, 0.3].map(niceMax)).toEqual([1, 1, 5, 10, 10, 20, 200, 0.5]);
    expect([0.7, 42, 61, 100, 700, 5000].map(niceDuration)).toEqual([1, 50, 120, 120, 900, 7200]); // then minutes
  });

  it("lays bars across the width with gaps, and scales heights to the top", () => {
    const laid = bars(4, 600);
    expect(laid).toHaveLength(4);
    expect(laid[0].x).toBeGreaterThan(0);
    expect(laid[3].x + laid[3].width).toBeLessThanOrEqual(600);
    expect(laid[1].x - (laid[0].x + laid[0].width)).toBeCloseTo(30); // a fifth of a 150-unit slot
    expect(bars(90, 600).every((b) => b.width > 0)).toBe(true); // 90 days still fit
    expect([heightOf(5, 10, 120), heightOf(20, 10, 120), heightOf(3, 0, 120)]).toEqual([60, 120, 0]);
  });

  it("labels durations, rates, days and windows as a person reads them", () => {
    expect([0.42, 42, 185, 180, 7800, null].map(seconds)).toEqual(["0.4 s", "42 s", "3 min 5 s", "3 min", "2 h 10 min", "—"]);
    expect([percent(2 / 3), percent(1), percent(null)]).toEqual(["66.7 %", "100 %", "—"]);
    expect(dayLabel("2026-12-04")).toBe("4 Dec");
    expect([dayRate({ succeeded: 1, failed: 1 }), dayRate({ succeeded: 0, failed: 0 })]).toEqual([0.5, null]);
    expect([windowOf("7"), windowOf("90"), windowOf("12"), windowOf(null)]).toEqual([7, 90, 30, 30]);
  });
});

const days = [
  { date: "2026-12-03", deployments: 0, succeeded: 0, failed: 0 },
  { date: "2026-12-04", deployments: 3, succeeded: 1, failed: 1 },
];
const spread = (p50: number | null, p90: number | null) => ({ count: p50 === null ? 0 : 2, p50Seconds: p50, p90Seconds: p90 });
const web = {
  serviceId: "svc_1",
  environmentId: "env_1",
  name: "web",
  buildDuration: spread(40, 50),
  deployDuration: spread(10, 60),
} as ServiceFigures;

describe("charts", () => {
  it("draws deployments per day as stacked bars with the numbers as a table", () => {
    const html = renderToStaticMarkup(<DeploymentsPerDay days={days} />);
    expect(html).toContain('role="img"');
    expect(html).toContain("3 in 2 days: 1 succeeded, 1 failed, 1 other");
    expect(html).toContain('<tr data-day="2026-12-04"><td>4 Dec</td><td>3</td><td>1</td><td>1</td></tr>');
    expect(html).not.toContain('data-day="2026-12-03"'); // the table lists days with deployments
    expect(html).toContain("5 deployments"); // the axis top: 3 rounded up
  });

  it("shows a day's success rate only where something ended", () => {
    const html = renderToStaticMarkup(<SuccessRatePerDay days={days} overall={0.5} />);
    expect(html).toContain("50 % over the window");
    expect(html).toContain("<td>4 Dec</td><td>50 %</td><td>2</td>");
    expect(html.match(/<rect /g)).toHaveLength(1);
  });

  it("gives each service's p50 and p90 in words and as a table row", () => {
    const html = renderToStaticMarkup(<DurationsPerService services={[web, { ...web, serviceId: "svc_2", name: null }]} />);
    expect(html).toContain('aria-label="web build: p50 40 s, p90 50 s"');
    expect(html).toContain('<th scope="row">web</th><td>40 s</td><td>50 s</td><td>10 s</td><td>1 min</td>');
    expect(html).toContain("svc_2 (deleted)");
    expect(html).toContain("scale up to 1 min"); // the longest p90, 60 s
  });
});
