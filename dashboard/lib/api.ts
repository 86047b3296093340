// The only way the dashboard reaches Railyard: the public /v1 API on this page's own origin
// (docs/api.md). Errors keep the API's {"Code","Message"} so pages can show them in words.

import { goToSignIn } from "./paths";
import { clearSession, getSession, saveSession, type Session } from "./session";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// `headers`: extra request headers, e.g. an Idempotency-Key (newIdempotencyKey) on a create.
type Init = { method?: string; body?: unknown; headers?: Record<string, string> };

function send(path: string, init: Init, token?: string): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers, Accept: "application/json" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, {
    method: init.method ?? "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    cache: "no-store",
  });
}

async function toError(response: Response): Promise<ApiError> {
  let body: Record<string, unknown> = {};
  try {
    body = (await response.json()) as Record<string, unknown>;
  } catch {
    // not JSON (a proxy's page): the status alone says what happened
  }
  // Railyard's errors are {"Code","Message"}; API Gateway's own are {"message"} (docs/api.md).
  const code = typeof body.Code === "string" ? body.Code : `HTTP ${response.status}`;
  const message =
    typeof body.Message === "string"
      ? body.Message
      : typeof body.message === "string"
        ? body.message
        : response.statusText || "the request failed";
  return new ApiError(response.status, code, message);
}

/** A call outside the session: a public route (sign-in), or checking a token before keeping it. */
export async function publicCall<T>(path: string, init: Init = {}, token?: string): Promise<T> {
  const response = await send(path, init, token);
  if (!response.ok) throw await toError(response);
  return (await response.json()) as T;
}

async function refreshed(session: Session): Promise<Session | null> {
  if (!session.refreshToken) return null;
  const response = await send("/v1/auth/refresh", {
    method: "POST",
    body: { refreshToken: session.refreshToken },
  });
  if (!response.ok) return null;
  const body = (await response.json()) as { accessToken: string; refreshToken: string };
  const renewed = { accessToken: body.accessToken, refreshToken: body.refreshToken };
  saveSession(renewed);
  return renewed;
}

/** A signed-in call. A 401 renews a person's session once; if that fails too, the session is over:
 * the browser goes to sign-in, which brings it back to this page. */
export async function api<T>(path: string, init: Init = {}): Promise<T> {
  const session = getSession();
  if (!session) {
    goToSignIn();
    throw new ApiError(401, "Unauthorized", "sign in to continue");
  }
  let response = await send(path, init, session.accessToken);
  if (response.status === 401) {
    const renewed = await refreshed(session);
    if (renewed) response = await send(path, init, renewed.accessToken);
  }
  if (response.status === 401) {
    clearSession();
    goToSignIn();
  }
  if (!response.ok) throw await toError(response);
  return (await response.json()) as T;
}

/** A fresh key for one user action (docs/api.md "Idempotency keys"): sent with every retry of that
 * action, so a repeated request creates nothing twice. getRandomValues, not randomUUID: the latter
 * exists only in secure contexts. */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dash-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** One submit's Idempotency-Key, kept across its retries: `of(what)` answers the same key while
 * `what` (the thing submitted: the staged changes) is the same object, so sending it again after a
 * failure, whose answer may only have been lost, makes nothing twice (the API answers the first
 * success again); another `what`, or anything after `done()` (it succeeded), gets a new key. */
export function submitKeys<T>(): { of: (what: T) => string; done: () => void } {
  let held: { what: T; key: string } | null = null;
  return {
    of(what) {
      if (!held || held.what !== what) held = { what, key: newIdempotencyKey() };
      return held.key;
    },
    done() {
      held = null;
    },
  };
}
