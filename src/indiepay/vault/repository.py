"""Where sealed secrets live in the database, and the few queries KEK rotation needs.

Every column that holds vault output is listed in :data:`SEALED_COLUMNS`; rotation, ``vault status`` and
``vault retire`` walk exactly these. A new table that stores ``Vault.seal`` output must be added here,
or its secrets would silently stay on an old KEK (``tests/vault/test_sealed_columns.py`` fails when a
new sealing call site appears).

Rows are read with their column rendered as text (``CAST(col AS TEXT)``): that text is the row's version
token. A write only lands when the stored text is still that token, so a credential changed by another
process between the read and the write is never overwritten by a re-wrap of its old value. The token is
compared as stored text, not re-serialised JSON, so it does not depend on how the value was written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, and_, cast, func, select, update
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.alerts.models import AlertChannels
from indiepay.webhooks.models import WebhookEndpoint

YIELD_PER = 1000
JSON_NULL_TEXT = "null"  # a JSON column set to Python None holds this rather than SQL NULL


@dataclass(frozen=True)
class SealedColumn:
    """A JSON column holding sealed secrets: per field (``{field: sealed}``) or one sealed secret."""

    table: Table
    column: str
    per_field: bool
    label: str | None = None  # how reports name it when its table has another sealed column

    @property
    def name(self) -> str:
        return self.label or self.table.name

    @property
    def present(self) -> ColumnElement[bool]:
        """Rows that hold a value (a nullable column such as ``previous_credentials`` is often empty)."""
        return and_(self.value.is_not(None), cast(self.value, Text) != JSON_NULL_TEXT)

    @property
    def value(self) -> ColumnElement[Any]:
        return self.table.c[self.column]

    @property
    def token(self) -> ColumnElement[str]:
        return cast(self.value, Text)

    def secrets(self, value: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
        """The sealed secrets in one stored value, by field (``None`` for a single-secret column)."""
        return {str(k): v for k, v in value.items()} if self.per_field else {None: value}

    def rebuild(self, value: dict[str, Any], secrets: dict[str | None, dict[str, Any]]) -> dict[str, Any]:
        """The stored value with its secrets replaced (keeps field order; inverse of :meth:`secrets`)."""
        if not self.per_field:
            return secrets[None]
        return {name: secrets[name] for name in value}


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(ChannelAccount.__table__, "credentials", per_field=True),  # type: ignore[arg-type]
    # what a credential rotation replaced, kept for in-flight callbacks during its grace window
    SealedColumn(ChannelAccount.__table__, "previous_credentials", per_field=True,  # type: ignore[arg-type]
                 label="channel_accounts.previous_credentials"),
    SealedColumn(WebhookEndpoint.__table__, "secret", per_field=False),  # type: ignore[arg-type]
    SealedColumn(AlertChannels.__table__, "webhook_secret", per_field=False),  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class StoredRow:
    """One row's sealed value as stored: ``token`` is the raw text, the version the write is conditioned on."""

    id: str
    token: str

    @property
    def value(self) -> dict[str, Any]:
        parsed = json.loads(self.token)
        if not isinstance(parsed, dict):
            raise ValueError("a sealed column does not hold a JSON object")
        return parsed


def count_rows(session: Session, spec: SealedColumn) -> int:
    return int(session.scalar(select(func.count()).select_from(spec.table).where(spec.present)) or 0)


def read_batch(session: Session, spec: SealedColumn, after_id: str | None, limit: int) -> list[StoredRow]:
    """Up to ``limit`` rows with an id after ``after_id``, in id order (a resumable keyset walk)."""
    ids = spec.table.c.id
    query = select(ids, spec.token).where(spec.present).order_by(ids).limit(limit)
    if after_id is not None:
        query = query.where(ids > after_id)
    return [StoredRow(id=row_id, token=token) for row_id, token in session.execute(query)]


def read_row(session: Session, spec: SealedColumn, row_id: str) -> StoredRow | None:
    token = session.scalar(select(spec.token).where(spec.table.c.id == row_id, spec.present))
    return None if token is None else StoredRow(id=row_id, token=token)


def write_if_unchanged(session: Session, spec: SealedColumn, row: StoredRow, value: dict[str, Any]) -> bool:
    """Store ``value`` unless the row changed since ``row`` was read; False when it did (or is gone).

    Only the sealed column is written: ``updated_at`` is left alone on purpose, since a re-wrap changes no
    secret (the adapter cache is keyed on the credentials' plaintext fingerprints, which a re-wrap keeps).
    """
    statement = (update(spec.table).where(spec.table.c.id == row.id, spec.token == row.token)
                 .values({spec.column: value}))
    return bool(getattr(session.execute(statement), "rowcount", 0) == 1)


def stream_rows(session: Session, spec: SealedColumn) -> Iterator[StoredRow]:
    """Every row of ``spec`` (server-side batches on PostgreSQL), for counting which KEK wraps what."""
    query = select(spec.table.c.id, spec.token).where(spec.present).order_by(spec.table.c.id)
    for row_id, token in session.execute(query, execution_options={"yield_per": YIELD_PER}):
        yield StoredRow(id=row_id, token=token)
