"""Where the current request comes from, so services can record an origin without knowing HTTP.

The HTTP layer sets :data:`current_origin` while it authenticates the caller; the value follows the request
into the thread that runs a sync endpoint (context variables are copied there)."""

from __future__ import annotations

from contextvars import ContextVar

current_origin: ContextVar[str | None] = ContextVar("indiepay_audit_origin", default=None)
