"""Request bodies of the sign-in routes (chalicelib/api/auth.py) and the views they answer with.

Passwords are taken as sent: unlike the other bodies (schemas._Body), whitespace is not stripped,
since a space is a legitimate character of a password. Length rules live in the domain
(identity.check_password) so the message is the same from every route; the bounds here only keep
absurd bodies out.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from chalicelib.api.schemas import _Body
from chalicelib.domain.identity import NAME_MAX_LENGTH, PASSWORD_MAX_LENGTH
from chalicelib.domain.mfa import MfaSetup
from chalicelib.domain.signin import Profile

_SECRET = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
_TOKEN = Field(min_length=1, max_length=4096)
_CODE = Field(default=None, min_length=1, max_length=64)


class _AuthBody(_Body):
    model_config = ConfigDict(str_strip_whitespace=False)  # the rest as every body: extra fields refused


class RegisterRequest(_AuthBody):
    email: str = Field(min_length=3, max_length=254)
    password: str = _SECRET
    name: str = Field(default="", max_length=NAME_MAX_LENGTH)


class LoginRequest(_AuthBody):
    email: str = Field(min_length=1, max_length=254)
    password: str = _SECRET


class VerifyRequest(_AuthBody):
    mfaToken: str = _TOKEN
    code: str | None = _CODE
    recoveryCode: str | None = _CODE


class RefreshRequest(_AuthBody):
    refreshToken: str = _TOKEN


class ProfilePatch(_AuthBody):
    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX_LENGTH)
    password: str | None = Field(default=None, min_length=1, max_length=PASSWORD_MAX_LENGTH)
    currentPassword: str | None = Field(default=None, min_length=1, max_length=PASSWORD_MAX_LENGTH)


class MfaCode(_AuthBody):
    code: str = Field(min_length=1, max_length=64)


class MfaDisable(_AuthBody):
    code: str | None = _CODE
    recoveryCode: str | None = _CODE


def profile_view(profile: Profile) -> dict[str, Any]:
    user = profile.user
    return {
        "user": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "emailVerified": user.email_verified,
            "createdAt": user.created_at,
            "mfaEnabled": profile.mfa_enabled,
        },
        "workspaces": [{"id": w.workspace_id, "name": w.name, "role": w.role} for w in profile.workspaces],
    }


def mfa_setup_view(setup: MfaSetup) -> dict[str, Any]:
    return {"secret": setup.secret, "otpauthUri": setup.uri}
