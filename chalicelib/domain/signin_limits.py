"""The sign-in rate limits, declared once: how many attempts each bucket allows per window.

Every attempt counts, successful or not (one write each: chalicelib/adapters/rate_limits.py), so a
limit is also the most requests one key can make in a window. The per-email and per-MFA-user limits
stop guessing one account's secrets; the per-IP limits stop one client from spraying many accounts
(and from making accounts in bulk); the per-family limit stops a leaked refresh token from being
turned into a stream of access tokens. Exceeding one answers 429 with Retry-After.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.identity_ports import RateLimiter


@dataclass(frozen=True)
class Limit:
    name: str  # the bucket's prefix
    attempts: int
    window_seconds: int

    def hit(self, limiter: RateLimiter, key: str) -> None:
        """Count one attempt for `key` (an email, an IP, a user or family id); RateLimited past it."""
        limiter.hit(f"{self.name}:{key}", self.attempts, self.window_seconds)


LOGIN_PER_EMAIL = Limit("login-email", 10, 15 * 60)
LOGIN_PER_IP = Limit("login-ip", 100, 15 * 60)
REGISTER_PER_IP = Limit("register-ip", 20, 60 * 60)
MFA_PER_USER = Limit("mfa-user", 10, 15 * 60)  # sign-in codes, and enabling / disabling MFA
REFRESH_PER_FAMILY = Limit("refresh-family", 30, 15 * 60)

LIMITS = (LOGIN_PER_EMAIL, LOGIN_PER_IP, REGISTER_PER_IP, MFA_PER_USER, REFRESH_PER_FAMILY)
