import { renderToStaticMarkup } from "react-dom/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  canRollBackTo,
  DeploymentActions,
  previewRollback,
  RollbackConfirm,
  variablesWarning,
  withActionKey,
  type PreviewState,
} from "@/components/DeploymentActions";
import { api, ApiError, newIdempotencyKey, submitKeys } from "@/lib/api";
import { source, who } from "@/lib/format";
import type { Deployment, Service } from "@/lib/types";

const service: Service = {
  id: "svc_1",
  projectId: "prj_1",
  environmentId: "env_1",
  name: "web",
  hostname: "web-production-demo",
  url: null,
  workload: "web",
  settings: {},
  activeDeploymentId: "dep_2",
  activeReleaseId: "rel_2",
};

const v1: Deployment = {
  id: "dep_1",
  serviceId: "svc_1",
  kind: "source",
  status: "REMOVED",
  reason: null,
  releaseId: "rel_1",
  releaseNumber: 1,
  buildCached: false,
  buildCache: null,
  url: null,
  createdBy: { kind: "token", name: "ci", userId: null, label: "token ci" },
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:01:05Z",
};

afterEach(() => vi.unstubAllGlobals());

describe("DeploymentActions", () => {
  it("offers Roll back on an earlier release that served, nothing on the live one", () => {
    expect(renderToStaticMarkup(<DeploymentActions deployment={v1} service={service} />)).toContain(
      '<button type="button">Roll back to v1</button>',
    );
    const live = { ...v1, id: "dep_2", status: "SUCCESS", releaseId: "rel_2", releaseNumber: 2 };
    expect(renderToStaticMarkup(<DeploymentActions deployment={live} service={service} />)).toBe("");
    expect(canRollBackTo({ ...v1, status: "FAILED" }, service)).toBe(false); // it never served
    expect(canRollBackTo({ ...v1, releaseId: null }, service)).toBe(false);
  });

  it("offers Cancel while a deployment is in progress", () => {
    const building = { ...v1, status: "BUILDING", releaseId: null };
    expect(renderToStaticMarkup(<DeploymentActions deployment={building} service={service} />)).toContain(">Cancel</button>");
  });

  it("words a rollback's variables as the API answers them", () => {
    expect(variablesWarning(["A", "B"])).toContain("values of A, B differ from the current ones");
    expect(variablesWarning([])).toBe("its variables are the current ones");
    expect(variablesWarning(null)).toBe("it runs that release's own variables");
  });
});

describe("the rollback's confirm step", () => {
  const confirmStep = (state: PreviewState) =>
    renderToStaticMarkup(<RollbackConfirm version="v1" state={state} busy={false} onConfirm={() => {}} onKeep={() => {}} />);
  const confirmButton = (html: string) => html.match(/<button[^>]*>Confirm roll back to v1<\/button>/)?.[0] ?? "";
  const preview = (variablesChanged: string[] | null) => ({ preview: { release: { number: 1 }, variablesChanged }, error: null });

  it("names the variables the rollback brings back before Confirm can be pressed", () => {
    const asking = confirmStep({ preview: null, error: null });
    expect(asking).toContain("Checking which variables v1 brings back…");
    expect(confirmButton(asking)).toContain('aria-disabled="true"'); // focusable, but waits for the words

    const html = confirmStep(preview(["GREETING", "SIZE"]));
    expect(html).toContain("Rolling back to v1 brings back older values of: GREETING, SIZE");
    expect(confirmButton(html)).not.toContain("aria-disabled");
    expect(confirmStep(preview([]))).toContain("Rolling back to v1 runs the same variables as now.");
    // a caller who may not read variables is told the release's own come back, not which
    expect(confirmStep(preview(null))).toContain("It runs v1&#x27;s own variables, not the current ones.");
  });

  it("shows the API's refusal in words and keeps Confirm off; a network failure leaves it on", () => {
    const pruned = new ApiError(409, "ReleasePruned", "release v1 was pruned by retention (keep 10)");
    const refused = confirmStep({ preview: null, error: pruned });
    expect(refused).toContain('role="alert"');
    expect(refused).toContain("Could not check the rollback to v1: <strong>ReleasePruned</strong> — release v1 was pruned");
    expect(confirmButton(refused)).toContain('aria-disabled="true"');
    const offline = confirmStep({ preview: null, error: new ApiError(0, "NetworkError", "TypeError: failed to fetch") });
    expect(confirmButton(offline)).not.toContain("aria-disabled");
    expect(offline).toContain("It runs v1&#x27;s own variables");
  });

  it("asks the API's preview with a GET for that deployment, with no Idempotency-Key", async () => {
    vi.stubGlobal("window", {
      location: { pathname: "/dashboard/", search: "", assign: vi.fn() },
      sessionStorage: { getItem: () => JSON.stringify({ accessToken: "t" }), setItem: vi.fn(), removeItem: vi.fn() },
    });
    const answer = { release: { number: 1 }, variablesChanged: ["GREETING"] };
    const fetch = vi.fn().mockResolvedValue(new Response(JSON.stringify(answer), { status: 200 }));
    vi.stubGlobal("fetch", fetch);
    expect(await previewRollback(v1)).toEqual(answer);
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/v1/services/svc_1/rollback?deploymentId=dep_1");
    expect(init.method).toBe("GET");
    expect(init.headers["Idempotency-Key"]).toBeUndefined();
  });
});

describe("who and source", () => {
  it("reads who made it, and a pushed commit as its commit", () => {
    expect(who(v1)).toBe("token ci");
    expect(who({ ...v1, createdBy: null })).toBe("—"); // made before it was recorded
    expect(source({ ...v1, commitSha: "0123456789abcdef" })).toBe("commit 0123456 v1");
  });
});

describe("idempotency keys", () => {
  it("sends a fresh key per action as a header", async () => {
    vi.stubGlobal("window", {
      location: { pathname: "/dashboard/", search: "", assign: vi.fn() },
      sessionStorage: { getItem: () => JSON.stringify({ accessToken: "t" }), setItem: vi.fn(), removeItem: vi.fn() },
    });
    const fetch = vi.fn().mockResolvedValue(new Response("{}", { status: 201 }));
    vi.stubGlobal("fetch", fetch);
    const key = newIdempotencyKey();
    await api("/v1/services/svc_1/deployments", { method: "POST", body: { redeploy: true }, headers: { "Idempotency-Key": key } });
    expect(fetch.mock.calls[0][1].headers["Idempotency-Key"]).toBe(key);
    expect(newIdempotencyKey()).not.toBe(key);
    expect(key).toMatch(/^[\x21-\x7e]{1,255}$/); // visible ASCII, as the API requires
  });
});

describe("a button's key across clicks", () => {
  it("is kept after a lost answer and renewed after any answer of the API's", async () => {
    const keys = submitKeys<string>();
    const sent: string[] = [];
    const failing = (error: ApiError) => async (key: string) => {
      sent.push(key);
      throw error;
    };
    await expect(withActionKey(keys, failing(new ApiError(0, "NetworkError", "offline")))).rejects.toThrow();
    await withActionKey(keys, async (key) => sent.push(key)); // pressed again: it may exist already
    await withActionKey(keys, async (key) => sent.push(key)); // a new click after a success
    await expect(withActionKey(keys, failing(new ApiError(409, "ReleasePruned", "gone")))).rejects.toThrow();
    await withActionKey(keys, async (key) => sent.push(key)); // the API said no: a new click
    expect(sent[1]).toBe(sent[0]);
    expect(new Set(sent).size).toBe(4);
  });
});
