"use client";

// Approves (or denies) a terminal's sign-in: `railyard login` opens /dashboard/device/?user_code=…
// (the API's verificationUriComplete, ADR 0043). A signed-out visitor goes to sign-in and comes back
// here; a signed-in person sees the code, which program asked and from where
// (GET /v1/auth/device/request), then Approve or Deny (POST /v1/auth/device/approve). Only a person
// may approve: an API token gets the API's 403 in words.

import { Suspense, useEffect, useState, type FormEvent } from "react";
import { useSearchParams } from "next/navigation";
import { Shell } from "@/components/Shell";
import { ErrorNote } from "@/components/ErrorNote";
import { api, ApiError } from "@/lib/api";
import { when } from "@/lib/format";
import { goToSignIn } from "@/lib/paths";
import { getSession } from "@/lib/session";
import "@/components/charts.css";

type Request = {
  userCode: string;
  status: "pending" | "approved" | "denied";
  requestedAt: string;
  expiresAt: string;
  requestedFrom: string;
  client: string;
};
type Who = { kind: string; name: string };

const asError = (caught: unknown) => (caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught)));

function Device() {
  const query = useSearchParams();
  const fromUrl = query.get("user_code") ?? query.get("code") ?? "";
  const [code, setCode] = useState(fromUrl);
  const [who, setWho] = useState<Who | null>(null);
  const [request, setRequest] = useState<Request | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<"approved" | "denied" | null>(null);

  async function look(value: string) {
    setBusy(true);
    setError(null);
    setRequest(null);
    try {
      setRequest(await api<Request>(`/v1/auth/device/request?userCode=${encodeURIComponent(value)}`));
    } catch (caught) {
      setError(asError(caught));
    }
    setBusy(false);
  }

  useEffect(() => {
    if (!getSession()) {
      goToSignIn(); // sign-in brings the browser back here, code and all
      return;
    }
    api<{ whoami: Who }>("/v1/whoami")
      .then(({ whoami }) => setWho(whoami))
      .catch((caught) => setError(asError(caught)));
    if (fromUrl) void look(fromUrl);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  async function decide(approve: boolean) {
    if (!request) return;
    setBusy(true);
    setError(null);
    try {
      const answer = await api<{ status: "approved" | "denied" }>("/v1/auth/device/approve", {
        method: "POST",
        body: { userCode: request.userCode, approve },
      });
      setOutcome(answer.status);
    } catch (caught) {
      setError(asError(caught));
    }
    setBusy(false);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    void look(code);
  }

  return (
    <Shell crumbs={[{ label: "Workspaces", href: "/" }, { label: "Approve a terminal" }]}>
      <h1>Sign in a terminal</h1>
      <p>
        A terminal running <code>railyard login</code> shows a code. Approve it only if you asked for it and it is the
        same code: the terminal is then signed in as you{who ? ` (${who.name})` : ""}.
      </p>
      {who && who.kind !== "user" && (
        <p className="error" role="alert">
          You are signed in with an API token: only a person can approve a terminal. Sign out, then sign in with your
          email and password.
        </p>
      )}
      {outcome ? (
        <p className="done" role="status">
          {outcome === "approved"
            ? "Approved. Return to your terminal: it is signed in."
            : "Denied. The terminal will not be signed in."}
        </p>
      ) : (
        <>
          <form className="stack" onSubmit={submit}>
            <label>
              Code shown by the terminal
              <input
                value={code}
                onChange={(e) => {
                  setCode(e.target.value);
                  setRequest(null); // what is shown must be the code in the box
                }}
                autoComplete="off"
                spellCheck={false}
                placeholder="BCDF-GHJK"
                aria-describedby="code-help"
                required
              />
            </label>
            <span id="code-help" className="muted">
              Eight letters, as <code>railyard login</code> prints them.
            </span>
            {!request && (
              <button className="primary" type="submit" disabled={busy}>
                Check the code
              </button>
            )}
          </form>
          <ErrorNote error={error} context={request ? "Could not record your answer" : "Could not find that sign-in"} />
          {request && (
            <section aria-labelledby="request-title">
              <h2 id="request-title">
                Sign-in request <span className="user-code">{request.userCode}</span>
              </h2>
              <dl className="figures">
                <div>
                  <dt>Program</dt>
                  <dd data-field="client">{request.client || "not given"}</dd>
                </div>
                <div>
                  <dt>From address</dt>
                  <dd data-field="from">{request.requestedFrom || "unknown"}</dd>
                </div>
                <div>
                  <dt>Asked</dt>
                  <dd>{when(request.requestedAt)}</dd>
                </div>
              </dl>
              {request.status === "pending" ? (
                <div className="decision">
                  <button className="primary" type="button" disabled={busy} onClick={() => void decide(true)}>
                    Approve
                  </button>
                  <button className="danger" type="button" disabled={busy} onClick={() => void decide(false)}>
                    Deny
                  </button>
                </div>
              ) : (
                <p role="status">This sign-in was already {request.status}.</p>
              )}
            </section>
          )}
        </>
      )}
    </Shell>
  );
}

export default function DevicePage() {
  return (
    <Suspense>
      <Device />
    </Suspense>
  );
}
