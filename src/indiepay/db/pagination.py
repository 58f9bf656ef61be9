"""Newest-first keyset pages, the one way every list endpoint pages (payments, alerts, risk decisions).

Keyset, not offset: a page is "the rows older than the last one you saw", ordered by ``(created_at, id)``,
so rows written while a client pages never shift or repeat what it sees, and each page is an index range.
One row more than asked is read, so the caller can say whether there are more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from indiepay.core.clock import storable_utc
from indiepay.core.errors import InvalidRequest

T = TypeVar("T")


def list_filter(field: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A list's filter value, checked against the values it can take (None: no filter).

    Raises:
        InvalidRequest: ``invalid_<field>`` with the allowed values, the same for every list.
    """
    if value is not None and value not in allowed:
        raise InvalidRequest(f"unknown {field} {value!r}", code=f"invalid_{field}",
                             details={"allowed": list(allowed)})
    return value


def page_cursor(starting_after: str | None, find: Callable[[str], T | None], what: str) -> T | None:
    """The row a page starts after (None for a first page), found by ``find``, which returns None for a row
    the caller may not see as well as for no row: a cursor never tells one from the other.

    Raises:
        InvalidRequest: ``invalid_cursor``, the same for every list.
    """
    if not starting_after:
        return None
    row = find(starting_after)
    if row is None:
        raise InvalidRequest(f"starting_after names no {what} of yours", code="invalid_cursor")
    return row


def created_window(model: Any, created_gte: datetime | None, created_lt: datetime | None) -> tuple[Any, ...]:
    """Conditions keeping the rows of ``model`` created in ``[created_gte, created_lt)`` (either end open) —
    the same index range as the list's order, so a day's rows cost a day's rows.

    Raises:
        InvalidRequest: ``invalid_created_range`` for a time without a zone or out of range
            (:func:`indiepay.core.clock.storable_utc`), or an empty window.
    """
    for name, moment in (("created_gte", created_gte), ("created_lt", created_lt)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidRequest(f"{name} needs a time zone (e.g. 2026-11-27T00:00:00+08:00)",
                                 code="invalid_created_range", details={"field": name})
        if moment is not None:
            try:
                storable_utc(moment)
            except ValueError as exc:
                raise InvalidRequest(f"{name}: {exc}", code="invalid_created_range", details={"field": name}) from exc
    if created_gte is not None and created_lt is not None and created_gte >= created_lt:
        raise InvalidRequest("created_gte must be before created_lt", code="invalid_created_range")
    window = []
    if created_gte is not None:
        window.append(model.created_at >= created_gte)
    if created_lt is not None:
        window.append(model.created_at < created_lt)
    return tuple(window)


def newest_first(session: Session, model: type[T], *, equal: Mapping[InstrumentedAttribute[Any], Any | None],
                 limit: int, starting_after: Any | None, where: tuple[Any, ...] = ()) -> list[T]:
    """Up to ``limit + 1`` rows of ``model`` newest first, after ``starting_after`` (a row of the same model).

    Args:
        equal: column → value filters; a ``None`` value means "no filter on this column".
        where: further conditions, as given.
    """
    query: Select[T] = select(model).where(*where)
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    mapped: Any = model  # any mapped class with ``created_at`` and ``id``
    created_at, row_id = mapped.created_at, mapped.id
    if starting_after is not None:
        query = query.where(tuple_(created_at, row_id) < tuple_(starting_after.created_at, starting_after.id))
    return list(session.scalars(query.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)))
