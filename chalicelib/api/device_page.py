"""The page at GET /v1/auth/device: sign in, then approve or deny the code `railyard login` shows.

Plain HTML with one inline script and one inline style, no external asset (the dashboard, issue 13,
replaces it). The script talks to this same API: POST /v1/auth/login (email + password), then
POST /v1/auth/verify when the answer asks for an MFA code, then POST /v1/auth/device/approve with the
access token, which lives only in the page's memory. The Content-Security-Policy allows exactly
those two inline blocks (by hash), requests to this origin only, and no framing, so another site
cannot overlay the Approve button (clickjacking). Referrer-Policy keeps the code in the URL from
leaking.
"""

from __future__ import annotations

import base64
import hashlib

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#111}
label{display:block;margin-top:1rem;font-weight:600}
input{font:inherit;width:100%;padding:.5rem;box-sizing:border-box}
button{font:inherit;margin-top:1rem;margin-right:.5rem;padding:.5rem 1rem}
#code{font-family:ui-monospace,monospace;letter-spacing:.2em;text-transform:uppercase}
[hidden]{display:none}
#status{margin-top:1.5rem;font-weight:600}
"""

_SCRIPT = """
"use strict";
let access = null, challenge = null;
const $ = (id) => document.getElementById(id);
const say = (text) => { $("status").textContent = text; };
async function call(path, body, token) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
  let data = {};
  try { data = await r.json(); } catch (e) { /* an empty answer */ }
  return {ok: r.ok, data};
}
function signedIn(data) {
  access = data.accessToken;
  $("signin").hidden = true; $("mfa").hidden = true; $("approve").hidden = false;
  say("Signed in. Check that the code matches your terminal.");
  $("code").focus();
}
$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const r = await call("/v1/auth/login", {email: $("email").value, password: $("password").value});
  $("password").value = "";
  if (r.ok && r.data.accessToken) return signedIn(r.data);
  challenge = r.data.mfaToken || r.data.challenge || null;
  if (r.ok && challenge) { $("signin").hidden = true; $("mfa").hidden = false; $("otp").focus();
    return say("Enter the code from your authenticator app."); }
  say(r.data.Message || "Sign-in failed.");
});
$("mfa").addEventListener("submit", async (event) => {
  event.preventDefault();
  const r = await call("/v1/auth/verify", {mfaToken: challenge, code: $("otp").value});
  if (r.ok && r.data.accessToken) return signedIn(r.data);
  say(r.data.Message || "That code did not work.");
});
$("approve").addEventListener("submit", async (event) => {
  event.preventDefault();
  const approve = event.submitter ? event.submitter.value === "approve" : true;
  const r = await call("/v1/auth/device/approve", {userCode: $("code").value, approve}, access);
  if (!r.ok) return say(r.data.Message || "That did not work.");
  $("approve").hidden = true;
  say(approve ? "Approved. You can close this page and return to your terminal."
              : "Denied. The terminal will not be signed in.");
});
$("code").value = new URLSearchParams(location.search).get("user_code") || "";
"""


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Railyard: approve a device sign-in</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>Sign in a terminal to Railyard</h1>
<p>A terminal running <code>railyard login</code> shows a code. Sign in, check that the code
below is the same, and approve it. Only approve a code you asked for.</p>
<form id="signin" aria-labelledby="signin-title">
<h2 id="signin-title">1. Sign in</h2>
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<form id="mfa" hidden aria-labelledby="mfa-title">
<h2 id="mfa-title">2. Two-factor code</h2>
<label for="otp">Code from your authenticator app (or a recovery code)</label>
<input id="otp" name="otp" autocomplete="one-time-code" inputmode="numeric" required>
<button type="submit">Verify</button>
</form>
<form id="approve" hidden aria-labelledby="approve-title">
<h2 id="approve-title">3. Approve the terminal</h2>
<label for="code">Code shown by the terminal</label>
<input id="code" name="code" autocomplete="off" spellcheck="false" required
 aria-describedby="code-help">
<p id="code-help">Eight letters, like BCDF-GHJK.</p>
<button type="submit" value="approve">Approve</button>
<button type="submit" value="deny">Deny</button>
</form>
<p id="status" role="status" aria-live="polite"></p>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""

SECURITY_HEADERS: dict[str, str | list[str]] = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {_hash(_SCRIPT)}; style-src {_hash(_STYLE)}; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
