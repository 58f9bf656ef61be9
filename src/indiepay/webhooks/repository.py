"""Queries of events."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from indiepay.db.pagination import newest_first
from indiepay.webhooks.models import Event


def get_scoped(session: Session, merchant_id: str, livemode: bool, event_id: str) -> Event | None:
    """The event if it is this merchant's, in this mode; else None."""
    event = session.get(Event, event_id)
    if event is None or event.merchant_id != merchant_id or event.livemode != livemode:
        return None
    return event


def list_page(session: Session, merchant_id: str, livemode: bool, *, type_: str | None, delivered: bool | None,
              limit: int, starting_after: Event | None, window: tuple[Any, ...] = ()) -> list[Event]:
    """Newest first, keyset-paginated on (created_at, id) over ``ix_events_merchant_created``."""
    return newest_first(session, Event, limit=limit, starting_after=starting_after,
                        where=(Event.merchant_id == merchant_id, Event.livemode == livemode, *window),
                        equal={Event.type: type_ or None, Event.delivered: delivered})
