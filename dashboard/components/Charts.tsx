// Small charts drawn as inline SVG (no chart library: the JavaScript budget, ADR 0041). The SVG holds
// only shapes in a fixed viewBox stretched to its box, so it fits any width; every word (axis ends,
// values) is HTML beside it, which neither stretches nor shrinks. Each chart says what it shows in
// an aria-label and carries its numbers as a table under "Numbers", its text alternative.
import type { ReactNode } from "react";
import { bars, dayLabel, dayRate, heightOf, niceDuration, niceMax, percent, seconds } from "@/lib/chart";
import type { Day, ServiceFigures, Spread } from "@/lib/metrics";
import "./charts.css";

const W = 600; // viewBox units; the drawing is stretched to the box's width
const H = 120;

function Chart({ title, summary, children, table }: { title: string; summary: string; children: ReactNode; table: ReactNode }) {
  return (
    <figure className="chart">
      <figcaption>
        <strong>{title}</strong> <span className="muted">{summary}</span>
      </figcaption>
      {children}
      <details>
        <summary>Numbers</summary>
        <div className="table-wrap">{table}</div>
      </details>
    </figure>
  );
}

/** The axis top's value above a chart, and its first and last days below it (`Ends`). */
function Top({ value, unit }: { value: string; unit: string }) {
  return (
    <div className="chart-top" aria-hidden="true">
      {value} {unit}
    </div>
  );
}

function Ends({ days }: { days: Day[] }) {
  return (
    <div className="chart-ends" aria-hidden="true">
      <span>{days[0] && dayLabel(days[0].date)}</span>
      <span>{days.length > 1 && dayLabel(days[days.length - 1].date)}</span>
    </div>
  );
}

/** Deployments per day, stacked: succeeded (green), failed (red), the rest (grey). */
export function DeploymentsPerDay({ days }: { days: Day[] }) {
  const total = days.reduce((n, d) => n + d.deployments, 0);
  const ok = days.reduce((n, d) => n + d.succeeded, 0);
  const failed = days.reduce((n, d) => n + d.failed, 0);
  const top = niceMax(Math.max(0, ...days.map((d) => d.deployments)));
  const slots = bars(days.length, W);
  const summary = `${total} in ${days.length} days: ${ok} succeeded, ${failed} failed, ${total - ok - failed} other`;
  return (
    <Chart
      title="Deployments per day"
      summary={summary}
      table={
        <table>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Deployments</th>
              <th scope="col">Succeeded</th>
              <th scope="col">Failed</th>
            </tr>
          </thead>
          <tbody>
            {days
              .filter((d) => d.deployments > 0)
              .map((d) => (
                <tr key={d.date} data-day={d.date}>
                  <td>{dayLabel(d.date)}</td>
                  <td>{d.deployments}</td>
                  <td>{d.succeeded}</td>
                  <td>{d.failed}</td>
                </tr>
              ))}
          </tbody>
        </table>
      }
    >
      <Top value={String(top)} unit="deployments" />
      <svg className="chart-svg" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`Deployments per day: ${summary}`}>
        <line x1="0" x2={W} y1={H} y2={H} className="chart-base" />
        {days.map((d, i) => {
          const okH = heightOf(d.succeeded, top, H);
          const badH = heightOf(d.failed, top, H);
          const restH = heightOf(d.deployments - d.succeeded - d.failed, top, H);
          const { x, width } = slots[i];
          return (
            <g key={d.date}>
              <title>{`${dayLabel(d.date)}: ${d.deployments} deployments, ${d.succeeded} succeeded, ${d.failed} failed`}</title>
              <rect x={x} width={width} y={H - okH} height={okH} className="chart-ok" />
              <rect x={x} width={width} y={H - okH - badH} height={badH} className="chart-bad" />
              <rect x={x} width={width} y={H - okH - badH - restH} height={restH} className="chart-other" />
            </g>
          );
        })}
      </svg>
      <Ends days={days} />
      <p className="chart-legend" aria-hidden="true">
        <span className="key chart-ok-key" /> succeeded <span className="key chart-bad-key" /> failed <span className="key chart-other-key" /> other
      </p>
    </Chart>
  );
}

