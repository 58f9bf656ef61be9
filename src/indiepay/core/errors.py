"""The one error tree.

Every error a domain raises on purpose derives from :class:`IndiePayError` and carries a stable,
machine-readable ``code`` plus an HTTP status hint. The web layer renders all of them the same way:
``{"error": {"code", "message", "details"}}``. Domain code never imports the web framework.
"""

from __future__ import annotations

from typing import Any


class IndiePayError(Exception):
    """Root of every deliberate error; ``code`` is part of the public API and never changes."""

    code: str = "internal_error"
    http_status: int = 500

    def __init__(self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None,
                 http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.details: dict[str, Any] = details or {}


class InvalidRequest(IndiePayError):
    """The request is malformed or breaks a validation rule (400)."""

    code = "invalid_request"
    http_status = 400


class AuthenticationFailed(IndiePayError):
    """No key, or a key that is unknown, revoked or expired (401)."""

    code = "authentication_failed"
    http_status = 401


class PermissionDenied(IndiePayError):
    """The caller is known but may not do this (403)."""

    code = "permission_denied"
    http_status = 403


class NotFound(IndiePayError):
    """The object does not exist *for this caller*: other tenants' objects are reported the same way."""

    code = "not_found"
    http_status = 404


class Conflict(IndiePayError):
    """The request conflicts with the current state (409): duplicate number, wrong state, reused key."""

    code = "conflict"
    http_status = 409


class Unprocessable(IndiePayError):
    """The request is well formed but cannot be carried out as asked (422)."""

    code = "unprocessable"
    http_status = 422


class ChannelUnavailable(IndiePayError):
    """The payment channel refused or failed in a way the caller may retry later (502)."""

    code = "channel_error"
    http_status = 502
