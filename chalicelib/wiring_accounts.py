"""The composition root's people parts: sign-in, sessions, workspaces, API tokens and the audit log
(docs/decisions/0021, 0025), built on first use like the rest of chalicelib/wiring.py's Container,
which inherits them. Kept apart so each file stays one screenful of wiring."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.wiring_core import CoreParts

if TYPE_CHECKING:
    from chalicelib.adapters.credentials import Argon2Hasher
    from chalicelib.adapters.identity_store import DynamoIdentityStore, DynamoSessionStore
    from chalicelib.adapters.session_keys import CachedKeyRing, JwtSigner, SecretsManagerKeyStore
    from chalicelib.domain.api_tokens import ApiTokenService
    from chalicelib.domain.audit import Auditor
    from chalicelib.domain.device_flow import DeviceFlow, DeviceGrants
    from chalicelib.domain.github_signin import GitHubSignIn
    from chalicelib.domain.identity import Accounts
    from chalicelib.domain.identity_ports import RateLimiter, SessionIssuer, UserRegistry
    from chalicelib.domain.mfa import Mfa
    from chalicelib.domain.sessions import AccessTokens, Sessions
    from chalicelib.domain.signin import PasswordSignIn
    from chalicelib.domain.workspaces import WorkspaceService


class AccountParts(CoreParts):
    """Sign-in, sessions and teams; the Container provides what is declared here."""

    # --- identity and sessions (docs/decisions/0021) ----------------------------------------------

    @cached_property
    def identity_store(self) -> DynamoIdentityStore:
        from chalicelib.adapters.identity_store import DynamoIdentityStore

        return DynamoIdentityStore(self.settings.table_name)

    @cached_property
    def session_store(self) -> DynamoSessionStore:
        from chalicelib.adapters.identity_store import DynamoSessionStore

        return DynamoSessionStore(self.settings.table_name)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        from chalicelib.adapters.rate_limits import DynamoRateLimiter

        return DynamoRateLimiter(self.settings.table_name)

    @cached_property
    def session_keys(self) -> SecretsManagerKeyStore:
        from chalicelib.adapters.session_keys import SecretsManagerKeyStore

        return SecretsManagerKeyStore(self.settings.session_keys_secret)

    @cached_property
    def key_ring(self) -> CachedKeyRing:
        """The signing keys as this container sees them: read once, not per request."""
        from chalicelib.adapters.session_keys import CachedKeyRing

        return CachedKeyRing(self.session_keys.load)

    @cached_property
    def signer(self) -> JwtSigner:
        from chalicelib.adapters.session_keys import JwtSigner

        return JwtSigner(self.key_ring, self.settings.token_issuer)

    @cached_property
    def password_hasher(self) -> Argon2Hasher:
        from chalicelib.adapters.credentials import Argon2Hasher

        return Argon2Hasher()

    @cached_property
    def users(self) -> Accounts:
        """The UserRegistry every sign-in method makes and finds users through."""
        from chalicelib.domain.identity import Accounts

        return Accounts(self.identity_store, self.clock, self.ids)

    @cached_property
    def sessions(self) -> Sessions:
        """The SessionIssuer, and refresh / logout."""
        from chalicelib.domain.sessions import Sessions

        s = self.session_store
        return Sessions(s, self.identity_store, self.signer, self.rate_limiter, self.clock, self.ids)

    @cached_property
    def access_tokens(self) -> AccessTokens:
        """The AccessTokenVerifier: reads no table, only the cached key ring."""
        from chalicelib.domain.sessions import AccessTokens

        return AccessTokens(self.signer)

    @cached_property
    def mfa(self) -> Mfa:
        from chalicelib.adapters.credentials import AesGcmBox, PyotpTotp
        from chalicelib.domain.mfa import Mfa

        box = AesGcmBox(lambda: self.key_ring.ring().box_key)
        return Mfa(self.identity_store, PyotpTotp(), box, self.rate_limiter, self.clock)

    @cached_property
    def sign_in(self) -> PasswordSignIn:
        from chalicelib.domain.signin import PasswordSignIn

        return PasswordSignIn(
            self.users,
            self.identity_store,
            self.password_hasher,
            self.sessions,
            self.signer,
            self.mfa,
            self.rate_limiter,
            self.clock,
            self.ids,
        )

    # --- sign-in (issue 10) ------------------------------------------------------------------

    @cached_property
    def session_issuer(self) -> SessionIssuer:
        """Every sign-in method (password, GitHub, the device flow) ends in a session here."""
        return self.sessions

    @cached_property
    def user_registry(self) -> UserRegistry:
        return self.users

    @cached_property
    def device_flow(self) -> DeviceFlow:
        """`railyard login`'s device authorization grant (RFC 8628)."""
        from chalicelib.domain.device_flow import DeviceFlow

        return DeviceFlow(self.device_grants, self.session_issuer, self.rate_limiter, self.clock)

    @cached_property
    def device_grants(self) -> DeviceGrants:
        from chalicelib.adapters.device_store import DynamoDeviceGrants

        return DynamoDeviceGrants(self.settings.table_name)

    @cached_property
    def github_signin(self) -> GitHubSignIn:
        """Sign-in with GitHub; NotFound (404) when RAILYARD_GITHUB_CLIENT_ID/SECRET are unset."""
        from chalicelib.adapters.device_store import DynamoGitHubLinks, DynamoOAuthStates
        from chalicelib.adapters.github import HttpGitHub
        from chalicelib.domain.errors import NotFound
        from chalicelib.domain.github_signin import GitHubSignIn

        s = self.settings
        if not s.github_client_id or not s.github_client_secret:
            raise NotFound(
                "GitHub sign-in is not configured on this Railyard: set RAILYARD_GITHUB_CLIENT_ID "
                "and RAILYARD_GITHUB_CLIENT_SECRET (a GitHub OAuth app's)"
            )
        github = HttpGitHub(s.github_client_id, s.github_client_secret, s.github_oauth_url, s.github_api_url)
        table = s.table_name
        return GitHubSignIn(
            github,
            DynamoOAuthStates(table),
            DynamoGitHubLinks(table),
            self.user_registry,
            self.session_issuer,
            self.clock,
        )

    # --- workspaces, API tokens, the audit log (docs/decisions/0025) ---------------------------

    @cached_property
    def workspaces(self) -> WorkspaceService:
        from chalicelib.adapters.workspaces_store import DynamoWorkspaceStore
        from chalicelib.domain.workspaces import WorkspaceService

        return WorkspaceService(
            DynamoWorkspaceStore(self.settings.table_name), self.api_tokens, self.clock, self.ids
        )

    @cached_property
    def api_tokens(self) -> ApiTokenService:
        from chalicelib.adapters.tokens_store import DynamoTokenStore
        from chalicelib.domain.api_tokens import ApiTokenService

        store = DynamoTokenStore(self.settings.table_name)
        return ApiTokenService(store, self.repository, self.auth, self.rate_limiter, self.clock, self.ids)

    @cached_property
    def audit(self) -> Auditor:
        from chalicelib.adapters.audit_store import DynamoAuditStore, EventBridgeAuditEvents
        from chalicelib.domain.audit import Auditor

        s = self.settings
        events = EventBridgeAuditEvents(s.catalogue.event_bus, s.region)
        return Auditor(DynamoAuditStore(s.table_name), events, self.clock, self.ids)
