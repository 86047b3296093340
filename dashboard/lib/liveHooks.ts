// The page's one LiveClient (lib/live.ts) wired to the API, and the React hooks over it: a log
// stream's lines, statuses as they change, and whether live updates are up (the fallback notice).
"use client";

import { useEffect, useState } from "react";
import { api, ApiError, publicCall } from "./api";
import { FALLBACK_POLL_MS, LiveClient, type LiveRow, type LiveState, type LiveStatus } from "./live";
import { getSession } from "./session";
import type { LogLine, LogPage } from "./types";

const PAGE_LINES = 1000; // lines per read of the HTTP log route

let client: LiveClient | null = null;

/** The page's client, made on first use (in the browser only). */
export function liveClient(): LiveClient {
  client ??= new LiveClient({
    url: async () => (await publicCall<{ websocketUrl?: string }>("/v1/health")).websocketUrl ?? null,
    token: () => getSession()?.accessToken ?? null,
    read: async (deploymentId, stream, after) => {
      const page = await api<LogPage>(
        `/v1/deployments/${encodeURIComponent(deploymentId)}/logs?stream=${stream}&after=${after}&limit=${PAGE_LINES}`,
      );
      return { lines: page.lines.map((l) => ({ cursor: l.seq, ts: l.ts, line: l.message })), next: page.next, done: page.done };
    },
    renew: async () => {
      await api("/v1/whoami"); // a 401 there renews the session with the refresh token (lib/api.ts)
    },
  });
  return client;
}

/** Whether live updates are up; "down" means the page polls every FALLBACK_POLL_MS instead. */
export function useLiveState(): LiveState {
  const [state, setState] = useState<LiveState>("connecting");
  useEffect(() => liveClient().onState(setState), []);
  return state;
}

/** Calls `onStatus` with every status pushed for the target, while mounted. */
export function useLiveStatus(
  target: { deploymentId?: string; projectId?: string } | null,
  onStatus: (status: LiveStatus) => void,
): void {
  const deploymentId = target?.deploymentId;
  const projectId = target?.projectId;
  useEffect(() => {
    if (!deploymentId && !projectId) return;
    return liveClient().watchStatus({ deploymentId, projectId }, onStatus);
    // onStatus is a new closure each render; it only sets state
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [deploymentId, projectId]);
}

const toLine = (row: LiveRow): LogLine => ({ seq: row.cursor, ts: row.ts, message: row.line });

/** One log stream of a deployment: every line once, in order, live. */
export function useLiveLog(deploymentId: string, stream: string): { lines: LogLine[]; done: boolean; error: ApiError | null } {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    setLines([]);
    setDone(false);
    setError(null);
    return liveClient().followLog(deploymentId, stream, 0, {
      onLines: (rows, ended) => {
        if (rows.length) setLines((held) => held.concat(rows.map(toLine)));
        setDone(ended);
        setError(null);
      },
      onError: (caught) =>
        setError(caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught))),
    });
  }, [deploymentId, stream]);
  return { lines, done, error };
}

/** The poll period while live updates are up: a slow safety net. A tab may lengthen it with
 * localStorage `railyard.safetyPollMs` (the browser tests prove that the live path alone moves). */
export function safetyPollMs(): number {
  let chosen = NaN;
  try {
    chosen = Number(window.localStorage.getItem("railyard.safetyPollMs"));
  } catch {
    // storage disabled: the default
  }
  return chosen > 0 ? chosen : SAFETY_POLL_MS;
}

export const SAFETY_POLL_MS = 20000;
export { FALLBACK_POLL_MS };
