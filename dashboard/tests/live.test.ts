// The live-updates client (lib/live.ts) against a fake server: a log that grows, the HTTP route
// that reads it, and sockets the test opens, feeds and drops. What a reader would notice: every
// line once and in order, across pushes that repeat, skip or arrive while the socket is down.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BACKOFF_MS, FALLBACK_POLL_MS, LiveClient, type LiveRow, type LiveState, type SocketLike } from "@/lib/live";

class FakeSocket implements SocketLike {
  sent: Record<string, unknown>[] = [];
  closed = false;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: unknown) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  constructor(
    readonly url: string,
    private readonly server: FakeServer,
  ) {}
  send(data: string) {
    const message = JSON.parse(data) as Record<string, unknown>;
    this.sent.push(message);
    this.server.received(this, message);
  }
  close() {
    this.closed = true;
  }
  deliver(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop() {
    this.closed = true;
    this.onclose?.({});
  }
}

class FakeServer {
  log: LiveRow[] = [];
  sockets: FakeSocket[] = [];
  reachable = true;
  reads = 0;
  done = false; // what the route says of the stream (a deploy log is "done" once deployed)
  write(count: number): LiveRow[] {
    const start = this.log.length;
    const rows = Array.from({ length: count }, (_, i) => ({ cursor: start + i + 1, ts: "t", line: `line ${start + i + 1}` }));
    this.log.push(...rows);
    return rows;
  }
  push(rows: LiveRow[], after = rows[0].cursor - 1) {
    const message = { type: "log", deploymentId: "dep_1", stream: "deploy", after, cursor: rows[rows.length - 1].cursor, lines: rows };
    for (const socket of this.sockets) if (!socket.closed) socket.deliver(message);
  }
  open = (url: string): SocketLike => {
    const socket = new FakeSocket(url, this);
    this.sockets.push(socket);
    queueMicrotask(() => (this.reachable ? socket.onopen?.({}) : socket.drop()));
    return socket;
  };
  received(socket: FakeSocket, message: Record<string, unknown>) {
    socket.deliver({ type: "subscribed", deploymentId: message.deploymentId, projectId: message.projectId });
    const after = (message.after as Record<string, number> | undefined)?.deploy;
    if (message.deploymentId && after !== undefined) {
      const rows = this.log.filter((row) => row.cursor > after).slice(0, 1000); // the server's backfill
      if (rows.length) socket.deliver({ type: "log", deploymentId: "dep_1", stream: "deploy", after, cursor: rows[rows.length - 1].cursor, lines: rows });
    }
  }
  read = async (_id: string, _stream: string, after: number) => {
    this.reads += 1;
    const lines = this.log.filter((row) => row.cursor > after).slice(0, 1000);
    return { lines, next: lines.length ? lines[lines.length - 1].cursor : after, done: this.done };
  };
  get current(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }
}

function follow(server: FakeServer) {
  const client = new LiveClient({ url: async () => "ws://live.test", token: () => "tok_1", read: server.read, open: server.open });
  const seen: number[] = [];
  const states: LiveState[] = [];
  client.onState((state) => states.push(state));
  const stop = client.followLog("dep_1", "deploy", 0, { onLines: (rows) => seen.push(...rows.map((r) => r.cursor)) });
  return { client, seen, states, stop };
}

