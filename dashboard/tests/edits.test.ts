import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { submitKeys } from "@/lib/api";
import { applyVariables, redeployService } from "@/lib/edits";
import type { Staged } from "@/lib/staging";

// The Variables tab's Deploy and the Settings tab's "Deploy now" make deployments: each submit
// carries one Idempotency-Key, the same on every send of it (docs/api.md "Idempotency keys").

const applied = { variables: { GREETING: "hi" }, sealed: [], deployment: { id: "dep_9" } };
const answer = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
const keyOf = (call: unknown[]) => (call[1] as { headers: Record<string, string> }).headers["Idempotency-Key"];

beforeEach(() => {
  vi.stubGlobal("window", {
    location: { pathname: "/dashboard/", search: "", assign: vi.fn() },
    sessionStorage: {
      getItem: () => JSON.stringify({ accessToken: "old", refreshToken: "r" }),
      setItem: vi.fn(),
      removeItem: vi.fn(),
    },
  });
});
afterEach(() => vi.unstubAllGlobals());

describe("a submit that makes a deployment", () => {
  it("sends the Variables PATCH with the submit's key, the same again after a lost answer", async () => {
    const fetch = vi
      .fn()
      .mockRejectedValueOnce(new TypeError("Failed to fetch")) // sent, but its answer never came
      .mockResolvedValueOnce(answer(200, applied));
    vi.stubGlobal("fetch", fetch);
    const keys = submitKeys<Staged>();
    const staged: Staged = { GREETING: { kind: "set", name: "GREETING", value: "hi" } };
    const patch = { set: { GREETING: "hi" } };

    await expect(applyVariables("svc_1", patch, keys.of(staged))).rejects.toThrow("Failed to fetch");
    expect(await applyVariables("svc_1", patch, keys.of(staged))).toEqual(applied); // Deploy again

    const [first, again] = fetch.mock.calls;
    expect(first[0]).toBe("/v1/services/svc_1/variables");
    expect(first[1].method).toBe("PATCH");
    expect(keyOf(first)).toMatch(/^[\x21-\x7e]{1,255}$/); // visible ASCII, as the API requires
    expect(keyOf(again)).toBe(keyOf(first)); // so the API answers the first success, not a second deployment
    expect(again[1].body).toBe(first[1].body);
  });

  it("keeps the key when a 401 renews the session and the request is sent again", async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(answer(401, { Code: "Unauthorized", Message: "expired" }))
      .mockResolvedValueOnce(answer(200, { accessToken: "new", refreshToken: "r2" }))
      .mockResolvedValueOnce(answer(200, applied));
    vi.stubGlobal("fetch", fetch);

    await applyVariables("svc_1", { unset: ["OLD"] }, "key-1");

    const [sent, refresh, resent] = fetch.mock.calls;
    expect(refresh[0]).toBe("/v1/auth/refresh");
    expect([keyOf(sent), keyOf(resent)]).toEqual(["key-1", "key-1"]);
    expect(resent[1].headers.Authorization).toBe("Bearer new");
  });

  it("gives the next submit a new key: after a success, or once the staged changes change", () => {
    const keys = submitKeys<Staged>();
    const staged: Staged = {};
    const first = keys.of(staged);
    expect(keys.of(staged)).toBe(first);
    expect(keys.of({ ...staged })).not.toBe(first); // staged something else: another submit
    const second = keys.of(staged);
    keys.done(); // it succeeded
    expect(keys.of(staged)).not.toBe(second);
  });

  it("sends Deploy now as a keyed redeploy", async () => {
    const fetch = vi.fn().mockResolvedValue(answer(201, { deployment: { id: "dep_10" } }));
    vi.stubGlobal("fetch", fetch);

    expect(await redeployService("svc_1", "key-2")).toEqual({ id: "dep_10" });

    const [url, init] = fetch.mock.calls[0];
    expect([url, init.method, init.body]).toEqual(["/v1/services/svc_1/deployments", "POST", '{"redeploy":true}']);
    expect(init.headers["Idempotency-Key"]).toBe("key-2");
  });
});
