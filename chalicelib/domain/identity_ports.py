"""The seams between sign-in, sessions, rate limits and the routes that use them.

Sign-in methods (password, GitHub, the CLI's device flow) all end the same way: a user id becomes a
session (`SessionIssuer.start`), whose short-lived access token the API verifies without reading the
table (`AccessTokenVerifier`). Routes that can be brute-forced (sign-in, token creation) count
attempts with a `RateLimiter`, which raises `RateLimited` (429 with Retry-After).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.policy import Principal


@dataclass(frozen=True)
class SessionTokens:
    """What a sign-in returns to the client: shown once, stored only as hashes."""

    access_token: str  # an RS256 JWT, 15 minutes
    refresh_token: str  # opaque, single use: each refresh returns a new one (rotation)
    expires_in: int  # seconds until the access token expires
    session_id: str  # the refresh-token family

    def view(self) -> dict[str, object]:
        return {
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token,
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
            "sessionId": self.session_id,
        }


class SessionIssuer(Protocol):
    def start(self, user_id: str, *, method: str) -> SessionTokens:
        """A new session (a new refresh-token family) for `user_id`, signed in by `method`
        ("password", "github", "device", "mfa")."""
        ...

    def end_other_sessions(self, user_id: str, keep: str | None) -> int:
        """Revoke every session of `user_id` except `keep`; answers how many."""
        ...


class AccessTokenVerifier(Protocol):
    def verify(self, token: str) -> Principal:
        """The principal of a valid access JWT; raises Unauthorized (with why) otherwise. Reads
        nothing from the table: signature, expiry, `kid` and the role claims are all in the token."""
        ...


class RateLimiter(Protocol):
    def hit(self, bucket: str, limit: int, window_seconds: int) -> None:
        """Counts one attempt in `bucket` (e.g. "login:<email>", "login-ip:<ip>"); raises
        RateLimited(retry_after) once `limit` attempts were made in the current window."""
        ...


class UserRegistry(Protocol):
    """Where sign-in methods find and make users (password sign-up, GitHub sign-in)."""

    def create_user(self, email: str | None, display_name: str, *, email_verified: bool) -> str:
        """A new user with a personal workspace of which they are the admin, written all or
        nothing; returns the user id. Conflict if the email belongs to another user."""
        ...

    def find_by_email(self, email: str) -> str | None:
        """The id of the user holding `email` (lower-cased), if any."""
        ...
