// Loads a page's data and reloads it every few seconds, so statuses move without a reload. Polling is
// the stand-in until the WebSocket API carries changes (issue 13, part 2).
"use client";

import { useEffect, useState } from "react";
import { ApiError } from "./api";

export const POLL_MS = 2000;

export function usePolled<T>(
  load: (() => Promise<T>) | null,
  key: string,
  intervalMs: number = POLL_MS,
): { data: T | null; error: ApiError | null } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    if (!load) return;
    setData(null); // another id: never show the previous one's data under its name
    setError(null);
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        const value = await load();
        if (stopped) return;
        setData(value);
        setError(null);
      } catch (caught) {
        if (stopped) return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught)));
      }
      if (!stopped && intervalMs > 0) timer = setTimeout(tick, intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
    // `key` names what is loaded; `load` is a new closure on every render
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, intervalMs]);
  return { data, error };
}
