"""Sign-in with GitHub (chalicelib/domain/github_signin.py): start, and the callback GitHub redirects to.

The callback URL is this API's own /v1/auth/github/callback (built like the device page's URL); it
must be the OAuth app's registered callback. Both routes answer 404 naming the settings when
RAILYARD_GITHUB_CLIENT_ID / _SECRET are unset.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.device import base_url
from chalicelib.api.routing import Context, route

bp = Blueprint(__name__)
CALLBACK_PATH = "/v1/auth/github/callback"


@route(bp, "/v1/auth/github/start", public=True)
def github_start(ctx: Context) -> tuple[int, Any]:
    """Where to send a browser to sign in with GitHub (authorize URL with state and PKCE challenge)."""
    url, state = ctx.c.github_signin.begin(base_url(bp) + CALLBACK_PATH)
    return 200, {"authorizeUrl": url, "state": state}


@route(bp, CALLBACK_PATH, public=True)
def github_callback(ctx: Context) -> tuple[int, Any]:
    """GitHub's redirect back: exchanges the code and signs the GitHub account's user in."""
    q = ctx.query
    tokens = ctx.c.github_signin.finish(q.get("code", ""), q.get("state", ""), error=q.get("error"))
    return 200, tokens.view()