const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("LiveClient", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("reads what is written, subscribes from its cursor with the token, then shows pushed lines once", async () => {
    const server = new FakeServer();
    server.write(2500); // more than one read of the route and more than the server's backfill
    const { client, seen, states } = follow(server);
    await vi.advanceTimersByTimeAsync(10);
    expect(seen).toEqual(upTo(2500));
    const subscribe = server.current.sent[0];
    expect(subscribe).toMatchObject({ action: "subscribe", deploymentId: "dep_1", streams: ["deploy"], after: { deploy: 2500 }, token: "tok_1" });
    expect(server.current.url).toBe("ws://live.test/");
    expect(states.at(-1)).toBe("live");

    const rows = server.write(3);
    server.push(rows);
    server.push(rows); // a repeat
    server.push(rows.slice(1), rows[0].cursor); // an overlapping, reordered one
    await vi.advanceTimersByTimeAsync(10);
    expect(seen).toEqual(upTo(2503));
    client.close();
  });

  it("reads the route when a push skips lines (a lost push), then applies it", async () => {
    const server = new FakeServer();
    const { client, seen } = follow(server);
    await vi.advanceTimersByTimeAsync(10);
    server.write(5); // these are never pushed
    server.push(server.write(2));
    await vi.advanceTimersByTimeAsync(10);
    expect(seen).toEqual(upTo(7));
    client.close();
  });

  it("reconnects after a drop and resumes from its cursor: no gap, no duplicate", async () => {
    const server = new FakeServer();
    const { client, seen, states } = follow(server);
    await vi.advanceTimersByTimeAsync(10);
    server.push(server.write(10));
    await vi.advanceTimersByTimeAsync(10);
    const first = server.current;
    first.drop();
    server.write(1500); // written while the connection is down: more than the server's backfill
    expect(server.sockets.length).toBe(1);
    await vi.advanceTimersByTimeAsync(BACKOFF_MS[0] + 10);
    expect(server.sockets.length).toBe(2);
    expect(server.current.sent[0]).toMatchObject({ after: { deploy: 10 } });
    server.push(server.write(5));
    await vi.advanceTimersByTimeAsync(10);
    expect(seen).toEqual(upTo(1515));
    expect(states).not.toContain("down"); // a drop that reconnects at once is no outage
    client.close();
  });

  it("says it is down when it cannot connect, polls the route meanwhile, and goes live again", async () => {
    const server = new FakeServer();
    server.reachable = false;
    const { client, seen, states } = follow(server);
    await vi.advanceTimersByTimeAsync(10);
    expect(states.at(-1)).toBe("down");
    server.write(3);
    await vi.advanceTimersByTimeAsync(FALLBACK_POLL_MS + 600);
    expect(seen).toEqual(upTo(3)); // read by polling

    server.reachable = true;
    await vi.advanceTimersByTimeAsync(BACKOFF_MS[BACKOFF_MS.length - 1] + 10);
    expect(states.at(-1)).toBe("live");
    server.push(server.write(2));
    await vi.advanceTimersByTimeAsync(10);
    expect(seen).toEqual(upTo(5));
    client.close();
  });

  it("keeps reading a deploy log the route calls done while it cannot connect (the app still prints)", async () => {
    const server = new FakeServer();
    server.reachable = false;
    server.done = true;
    const { client, seen } = follow(server);
    await vi.advanceTimersByTimeAsync(10);
    server.write(2);
    await vi.advanceTimersByTimeAsync(FALLBACK_POLL_MS + 600);
    expect(seen).toEqual(upTo(2));
    client.close();
  });

  it("cannot connect when the API advertises no WebSocket, and says so", async () => {
    const server = new FakeServer();
    const client = new LiveClient({ url: async () => null, token: () => "t", read: server.read, open: server.open });
    const states: LiveState[] = [];
    client.onState((state) => states.push(state));
    client.watchStatus({ projectId: "prj_1" }, () => undefined);
    await vi.advanceTimersByTimeAsync(10);
    expect(states.at(-1)).toBe("down");
    expect(server.sockets).toHaveLength(0);
    client.close();
  });

  it("gives each status to the watchers of its deployment and of its project", async () => {
    const server = new FakeServer();
    const client = new LiveClient({ url: async () => "ws://live.test", token: () => "t", read: server.read, open: server.open });
    const byProject: string[] = [];
    const byDeployment: string[] = [];
    client.watchStatus({ projectId: "prj_1" }, (s) => byProject.push(`${s.deploymentId} ${s.status}`));
    client.watchStatus({ deploymentId: "dep_2" }, (s) => byDeployment.push(s.status));
    await vi.advanceTimersByTimeAsync(10);
    expect(server.current.sent.map((m) => m.projectId ?? m.deploymentId).sort()).toEqual(["dep_2", "prj_1"]);
    const status = (deploymentId: string, projectId: string, value: string) =>
      server.current.deliver({ type: "status", deploymentId, projectId, serviceId: "s", environmentId: "e", status: value, reason: null, updatedAt: "" });
    status("dep_1", "prj_1", "BUILDING");
    status("dep_2", "prj_9", "SUCCESS");
    expect(byProject).toEqual(["dep_1 BUILDING"]);
    expect(byDeployment).toEqual(["SUCCESS"]);
    client.close();
  });
});
