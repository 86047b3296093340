"use client";

// Sign-in: email and password (POST /v1/auth/login, then /v1/auth/verify when MFA is on), or an API
// token such as the one `railyard dev` prints (checked with GET /v1/whoami). `#token=...` in the URL
// signs in with that token at once: `railyard dev` prints such a link for the local admin.

import { Suspense, useEffect, useState, type FormEvent } from "react";
import { useSearchParams } from "next/navigation";
import { Shell } from "@/components/Shell";
import { ErrorNote } from "@/components/ErrorNote";
import { ApiError, publicCall } from "@/lib/api";
import { safeNext } from "@/lib/paths";
import { saveSession } from "@/lib/session";

type LoginAnswer = { accessToken?: string; refreshToken?: string; mfaRequired?: boolean; mfaToken?: string };

function asApiError(caught: unknown): ApiError {
  return caught instanceof ApiError ? caught : new ApiError(0, "NetworkError", String(caught));
}

function SignIn() {
  const next = safeNext(useSearchParams().get("next"));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [token, setToken] = useState("");
  const [error, setError] = useState<ApiError | null>(null);
  const [tokenError, setTokenError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  function done(answer: LoginAnswer) {
    saveSession({ accessToken: answer.accessToken!, refreshToken: answer.refreshToken });
    window.location.assign(next);
  }

  async function withToken(value: string) {
    setBusy(true);
    setTokenError(null);
    try {
      await publicCall("/v1/whoami", {}, value);
      saveSession({ accessToken: value });
      window.location.assign(next);
    } catch (caught) {
      setTokenError(asApiError(caught));
      setBusy(false);
    }
  }

  useEffect(() => {
    const fragment = new URLSearchParams(window.location.hash.slice(1)).get("token");
    if (fragment) {
      history.replaceState(null, "", window.location.pathname + window.location.search); // out of history
      void withToken(fragment);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = mfaToken
        ? await publicCall<LoginAnswer>("/v1/auth/verify", { method: "POST", body: { mfaToken, code } })
        : await publicCall<LoginAnswer>("/v1/auth/login", { method: "POST", body: { email, password } });
      if (answer.mfaRequired && answer.mfaToken) {
        setMfaToken(answer.mfaToken);
        setBusy(false);
        return;
      }
      done(answer);
    } catch (caught) {
      setError(asApiError(caught));
      setBusy(false);
    }
  }

  return (
    <Shell crumbs={[{ label: "Sign in" }]}>
      <h1>Sign in to Railyard</h1>
      <form className="stack" onSubmit={submit} aria-describedby="signin-error">
        {mfaToken ? (
          <label>
            Code from your authenticator
            <input value={code} onChange={(e) => setCode(e.target.value)} inputMode="numeric" autoComplete="one-time-code" required />
          </label>
        ) : (
          <>
            <label>
              Email
              <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="username" required />
            </label>
            <label>
              Password
              <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="current-password" required />
            </label>
          </>
        )}
        <div id="signin-error">
          <ErrorNote error={error} context="Sign-in refused" />
        </div>
        <button className="primary" type="submit" disabled={busy}>
          {mfaToken ? "Verify" : "Sign in"}
        </button>
      </form>
      <h2>Or with an API token</h2>
      <p className="muted">
        Locally, <code>railyard dev</code> prints the admin&apos;s token and a link that signs in with it.
      </p>
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void withToken(token);
        }}
      >
        <label>
          API token
          <input type="password" value={token} onChange={(e) => setToken(e.target.value)} autoComplete="off" required />
        </label>
        <ErrorNote error={tokenError} context="Token refused" />
        <button className="primary" type="submit" disabled={busy}>
          Sign in with the token
        </button>
      </form>
    </Shell>
  );
}

export default function SignInPage() {
  return (
    <Suspense>
      <SignIn />
    </Suspense>
  );
}
