// The arithmetic of the dashboard's small charts (components/Charts.tsx): axis tops that read well,
// bar geometry in a fixed viewBox (the SVG scales to its box, so it fits 390 px as well as 1280 px),
// and the words the axes and text alternatives use. Pure, so Vitest checks it without a browser.

/** The smallest "nice" number (1, 2 or 5 times a power of ten) at or above `value`; 1 for 0. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

// Axis tops for durations above a minute: whole minutes and hours a person reads at a glance.
const DURATION_TOPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** An axis top for durations in seconds: niceMax up to a minute, then the next of DURATION_TOPS. */
export function niceDuration(value: number): number {
  if (value <= 60) return niceMax(value);
  return DURATION_TOPS.find((top) => top >= value) ?? niceMax(value);
}

export type Bar = { x: number; width: number };

/** `count` bars side by side across `width`, with a gap of a fifth of each slot (at least 1 unit
 * when there is room for it) so neighbouring days stay apart. */
export function bars(count: number, width: number): Bar[] {
  if (count <= 0) return [];
  const slot = width / count;
  const gap = slot >= 5 ? Math.max(1, slot / 5) : 0;
  return Array.from({ length: count }, (_, i) => ({ x: i * slot + gap / 2, width: slot - gap }));
}

/** The height of `value` on an axis from 0 to `top` drawn `height` units tall. */
export function heightOf(value: number, top: number, height: number): number {
  if (!(top > 0) || !(value > 0)) return 0;
  return (Math.min(value, top) / top) * height;
}

/** Seconds as a person reads a duration: "0.4 s", "42 s", "3 min 5 s", "2 h 10 min". */
export function seconds(value: number | null): string {
  if (value === null) return "—";
  if (value < 10) return `${Number(value.toFixed(1))} s`;
  if (value < 60) return `${Math.round(value)} s`;
  if (value < 3600) {
    const s = Math.round(value % 60);
    return s ? `${Math.floor(value / 60)} min ${s} s` : `${Math.floor(value / 60)} min`;
  }
  const m = Math.round((value % 3600) / 60);
  return m ? `${Math.floor(value / 3600)} h ${m} min` : `${Math.floor(value / 3600)} h`;
}

/** A 0-1 rate as a percentage ("66.7 %"); "—" when there is none (nothing reached a verdict). */
export function percent(rate: number | null): string {
  if (rate === null) return "—";
  return `${Number((rate * 100).toFixed(1))} %`;
}

/** "2026-12-04" as a short axis label: "4 Dec" (UTC, the series' own days). */
export function dayLabel(date: string): string {
  const [year, month, day] = date.split("-").map(Number);
  const moment = new Date(Date.UTC(year, month - 1, day));
  return `${moment.getUTCDate()} ${moment.toLocaleString("en", { month: "short", timeZone: "UTC" })}`;
}

/** A day's success rate: succeeded over the ones that ended either way; null with none. */
export function dayRate(day: { succeeded: number; failed: number }): number | null {
  const ended = day.succeeded + day.failed;
  return ended ? day.succeeded / ended : null;
}
