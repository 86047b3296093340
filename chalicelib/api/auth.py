"""Sign-up, sign-in (password, then MFA), sessions, the signed-in user's profile and MFA settings, and
the public keys that verify access tokens (docs/decisions/0021).

The sign-in routes are public (they are how a caller gets a token); the rest need a user's access
token: an API token is refused there, since it has no user session to end or profile to show.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.auth_schemas import (
    LoginRequest,
    MfaCode,
    MfaDisable,
    ProfilePatch,
    RefreshRequest,
    RegisterRequest,
    VerifyRequest,
    mfa_setup_view,
    profile_view,
)
from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import parse
from chalicelib.domain.policy import Action, Principal

bp = Blueprint(__name__)
UNKNOWN_SOURCE = "unknown"


def _source_ip() -> str:
    """The caller's address as API Gateway saw it (the per-IP rate limits' key)."""
    context = bp.current_request.context or {}
    return str((context.get("identity") or {}).get("sourceIp") or UNKNOWN_SOURCE)


def _user(ctx: Context) -> Principal:
    """The signed-in user behind a `people_only` route (the wrapper refused API tokens)."""
    return ctx.who.principal


@route(bp, "/v1/auth/register", "POST", request_model=RegisterRequest, status=201, public=True)
def register(ctx: Context) -> tuple[int, Any]:
    """Create a user (with a personal workspace) and sign them in."""
    body = parse(RegisterRequest, ctx.body)
    user_id, tokens = ctx.c.sign_in.register(body.email, body.password, body.name, _source_ip())
    return 201, {"userId": user_id, **tokens.view()}


@route(bp, "/v1/auth/login", "POST", request_model=LoginRequest, public=True)
def login(ctx: Context) -> tuple[int, Any]:
    """Sign in with email and password: a session, or an mfaToken for /v1/auth/verify."""
    body = parse(LoginRequest, ctx.body)
    return 200, ctx.c.sign_in.login(body.email, body.password, _source_ip()).view()


@route(bp, "/v1/auth/verify", "POST", request_model=VerifyRequest, public=True)
def verify(ctx: Context) -> tuple[int, Any]:
    """Finish an MFA sign-in with a code or a recovery code."""
    body = parse(VerifyRequest, ctx.body)
    return 200, ctx.c.sign_in.verify(body.mfaToken, body.code, body.recoveryCode).view()


@route(bp, "/v1/auth/refresh", "POST", request_model=RefreshRequest, public=True)
def refresh(ctx: Context) -> tuple[int, Any]:
    """Trade a refresh token (once) for a new access token and refresh token."""
    return 200, ctx.c.sessions.refresh(parse(RefreshRequest, ctx.body).refreshToken).view()


@route(bp, "/v1/auth/logout", "POST", action=Action.READ, people_only=True)
def logout(ctx: Context) -> tuple[int, Any]:
    """End this session: its refresh tokens stop working at once, its access tokens within 15 min."""
    session_id = _user(ctx).session_id
    assert session_id is not None  # every access token carries its session (AccessTokens.verify)
    ctx.c.sessions.logout(session_id)
    return 200, {"sessionId": session_id, "revoked": True}


@route(bp, "/v1/auth/profile", action=Action.READ, people_only=True)
def get_profile(ctx: Context) -> tuple[int, Any]:
    """The signed-in user, their workspaces and roles."""
    return 200, profile_view(ctx.c.sign_in.profile(str(_user(ctx).user_id)))


@route(bp, "/v1/auth/profile", "PATCH", request_model=ProfilePatch, action=Action.READ, people_only=True)
def patch_profile(ctx: Context) -> tuple[int, Any]:
    """Change the name, or the password (with the current one; it ends the user's other sessions)."""
    body, user = parse(ProfilePatch, ctx.body), _user(ctx)
    profile = ctx.c.sign_in.update_profile(
        str(user.user_id),
        name=body.name,
        password=body.password,
        current_password=body.currentPassword,
        session_id=user.session_id,
    )
    return 200, profile_view(profile)


@route(bp, "/v1/auth/mfa/setup", "POST", action=Action.READ, people_only=True)
def mfa_setup(ctx: Context) -> tuple[int, Any]:
    """A new authenticator secret (shown once); MFA is on after /v1/auth/mfa/enable."""
    return 200, mfa_setup_view(ctx.c.mfa.setup(str(_user(ctx).user_id)))


@route(bp, "/v1/auth/mfa/enable", "POST", request_model=MfaCode, action=Action.READ, people_only=True)
def mfa_enable(ctx: Context) -> tuple[int, Any]:
    """Turn MFA on with a code from the authenticator: answers the recovery codes, once."""
    codes = ctx.c.mfa.enable(str(_user(ctx).user_id), parse(MfaCode, ctx.body).code)
    return 200, {"mfaEnabled": True, "recoveryCodes": codes}


@route(bp, "/v1/auth/mfa/disable", "POST", request_model=MfaDisable, action=Action.READ, people_only=True)
def mfa_disable(ctx: Context) -> tuple[int, Any]:
    """Turn MFA off with a code or a recovery code."""
    body = parse(MfaDisable, ctx.body)
    ctx.c.mfa.disable(str(_user(ctx).user_id), body.code, body.recoveryCode)
    return 200, {"mfaEnabled": False}


@route(bp, "/.well-known/jwks.json", public=True)
def jwks(ctx: Context) -> tuple[int, Any]:
    """The public keys that verify access tokens (JSON Web Key Set)."""
    return 200, ctx.c.signer.jwks()
