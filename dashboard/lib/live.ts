// The WebSocket client of the API's live updates (docs/api.md#live-updates, ADR 0040), the same
// protocol `railyard up` follows (railyard/commands/live.py), hand-written: no library.
//
// One connection per page, to the URL GET /v1/health advertises. The token travels in each
// subscribe message (a browser cannot set headers on a WebSocket, and a query string would land in
// access logs). Listeners follow a deployment's log stream (with their own cursor), a deployment's
// status or a project's statuses; the client (re)sends the subscriptions whenever it connects.
//
// Log lines never show twice and never leave a gap: a "log" message is applied only when it follows
// the listener's cursor (`after` <= cursor; lines <= cursor are dropped); otherwise the HTTP route
// is read from the cursor first. Every (re)subscription, and every QUIET_MS without news, reads the
// route too, so lines written while the connection was down (more than the server's backfill, or
// with no later push to reveal the gap) still arrive. A dropped connection is opened again with
// backoff; while it cannot connect the client says so (`state` "down") and reads logs by polling.

export type LiveStatus = {
  type: "status";
  deploymentId: string;
  serviceId: string;
  projectId: string;
  environmentId: string;
  status: string;
  reason: string | null;
  updatedAt: string;
};
export type LiveRow = { cursor: number; ts: string; line: string };
type LiveLog = { type: "log"; deploymentId: string; stream: string; after: number; cursor: number; lines: LiveRow[] };
export type RoutePage = { lines: LiveRow[]; next: number; done: boolean };
export type LiveState = "connecting" | "live" | "down";

/** What the client needs of a WebSocket (the browser's, or a test's fake). */
export type SocketLike = {
  send(data: string): void;
  close(): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
};

export type LiveOptions = {
  url: () => Promise<string | null>; // the advertised websocketUrl; null: this API has none
  token: () => string | null;
  read: (deploymentId: string, stream: string, after: number) => Promise<RoutePage>; // the HTTP route
  open?: (url: string) => SocketLike;
  renew?: () => Promise<void>; // an Unauthorized subscribe: renew the session, then subscribe again
};

export type LogListener = {
  onLines: (rows: LiveRow[], done: boolean) => void;
  onError?: (error: unknown) => void;
};

// Waits before each new attempt after a failure; the last repeats. The first reconnect after a
// drop is quick: a closed connection is usually a proxy or the 2-hour limit, not an outage.
export const BACKOFF_MS = [250, 1000, 2000, 5000, 10000];
export const QUIET_MS = 15000; // the CLI's safety net, slower: a lost push is rare
export const FALLBACK_POLL_MS = 2000; // how often logs and pages are read while the socket is down
const CONNECT_TIMEOUT_MS = 5000;

type Follow = {
  deploymentId: string;
  stream: string;
  cursor: number;
  done: boolean;
  listener: LogListener;
  chain: Promise<void>; // one application at a time, in order
  lastNews: number;
  stopped: boolean;
  synced: number; // the connection whose subscription this stream has read the route after
};
type StatusWatch = { deploymentId?: string; projectId?: string; onStatus: (status: LiveStatus) => void };

export class LiveClient {
  private socket: SocketLike | null = null;
  private opened = false; // the current socket is open: subscribe on it now
  private subscribed = false; // the current socket answered a subscribe: it is live
  private generation = 0; // connections opened so far
  private failures = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private renewing = false;
  private follows = new Set<Follow>();
  private watches = new Set<StatusWatch>();
  private stateListeners = new Set<(state: LiveState) => void>();
  state: LiveState = "connecting";

  constructor(private readonly options: LiveOptions) {}

