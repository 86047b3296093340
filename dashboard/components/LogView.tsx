// One log stream of a deployment, fetched with the API's cursor (GET /v1/deployments/{id}/logs
// ?stream=&after=): each call asks only for lines after the last one held, so none is shown twice.
// The build stream stops once `done`; the deploy stream goes on slower (the app's output follows).
// A later session moves this onto the WebSocket API, keeping the cursor.
"use client";

import { useEffect, useMemo, useRef, useState } from "react";
import { ErrorNote } from "./ErrorNote";
import { api, ApiError } from "@/lib/api";
import type { LogLine, LogPage } from "@/lib/types";

const POLL_MS = 1000;
const AFTER_DONE_MS = 5000;

export function LogView({ deploymentId, stream }: { deploymentId: string; stream: "build" | "deploy" }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [query, setQuery] = useState("");
  const box = useRef<HTMLPreElement>(null);

  useEffect(() => {
    setLines([]);
    setDone(false);
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let after = 0;
    const tick = async () => {
      let wait = POLL_MS;
      try {
        const page = await api<LogPage>(
          `/v1/deployments/${encodeURIComponent(deploymentId)}/logs?stream=${stream}&after=${after}`,
        );
        if (stopped) return;
        after = page.next;
        if (page.lines.length) setLines((held) => held.concat(page.lines));
        setDone(page.done);
        setError(null);
        if (page.done && page.lines.length === 0) {
          if (stream === "build") return;
          wait = AFTER_DONE_MS;
        }
      } catch (caught) {
        if (stopped) return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught)));
      }
      timer = setTimeout(tick, wait);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [deploymentId, stream]);

  const shown = useMemo(() => {
    const needle = query.trim().toLowerCase();
    return needle ? lines.filter((line) => line.message.toLowerCase().includes(needle)) : lines;
  }, [lines, query]);

  // Follow the end while the reader is at the end; leave them where they are if they scrolled up.
  useEffect(() => {
    const el = box.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [shown]);

  const searchId = `search-${stream}`;
  return (
    <section aria-label={`${stream} logs`}>
      <div className="log-tools">
        <label htmlFor={searchId}>
          Search the {stream} log
          <input id={searchId} type="search" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
        <p className="muted" aria-live="polite">
          {query ? `${shown.length} of ${lines.length} lines match` : `${lines.length} lines`}
          {done ? "" : " · following"}
        </p>
      </div>
      <ErrorNote error={error} context={`Could not read the ${stream} log`} />
      <pre className="log" ref={box} tabIndex={0} aria-label={`${stream} log lines`} data-testid={`${stream}-log`}>
        {shown.map((line) => line.message).join("\n")}
      </pre>
    </section>
  );
}
