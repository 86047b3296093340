"""The one map from domain errors to HTTP statuses. Bodies are {"Code": <class name>, "Message": text}."""

from __future__ import annotations

from chalicelib.domain import errors as e

STATUS: dict[type[e.DomainError], int] = {
    e.BadRequest: 400,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.InvalidTransition: 409,
    e.QuotaExceeded: 429,
    e.PayloadTooLarge: 413,
    e.TransientError: 503,
}


def status_for(error: e.DomainError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]  # type: ignore[index]
    return 500


def body_for(error: e.DomainError) -> dict[str, str]:
    return {"Code": type(error).__name__, "Message": str(error)}