  /** Follows one log stream from `cursor` (the last line held); returns the way to stop. */
  followLog(deploymentId: string, stream: string, cursor: number, listener: LogListener): () => void {
    const follow: Follow = {
      ...{ deploymentId, stream, cursor, listener, done: false, stopped: false },
      ...{ chain: Promise.resolve(), lastNews: Date.now(), synced: this.generation },
    };
    this.follows.add(follow);
    // What is already written comes from the route (pages of 1000 lines, where the server's
    // backfill stops at 1000); then the subscription, from the cursor reached, pushes the rest.
    this.catchUp(follow);
    this.queue(follow, async () => {
      if (!follow.stopped) this.subscribe({ deploymentId, streams: [stream], after: { [stream]: follow.cursor } });
    });
    return () => {
      follow.stopped = true;
      this.follows.delete(follow);
      this.idle();
    };
  }

  /** Calls `onStatus` with each status of a deployment, or of every deployment of a project. */
  watchStatus(target: { deploymentId?: string; projectId?: string }, onStatus: (s: LiveStatus) => void): () => void {
    const watch: StatusWatch = { ...target, onStatus };
    this.watches.add(watch);
    if (target.projectId) this.subscribe({ projectId: target.projectId });
    // a deployment's topic needs a stream; a cursor past any line asks for no backfill
    else if (target.deploymentId) this.subscribe({ deploymentId: target.deploymentId, streams: ["build"], after: { build: Number.MAX_SAFE_INTEGER } });
    return () => {
      this.watches.delete(watch);
      this.idle();
    };
  }

  onState(listener: (state: LiveState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  close(): void {
    clearTimeout(this.retry);
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.follows.clear();
    this.watches.clear();
    this.drop();
  }

  // --- the connection ------------------------------------------------------------------------

  private subscriptions(): Record<string, unknown>[] {
    const found = new Map<string, Record<string, unknown>>();
    for (const f of this.follows) {
      found.set(`${f.deploymentId}/${f.stream}`, { deploymentId: f.deploymentId, streams: [f.stream], after: { [f.stream]: f.cursor } });
    }
    for (const w of this.watches) {
      if (w.projectId) found.set(w.projectId, { projectId: w.projectId });
      else if (w.deploymentId && ![...this.follows].some((f) => f.deploymentId === w.deploymentId))
        found.set(w.deploymentId, { deploymentId: w.deploymentId, streams: ["build"], after: { build: Number.MAX_SAFE_INTEGER } });
    }
    return [...found.values()];
  }

  private subscribe(request: Record<string, unknown>): void {
    this.ensureTicker();
    if (this.socket && this.opened) this.send(request);
    else if (!this.socket && this.retry === undefined) void this.connect();
  }

  private send(request: Record<string, unknown>): void {
    this.socket?.send(JSON.stringify({ action: "subscribe", ...request, token: this.options.token() ?? undefined }));
  }

  private async connect(): Promise<void> {
    this.retry = undefined;
    if (this.follows.size === 0 && this.watches.size === 0) return;
    let url: string | null = null;
    try {
      url = await this.options.url();
    } catch {
      url = null;
    }
    if (!url) return this.failed();
    let socket: SocketLike;
    try {
      const open = this.options.open ?? ((u: string) => new WebSocket(u) as unknown as SocketLike);
      socket = open(`${url.replace(/\/+$/, "")}/`);
    } catch {
      return this.failed(); // a URL the page's CSP or the browser refuses
    }
    this.socket = socket;
    this.generation += 1;
    this.opened = false;
    this.subscribed = false;
    const timeout = setTimeout(() => {
      if (this.socket === socket && !this.subscribed) this.lost(socket);
    }, CONNECT_TIMEOUT_MS);
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.opened = true;
      for (const request of this.subscriptions()) this.send(request);
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      let message: { type?: string } & Record<string, unknown>;
      try {
        message = JSON.parse(String(event.data));
      } catch {
        return;
      }
      this.receive(message);
    };
    socket.onerror = () => undefined; // onclose follows, with nothing more to learn from it
    socket.onclose = () => {
      clearTimeout(timeout);
      if (this.socket === socket) this.lost(socket);
    };
  }

  private receive(message: { type?: string } & Record<string, unknown>): void {
    if (message.type === "subscribed") {
      this.subscribed = true;
      this.failures = 0;
      this.setState("live");
      // resume: whatever was written while we were away, past the server's backfill too
      for (const f of this.follows)
        if (f.deploymentId === message.deploymentId && f.synced < this.generation) {
          f.synced = this.generation;
          this.catchUp(f);
        }
    } else if (message.type === "status") {
      const status = message as unknown as LiveStatus;
      for (const w of this.watches)
        if (w.deploymentId === status.deploymentId || (w.projectId && w.projectId === status.projectId)) w.onStatus(status);
    } else if (message.type === "log") {
      const log = message as unknown as LiveLog;
      for (const f of this.follows) if (f.deploymentId === log.deploymentId && f.stream === log.stream) this.push(f, log);
    } else if (message.type === "error" && message.Code === "Unauthorized" && this.options.renew && !this.renewing) {
      this.renewing = true; // an expired access token: renew it once, then subscribe again
      void this.options.renew().finally(() => {
        this.renewing = false;
        for (const request of this.subscriptions()) this.send(request);
      });
    }
  }

  private lost(socket: SocketLike): void {
    const wasLive = this.subscribed;
    this.drop();
    try {
      socket.close();
    } catch {
      // already closed
    }
    if (wasLive) {
      this.failures = 0;
      this.schedule(); // a drop after being live: quietly try again at once
    } else this.failed();
  }

  private failed(): void {
    this.failures += 1;
    this.setState("down");
    this.schedule();
  }

  private schedule(): void {
    if (this.follows.size === 0 && this.watches.size === 0) return;
    const wait = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.connect(), wait);
  }

