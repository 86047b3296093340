import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, publicCall } from "@/lib/api";
import { cacheHits, duration, source } from "@/lib/format";
import { safeNext } from "@/lib/paths";
import type { Deployment } from "@/lib/types";

const base: Deployment = {
  id: "dep_1",
  serviceId: "svc_1",
  kind: "source",
  status: "SUCCESS",
  reason: null,
  releaseNumber: 3,
  buildCached: false,
  buildCache: { artifact: "miss", deps: "hit", savedSeconds: 41.2 },
  url: null,
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:01:05Z",
};

describe("format", () => {
  it("reads a deployment as a person would", () => {
    expect(source(base)).toBe("upload v3");
    expect(source({ ...base, kind: "rollback" })).toBe("rollback v3");
    expect(duration(base)).toBe("1 min 5 s");
    expect(duration({ ...base, status: "BUILDING" })).toBe("running");
    expect(cacheHits(base)).toBe("artifact miss, deps hit, saved 41.2 s");
    expect(cacheHits({ ...base, buildCache: null })).toBe("—");
  });
});

describe("safeNext", () => {
  it("returns only to a page of the dashboard", () => {
    expect(safeNext("/dashboard/service/?id=svc_1")).toBe("/dashboard/service/?id=svc_1");
    for (const elsewhere of ["https://evil.example/", "//evil.example/dashboard/", "/v1/projects", null]) {
      expect(safeNext(elsewhere)).toBe("/dashboard/");
    }
  });
});

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function browser(session: object | null) {
  const store = new Map<string, string>(session ? [["railyard.session", JSON.stringify(session)]] : []);
  const location = { pathname: "/dashboard/service/", search: "?id=svc_1", assign: vi.fn() };
  vi.stubGlobal("window", {
    location,
    sessionStorage: {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => store.set(k, v),
      removeItem: (k: string) => store.delete(k),
    },
  });
  return { store, location };
}

afterEach(() => vi.unstubAllGlobals());

describe("api", () => {
  it("keeps the API's Code and Message, and API Gateway's own message", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(answer(401, { Code: "Unauthorized", Message: "wrong email or password" })));
    await expect(publicCall("/v1/auth/login", { method: "POST", body: {} })).rejects.toMatchObject({
      status: 401,
      code: "Unauthorized",
      message: "wrong email or password",
    });
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(answer(403, { message: "Missing Authentication Token" })));
    await expect(publicCall("/v1/nope")).rejects.toMatchObject({ code: "HTTP 403", message: "Missing Authentication Token" });
  });

  it("renews an expired session once with the refresh token and retries", async () => {
    const { store } = browser({ accessToken: "old", refreshToken: "r1" });
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(answer(401, { Code: "Unauthorized", Message: "token expired" }))
      .mockResolvedValueOnce(answer(200, { accessToken: "new", refreshToken: "r2" }))
      .mockResolvedValueOnce(answer(200, { projects: [] }));
    vi.stubGlobal("fetch", fetch);
    expect(await api("/v1/projects")).toEqual({ projects: [] });
    expect(fetch.mock.calls[2][1].headers.Authorization).toBe("Bearer new");
    expect(JSON.parse(store.get("railyard.session")!)).toEqual({ accessToken: "new", refreshToken: "r2" });
  });

  it("sends a session that cannot be renewed to sign-in, which returns to the same page", async () => {
    const { store, location } = browser({ accessToken: "old", refreshToken: "used" });
    vi.stubGlobal(
      "fetch",
      vi
        .fn()
        .mockResolvedValueOnce(answer(401, { Code: "Unauthorized", Message: "token expired" }))
        .mockResolvedValueOnce(answer(401, { Code: "Unauthorized", Message: "refresh token already used" }))
        .mockResolvedValueOnce(answer(401, { Code: "Unauthorized", Message: "token expired" })),
    );
    await expect(api("/v1/projects")).rejects.toBeInstanceOf(ApiError);
    expect(store.has("railyard.session")).toBe(false);
    expect(location.assign).toHaveBeenCalledWith("/dashboard/signin/?next=%2Fdashboard%2Fservice%2F%3Fid%3Dsvc_1");
  });
});
