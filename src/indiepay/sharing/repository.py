"""Queries of profit-sharing rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.db.pagination import newest_first
from indiepay.sharing.models import SharingLine, SharingOrder, SharingReceiver, SharingReturn


def receiver_scoped(session: Session, merchant_id: str, livemode: bool, receiver_id: str) -> SharingReceiver | None:
    """The receiver if it is this merchant's, in this mode; else None (another merchant's is not found)."""
    receiver = session.get(SharingReceiver, receiver_id)
    if receiver is None or receiver.merchant_id != merchant_id or receiver.livemode != livemode:
        return None
    return receiver


def receiver_by_account(session: Session, channel_account_id: str, type_: str, account: str) -> SharingReceiver | None:
    return session.scalars(select(SharingReceiver).where(
        SharingReceiver.channel_account_id == channel_account_id, SharingReceiver.type == type_,
        SharingReceiver.account == account)).first()


def order_scoped(session: Session, merchant_id: str, livemode: bool, order_id: str) -> SharingOrder | None:
    order = session.get(SharingOrder, order_id)
    if order is None or order.merchant_id != merchant_id or order.livemode != livemode:
        return None
    return order


def return_scoped(session: Session, merchant_id: str, livemode: bool, return_id: str) -> SharingReturn | None:
    found = session.get(SharingReturn, return_id)
    if found is None or found.merchant_id != merchant_id or found.livemode != livemode:
        return None
    return found


def lines_of(session: Session, order_id: str) -> list[tuple[SharingLine, SharingReceiver]]:
    """An order's lines in the order they were asked for, each with its receiver, as stored now (rows the
    session already holds are read again: an applier decides on the lines' current results)."""
    rows = session.execute(select(SharingLine, SharingReceiver)
                           .join(SharingReceiver, SharingReceiver.id == SharingLine.receiver_id)
                           .where(SharingLine.order_id == order_id).order_by(SharingLine.position)
                           .execution_options(populate_existing=True))
    return [(line, receiver) for line, receiver in rows.tuples()]


def list_receivers(session: Session, merchant_id: str, livemode: bool, *, channel_account_id: str | None,
                   status: str | None, limit: int, starting_after: SharingReceiver | None) -> list[SharingReceiver]:
    return newest_first(session, SharingReceiver, limit=limit, starting_after=starting_after,
                        where=(SharingReceiver.merchant_id == merchant_id, SharingReceiver.livemode == livemode),
                        equal={SharingReceiver.channel_account_id: channel_account_id or None,
                               SharingReceiver.status: status or None})


def list_orders(session: Session, merchant_id: str, livemode: bool, *, payment_id: str | None, status: str | None,
                limit: int, starting_after: SharingOrder | None) -> list[SharingOrder]:
    return newest_first(session, SharingOrder, limit=limit, starting_after=starting_after,
                        where=(SharingOrder.merchant_id == merchant_id, SharingOrder.livemode == livemode),
                        equal={SharingOrder.payment_id: payment_id or None, SharingOrder.status: status or None})


def returns_of(session: Session, order_id: str, *, limit: int) -> list[tuple[SharingReturn, str]]:
    """Up to ``limit + 1`` returns of one order, newest first, each with its receiver's id."""
    rows = session.execute(select(SharingReturn, SharingLine.receiver_id)
                           .join(SharingLine, SharingLine.id == SharingReturn.line_id)
                           .where(SharingReturn.order_id == order_id)
                           .order_by(SharingReturn.created_at.desc(), SharingReturn.id.desc()).limit(limit + 1))
    return [(found, receiver_id) for found, receiver_id in rows.tuples()]
