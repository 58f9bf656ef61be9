"""take raw API keys out of stored idempotent answers

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-27 22:00:00

POST /v1/merchants under an Idempotency-Key stored its whole answer — the merchant's raw test and live keys
included — in idempotency_keys.response_body, and replayed them. The endpoint now stores the answer without
them (indiepay.merchants.service.without_keys); this takes them out of the answers stored before, which would
otherwise sit there in the clear (keys are kept hashed only). Each such answer becomes what the endpoint
stores today: the same merchant with "api_keys" null and "api_keys_redacted" true.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

_KEYS = sa.table("idempotency_keys", sa.column("id", sa.String()), sa.column("scope", sa.String()),
                 sa.column("response_body", sa.JSON()))
_OPERATOR = "admin:%"  # merchants are created by the operator: only its answers can hold them


def _holds_keys(body: Any) -> bool:
    keys = body.get("api_keys") if isinstance(body, dict) else None
    return isinstance(keys, dict) and any(isinstance(value, str) and value.startswith("sk_") for value in keys.values())


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(_KEYS.c.id, _KEYS.c.response_body)
                              .where(_KEYS.c.scope.like(_OPERATOR), _KEYS.c.response_body.is_not(None))).all()
    for row_id, body in rows:
        if _holds_keys(body):
            connection.execute(_KEYS.update().where(_KEYS.c.id == row_id).values(
                response_body={**body, "api_keys": None, "api_keys_redacted": True}))


def downgrade() -> None:
    """Nothing to restore: the keys are gone for good (they were to be shown once)."""
