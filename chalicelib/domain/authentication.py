"""Who is calling: an Authorization header becomes a policy Principal.

A session's access JWT is verified from its signature and claims alone (AccessTokenVerifier); an API
token (stored only as its SHA-256) is read once and believed for TOKEN_CACHE_SECONDS per container.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Sequence

from chalicelib.domain.errors import Conflict, NotFound, Unauthorized
from chalicelib.domain.identity_ports import AccessTokenVerifier
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import ApiToken
from chalicelib.domain.policy import Grant, Principal, parse_actions
from chalicelib.domain.ports import Repository


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# A token found valid is believed for this long without reading it again (per container: a Lambda
# container, the local API server): every authenticated request skips a GetItem. Unknown tokens are
# never cached, so a new token works at once; a revoked one stops within this bound (issue 10 asks
# for 60 s at most). Expiry is checked on every request, cached or not.
TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_ENTRIES = 1024


def token_principal(token: ApiToken) -> Principal:
    """What an API token may do: its actions, on its workspace or the resource it is narrowed to."""
    grant = Grant(
        token.org_id,
        parse_actions(token.scopes),
        token.project_id,
        token.environment_id,
        token.service_id,
    )
    token_id = token.id or f"tok_{token.token_hash[:12]}"
    return Principal(
        kind="token",
        subject=token_id,
        grants=(grant,),
        name=token.name,
        user_id=getattr(token, "user_id", None),
        token_id=token_id,
    )


class AuthService:
    """Turns an Authorization header into a Principal: a session's access JWT (verified from its
    signature alone) or an API token (one read, then cached per container)."""

    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        sessions: AccessTokenVerifier | None = None,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._monotonic = monotonic
        self._sessions = sessions
        # token hash -> (believed until, expires at or None, who)
        self._known: dict[str, tuple[float, str | None, Principal]] = {}

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("missing 'Authorization: Bearer <token>' header")
        raw = authorization.removeprefix("Bearer ").strip()
        if raw.count(".") == 2 and self._sessions is not None:  # a JWT: header.payload.signature
            return self._sessions.verify(raw)
        token_hash = hash_token(raw)
        now = self._monotonic()
        known = self._known.get(token_hash)
        if known is not None and known[0] > now:
            self._check_expiry(known[1])
            return known[2]
        try:
            token = self._repo.get_token(token_hash)
        except NotFound:
            raise Unauthorized("the bearer token is not valid") from None
        self._check_expiry(token.expires_at)
        # "Last used" costs one UpdateItem per token per cache window (per container), not one per
        # request: a token used all day shows a time at most TOKEN_CACHE_SECONDS old per container.
        self._repo.mark_token_used(token_hash, iso(self._clock()))
        who = token_principal(token)
        if len(self._known) >= TOKEN_CACHE_ENTRIES:
            self._known.clear()  # simpler than LRU, and a refill costs one read per token
        self._known[token_hash] = (now + TOKEN_CACHE_SECONDS, token.expires_at, who)
        return who

    def _check_expiry(self, expires_at: str | None) -> None:
        if expires_at is not None and expires_at <= iso(self._clock()):
            raise Unauthorized(f"the API token expired at {expires_at}")

    def forget(self, token_hash: str) -> None:
        """Drop a cached token at once (this container revoked it)."""
        self._known.pop(token_hash, None)

    def ensure_token(self, token: str, org_id: str, name: str, scopes: Sequence[str] = ("*",)) -> None:
        """Registers `token` (idempotent): the local platform re-registers the admin token it wrote
        to the CLI's config at every start."""
        with contextlib.suppress(Conflict):
            self._repo.save(
                ApiToken(hash_token(token), org_id, name, tuple(scopes), iso(self._clock())),
            )
