"""Loaded at interpreter start when this directory is on PYTHONPATH: the device-flow end-to-end
test (tests/e2e/test_device_login.py) puts it there for the `railyard dev` it starts, so that
platform has users and sessions before the identity part (RS256 sessions, passwords) is merged.

With E2E_IDENTITY_APPROVER="<email>:<access token>" set, every container the platform installs
(`wiring.use`) gets the in-memory identity stand-ins of tests/support/identity.py, and that person
is signed in with that access token. Nothing happens without the variable.
"""

import os
import sys
from pathlib import Path

if os.environ.get("E2E_IDENTITY_APPROVER"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root

    from chalicelib import wiring
    from tests.support.identity import MemorySessions, MemoryUsers, SessionAwareAuth

    email, _, token = os.environ["E2E_IDENTITY_APPROVER"].partition(":")
    _users = MemoryUsers()
    _sessions = MemorySessions(_users)
    _sessions.sign_in(email, "Approver", token=token)
    _use = wiring.use

    def _use_with_identity(replacement):  # type: ignore[no-untyped-def]
        if replacement is not None:
            replacement.session_issuer = _sessions
            replacement.user_registry = _users
            replacement.auth = SessionAwareAuth(_sessions, replacement.auth)
        _use(replacement)

    wiring.use = _use_with_identity
