// Loads a page's data and keeps it current. Given a live target (a deployment or a project), the
// statuses the WebSocket pushes (lib/liveHooks.ts) move it: `apply` patches the data in place, or
// else the data is loaded again; polling stays as a slow safety net (SAFETY_POLL_MS). While the
// WebSocket cannot connect ("down") the page polls every FALLBACK_POLL_MS, and <LiveNotice> says so.
"use client";

import { useEffect, useRef, useState } from "react";
import { ApiError } from "./api";
import type { LiveStatus } from "./live";
import { FALLBACK_POLL_MS, safetyPollMs, useLiveState, useLiveStatus } from "./liveHooks";

export const POLL_MS = FALLBACK_POLL_MS;
const RELOAD_AFTER_PUSH_MS = 200; // pushes come in bursts (a status per step): one reload for them

export type LiveTarget<T> = {
  deploymentId?: string;
  projectId?: string;
  /** The data with the pushed status applied, or null to load it again. */
  apply?: (data: T, status: LiveStatus) => T | null;
};

export function usePolled<T>(
  load: (() => Promise<T>) | null,
  key: string,
  intervalMs: number = POLL_MS,
  targetOf?: LiveTarget<T> | null | ((data: T | null) => LiveTarget<T> | null),
): { data: T | null; error: ApiError | null } {
  const [data, setData] = useState<T | null>(null);
  // what to follow may be known only once loaded (a service's project)
  const live = typeof targetOf === "function" ? targetOf(data) : targetOf;
  const [error, setError] = useState<ApiError | null>(null);
  const [pushed, setPushed] = useState(0); // bumps when a push asks for a reload
  const liveState = useLiveState();
  const wantsLive = Boolean(live?.deploymentId || live?.projectId);
  // Only "down" polls fast: while the socket is still connecting (at most the client's connect
  // timeout, longer on a loaded machine) a fast poll would read what the push is about to bring.
  const period = !wantsLive ? intervalMs : liveState === "down" ? FALLBACK_POLL_MS : safetyPollMs();
  const latest = useRef({ load, live, data });
  latest.current = { load, live, data };
  const done = useRef({ key: "", at: 0, pushed: 0 }); // the last load that finished

  const early = useRef<LiveStatus | null>(null); // pushed before the first load answered
  useLiveStatus(wantsLive ? { deploymentId: live?.deploymentId, projectId: live?.projectId } : null, (status) => {
    const { live: target, data: held } = latest.current;
    if (held === null && target?.apply) {
      early.current = status; // applied to the load's answer (a second read would only race it)
      return;
    }
    const patched = held !== null && target?.apply ? target.apply(held, status) : null;
    if (patched !== null) {
      latest.current.data = patched; // a second push before the render builds on this one
      setData(patched);
    } else setPushed((n) => n + 1);
  });

  useEffect(() => {
    setData(null); // another id: never show the previous one's data under its name
    setError(null);
  }, [key]);

  useEffect(() => {
    const loader = latest.current.load;
    if (!loader) return;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      const asked = pushed;
      try {
        let value: T = await loader();
        if (stopped) return;
        const pushed = early.current;
        early.current = null;
        const apply = latest.current.live?.apply;
        if (pushed && apply) value = apply(value, pushed) ?? value;
        setData(value);
        setError(null);
      } catch (caught) {
        if (stopped) return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught)));
      }
      done.current = { key, at: Date.now(), pushed: asked };
      if (!stopped && period > 0) timer = setTimeout(tick, period);
    };
    // Now for an id not loaded yet (a re-run before its first load finished too); shortly for a
    // push (its burst); else a period after the last load (a new period, live came or went, only
    // moves the next poll).
    const last = done.current;
    if (last.key !== key) timer = setTimeout(tick, 0);
    else if (last.pushed !== pushed) timer = setTimeout(tick, RELOAD_AFTER_PUSH_MS);
    else if (period > 0) timer = setTimeout(tick, Math.max(0, last.at + period - Date.now()));
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [key, period, pushed]);
  return { data, error };
}
