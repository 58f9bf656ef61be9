"""The mode of an audit event — test or live — is the mode of what it is about.

A merchant's test key lists the events about its sandbox accounts and test data, its live key those about
its production accounts and real money (``GET /v1/audit_events``); an event about neither (the merchant
itself, its alert channels) is listed to both. :func:`indiepay.audit.service.record` stores the mode in
``audit_events.livemode`` (migration 0029), taken from the event's target unless the caller says it (a
dashboard sign-in, which has no target, is in the mode of the key signed in with); the hash covers it.

Events recorded before that migration have no stored mode and are never given one: the log is append-only
and hash-chained, and rewriting its rows would mean lifting the guard it exists for. Their mode is derived
from the same targets when they are listed (:func:`listed_to`), so that they are not shown to the other
mode's key either; one whose target is gone, or that has none, is shown to both, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from indiepay.accounts.models import ChannelAccount
from indiepay.audit.models import AuditEvent
from indiepay.merchants.models import ApiKey
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund
from indiepay.sharing.models import SharingOrder, SharingReceiver, SharingReturn

SIGNED_IN = "dashboard.signed_in"  # no target: its details say the mode of the key signed in with


@dataclass(frozen=True)
class _Kind:
    """A kind of target that has a mode: the ``target_type`` names events give it, its id column, and "it is
    live" as SQL."""

    names: tuple[str, ...]
    id: QueryableAttribute[str]
    live: ColumnElement[bool]


KINDS = (
    _Kind(("channel_account", "account"), ChannelAccount.id,  # the kill switch names it "account"
          ChannelAccount.environment == "production"),
    _Kind(("payment",), Payment.id, Payment.livemode.is_(True)),
    _Kind(("refund",), Refund.id, Refund.livemode.is_(True)),
    _Kind(("api_key",), ApiKey.id, ApiKey.livemode.is_(True)),
    _Kind(("sharing_order",), SharingOrder.id, SharingOrder.livemode.is_(True)),
    _Kind(("sharing_return",), SharingReturn.id, SharingReturn.livemode.is_(True)),
    _Kind(("sharing_receiver",), SharingReceiver.id, SharingReceiver.livemode.is_(True)),
)
_BY_NAME = {name: kind for kind in KINDS for name in kind.names}


def mode_of_target(session: Session, target_type: str | None, target_id: str | None) -> bool | None:
    """True for a target that is live, False for a test one, None for one that has no mode (or is not found).

    Read in the caller's session (after its autoflush), so a target created in the same unit of work counts.
    """
    kind = _BY_NAME.get(target_type or "")
    if kind is None or target_id is None:
        return None
    live: Any = session.scalar(select(kind.live).where(kind.id == target_id))
    return None if live is None else bool(live)


def listed_to(livemode: bool) -> ColumnElement[bool]:
    """The events a merchant key of ``livemode`` lists (besides being its merchant's): those of its mode, and
    those with no stored mode unless what they are about is of the other mode (see the module docstring)."""
    other = [and_(AuditEvent.target_type.in_(kind.names),
                  exists().where(kind.id == AuditEvent.target_id, not_(kind.live) if livemode else kind.live))
             for kind in KINDS]
    other.append(and_(AuditEvent.action == SIGNED_IN,
                      AuditEvent.details["livemode"].as_boolean().is_(not livemode)))
    return or_(AuditEvent.livemode.is_(livemode),
               and_(AuditEvent.livemode.is_(None), not_(func.coalesce(or_(*other), false()))))