/** Each day's success rate (succeeded over ended); days where nothing ended have no bar. */
export function SuccessRatePerDay({ days, overall }: { days: Day[]; overall: number | null }) {
  const slots = bars(days.length, W);
  const rated = days.filter((d) => dayRate(d) !== null);
  const summary = `${percent(overall)} over the window`;
  return (
    <Chart
      title="Success rate"
      summary={summary}
      table={
        <table>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Success rate</th>
              <th scope="col">Ended</th>
            </tr>
          </thead>
          <tbody>
            {rated.map((d) => (
              <tr key={d.date} data-day={d.date}>
                <td>{dayLabel(d.date)}</td>
                <td>{percent(dayRate(d))}</td>
                <td>{d.succeeded + d.failed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    >
      <Top value="100" unit="%" />
      <svg className="chart-svg" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`Success rate per day: ${summary}, ${rated.length} days with ended deployments`}>
        <line x1="0" x2={W} y1={H} y2={H} className="chart-base" />
        {days.map((d, i) => {
          const rate = dayRate(d);
          if (rate === null) return null;
          const h = Math.max(heightOf(rate, 1, H), 2); // 0 % still shows as a sliver, not as no data
          return (
            <rect key={d.date} x={slots[i].x} width={slots[i].width} y={H - h} height={h} className={rate >= 0.5 ? "chart-ok" : "chart-bad"}>
              <title>{`${dayLabel(d.date)}: ${percent(rate)} of ${d.succeeded + d.failed}`}</title>
            </rect>
          );
        })}
      </svg>
      <Ends days={days} />
    </Chart>
  );
}

type Row = { label: string; spread: Spread };

/** p50 and p90 of build and deploy durations, one pair of bars per service, on one scale. */
export function DurationsPerService({ services }: { services: ServiceFigures[] }) {
  const named = services.map((s) => ({ name: s.name ?? `${s.serviceId} (deleted)`, rows: [
    { label: "build", spread: s.buildDuration },
    { label: "deploy", spread: s.deployDuration },
  ] as Row[] }));
  const longest = Math.max(0, ...services.flatMap((s) => [s.buildDuration.p90Seconds ?? 0, s.deployDuration.p90Seconds ?? 0]));
  const top = niceDuration(longest);
  const summary = services.length ? `p50 (dark) and p90 (light), scale up to ${seconds(top)}` : "no deployments in the window";
  return (
    <Chart
      title="Durations per service"
      summary={summary}
      table={
        <table>
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Build p50</th>
              <th scope="col">Build p90</th>
              <th scope="col">Deploy p50</th>
              <th scope="col">Deploy p90</th>
            </tr>
          </thead>
          <tbody>
            {services.map((s, i) => (
              <tr key={s.serviceId} data-service={named[i].name}>
                <th scope="row">{named[i].name}</th>
                <td>{seconds(s.buildDuration.p50Seconds)}</td>
                <td>{seconds(s.buildDuration.p90Seconds)}</td>
                <td>{seconds(s.deployDuration.p50Seconds)}</td>
                <td>{seconds(s.deployDuration.p90Seconds)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    >
      <ul className="chart-rows">
        {named.map(({ name, rows }) => (
          <li key={name}>
            <span className="chart-row-name">{name}</span>
            {rows.map(({ label, spread }) => {
              const words = `${name} ${label}: p50 ${seconds(spread.p50Seconds)}, p90 ${seconds(spread.p90Seconds)}`;
              return (
                <div key={label} className="chart-row">
                  <span className="muted">{label}</span>
                  <svg viewBox={`0 0 ${W} 16`} preserveAspectRatio="none" role="img" aria-label={words}>
                    <rect x="0" y="2" height="12" width={heightOf(spread.p90Seconds ?? 0, top, W)} className="chart-p90" />
                    <rect x="0" y="2" height="12" width={heightOf(spread.p50Seconds ?? 0, top, W)} className="chart-p50" />
                  </svg>
                  <span>
                    {seconds(spread.p50Seconds)} / {seconds(spread.p90Seconds)}
                  </span>
                </div>
              );
            })}
          </li>
        ))}
      </ul>
    </Chart>
  );
}
