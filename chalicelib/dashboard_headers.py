"""The dashboard's path and the security headers its pages are served with, declared once for both
places that serve them: `railyard dev`'s file server (railyard/localdev/dashboard_files.py) and, in
AWS, CloudFront's response headers policy (stacks/dashboard.py). docs/decisions/0041 and 0044.

The pages hold tokens in the tab (ADR 0041): they may talk to their own origin only (plus, where it
lives elsewhere, the WebSocket API: `connect_sources`), load nothing from elsewhere and not be
framed. Next.js's inline bootstrap scripts need 'unsafe-inline'.
"""

from __future__ import annotations

from collections.abc import Sequence

# The path the static export is built for and served under: BASE_PATH in dashboard/next.config.mjs.
BASE_PATH = "/dashboard"
REFERRER_POLICY = "no-referrer"
CONTENT_TYPE_OPTIONS = "nosniff"


def content_security_policy(connect_sources: Sequence[str] = ()) -> str:
    """`connect_sources` are origins the pages may reach besides their own (a `wss://` origin)."""
    connect = " ".join(("'self'", *connect_sources))
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        f"style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src {connect}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def security_headers(connect_sources: Sequence[str] = ()) -> dict[str, str]:
    """The headers every dashboard response carries, by name."""
    return {
        "Content-Security-Policy": content_security_policy(connect_sources),
        "X-Content-Type-Options": CONTENT_TYPE_OPTIONS,
        "Referrer-Policy": REFERRER_POLICY,
    }
