// One log stream of a deployment, live (lib/liveHooks.ts useLiveLog: the HTTP route's cursor, then
// the WebSocket's pushes; polling while it is down), every line once and in order.
// Only the lines in view are in the page (hand-written windowing: each line is one fixed-height row,
// no wrapping), so 10,000 lines scroll and filter without freezing it; search runs over every line.
"use client";

import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { ErrorNote } from "./ErrorNote";
import { useLiveLog } from "@/lib/liveHooks";

const ROW_PX = 18; // .log-row's height in globals.css: the windowing's arithmetic needs it fixed
const OVERSCAN = 20; // rows above and below the view, so a fast scroll shows no blank edge
const FOLLOW_SLACK_PX = 3 * ROW_PX; // at the end (or this near it) the view follows new lines

export function LogView({ deploymentId, stream }: { deploymentId: string; stream: "build" | "deploy" }) {
  const { lines, done, error } = useLiveLog(deploymentId, stream);
  const [query, setQuery] = useState("");
  const [view, setView] = useState({ top: 0, height: 600 });
  const box = useRef<HTMLDivElement>(null);
  const following = useRef(true);
  const lastTop = useRef(0); // where the view was when `following` was last decided

  const shown = useMemo(() => {
    const needle = query.trim().toLowerCase();
    return needle ? lines.filter((line) => line.message.toLowerCase().includes(needle)) : lines;
  }, [lines, query]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight });
    const onScroll = () => {
      following.current = el.scrollHeight - el.scrollTop - el.clientHeight < FOLLOW_SLACK_PX;
      lastTop.current = el.scrollTop;
      measure();
    };
    measure();
    el.addEventListener("scroll", onScroll, { passive: true });
    const resized = new ResizeObserver(measure);
    resized.observe(el);
    return () => {
      el.removeEventListener("scroll", onScroll);
      resized.disconnect();
    };
  }, []);

  // Follow the end while the reader is at the end; leave them where they are if they scrolled up,
  // even when lines arrive before that scroll's event (which comes a frame later) has said so.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el || !following.current) return;
    if (el.scrollTop < lastTop.current) {
      following.current = false; // moved up since: the scroll event will agree
      return;
    }
    el.scrollTop = el.scrollHeight;
    lastTop.current = el.scrollTop;
  }, [shown]);

  const first = Math.max(0, Math.floor(view.top / ROW_PX) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((view.top + view.height) / ROW_PX) + OVERSCAN);
  const visible = shown.slice(first, last);

  const searchId = `search-${stream}`;
  return (
    <section aria-label={`${stream} logs`}>
      <div className="log-tools">
        <label htmlFor={searchId}>
          Search the {stream} log
          <input id={searchId} type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
        <p className="muted log-count" aria-live="polite">
          {/* one text node: its words change, nothing in it moves (no layout shift) */}
          {`${query ? `${shown.length} of ${lines.length} lines match` : `${lines.length} lines`}${done ? "" : " · following"}`}
        </p>
      </div>
      <ErrorNote error={error} context={`Could not read the ${stream} log`} />
      <div className="log" ref={box} tabIndex={0} role="log" aria-label={`${stream} log lines`} data-testid={`${stream}-log`}>
        <div className="log-rows" style={{ height: shown.length * ROW_PX }}>
          <pre className="log-window" style={{ transform: `translateY(${first * ROW_PX}px)` }}>
            {visible.map((line) => (
              <div className="log-row" key={line.seq} data-seq={line.seq}>
                {line.message || " "}
              </div>
            ))}
          </pre>
        </div>
      </div>
    </section>
  );
}