  private drop(): void {
    const socket = this.socket;
    this.socket = null;
    this.opened = false;
    this.subscribed = false;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
  }

  private idle(): void {
    if (this.follows.size || this.watches.size) return;
    clearTimeout(this.retry);
    this.retry = undefined;
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.drop();
  }

  private setState(state: LiveState): void {
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  // The safety net: a stream quiet for QUIET_MS (FALLBACK_POLL_MS while the socket is down) is read
  // from the route, in case a push was lost or cannot come.
  private ensureTicker(): void {
    if (this.ticker !== undefined) return;
    this.ticker = setInterval(() => {
      const now = Date.now();
      const every = this.state === "live" ? QUIET_MS : FALLBACK_POLL_MS;
      // a done build log gets no more lines; a deploy log is "done" once deployed, yet the app's
      // output goes on
      for (const f of this.follows)
        if ((!f.done || f.stream !== "build") && now - f.lastNews >= every) this.catchUp(f);
    }, 500);
  }

  // --- applying lines --------------------------------------------------------------------------

  private queue(follow: Follow, step: () => Promise<void>): void {
    follow.chain = follow.chain.then(step).catch((error: unknown) => follow.listener.onError?.(error));
  }

  private catchUp(follow: Follow): void {
    follow.lastNews = Date.now();
    this.queue(follow, () => this.readRoute(follow));
  }

  private push(follow: Follow, log: LiveLog): void {
    follow.lastNews = Date.now();
    this.queue(follow, async () => {
      if (log.after > follow.cursor) await this.readRoute(follow); // lines were missed: the route first
      if (follow.stopped || log.after > follow.cursor) return; // the route has not got them yet either
      this.deliver(follow, log.lines, follow.done);
      follow.cursor = Math.max(follow.cursor, log.cursor);
    });
  }

  private async readRoute(follow: Follow): Promise<void> {
    for (;;) {
      const page = await this.options.read(follow.deploymentId, follow.stream, follow.cursor);
      if (follow.stopped) return;
      follow.done = page.done;
      const before = follow.cursor;
      this.deliver(follow, page.lines, page.done);
      follow.cursor = Math.max(follow.cursor, page.next);
      if (page.lines.length === 0 || follow.cursor <= before) return;
    }
  }

  private deliver(follow: Follow, rows: LiveRow[], done: boolean): void {
    const fresh = rows.filter((row) => row.cursor > follow.cursor);
    if (fresh.length === 0 && !done) return;
    follow.cursor = Math.max(follow.cursor, ...fresh.map((row) => row.cursor));
    follow.listener.onLines(fresh, done);
  }
}
