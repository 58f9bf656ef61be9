"""Declarative base and column types shared by every domain's tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


def copy_of(column: str) -> Callable[[DefaultExecutionContext], Any]:
    """A column default that copies another column of the same insert (a value that is that column's unless
    the writer says otherwise, like the number a channel knows an order by: the merchant's own by default)."""

    def copied(context: DefaultExecutionContext) -> Any:
        return context.get_current_parameters()[column]  # type: ignore[no-untyped-call]

    return copied


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware UTC datetimes; SQLite hands back naive values, which are re-tagged as UTC.

    On SQLite the value is stored as text, ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC — SQLAlchemy's format for
    its SQLite ``DATETIME``, which the stored rows and every comparison in SQL rely on. The bind processor
    writes that text in one step (``isoformat``) rather than converting, then formatting through a dict of
    fields: a payment binds a dozen of these, and the two-step way costs about twice as much."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def as_stored_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return as_stored_text

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}
