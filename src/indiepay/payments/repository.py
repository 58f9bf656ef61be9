"""Payment queries, always scoped to one merchant and mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.db.pagination import newest_first
from indiepay.db.prepared import update_where
from indiepay.payments.models import Payment


def get_scoped(session: Session, merchant_id: str, livemode: bool, payment_id: str) -> Payment | None:
    payment = session.get(Payment, payment_id)
    if payment is None or payment.merchant_id != merchant_id or payment.livemode != livemode:
        return None
    return payment


def get_by_out_trade_no(session: Session, merchant_id: str, livemode: bool, out_trade_no: str) -> Payment | None:
    return session.scalars(select(Payment).where(Payment.merchant_id == merchant_id, Payment.livemode == livemode,
                                                 Payment.out_trade_no == out_trade_no)).first()


def with_account(session: Session, payment_id: str) -> tuple[Payment, ChannelAccount] | None:
    """A payment and the channel account it was attempted on (every channel call needs both)."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        return None
    account = session.get(ChannelAccount, payment.channel_account_id)
    assert account is not None, "a payment always references its account"
    return payment, account


_BY_CHANNEL_ORDER = select(Payment).where(Payment.channel_account_id == bindparam("account_id"),
                                          Payment.channel_out_trade_no == bindparam("number"))  # every callback


def find_by_channel_order(session: Session, account_id: str, channel_out_trade_no: str) -> Payment | None:
    """The payment the channel knows by ``channel_out_trade_no`` on the account (unique there: see
    :mod:`.order_numbers`)."""
    return session.scalars(_BY_CHANNEL_ORDER, {"account_id": account_id, "number": channel_out_trade_no}).first()


PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]


def update_if_status(session: Session, payment_id: str, status: str, values: Mapping[str, Any]) -> bool:
    """Set ``values`` on the payment if it is still in ``status``; True when this call changed it.

    The row's state moves only through such conditional updates, so two writers racing (a callback and a
    query, a close and a late payment) cannot both apply a transition. The session's copy of the payment,
    if it holds one, is not touched: the caller sets what it needs (``set_committed_value``)."""
    statement = update_where(PAYMENTS, ("id", "status"), tuple(values))
    return statement.execute(session, {"where_id": payment_id, "where_status": status, **values}) == 1


def list_page(session: Session, merchant_id: str, livemode: bool, *, status: str | None,
              out_trade_no: str | None, limit: int, starting_after: Payment | None,
              window: tuple[Any, ...] = ()) -> list[Payment]:
    """Newest first, keyset-paginated on (created_at, id); ``window``: conditions of
    :func:`~indiepay.db.pagination.created_window`."""
    return newest_first(session, Payment, limit=limit, starting_after=starting_after,
                        where=(Payment.merchant_id == merchant_id, Payment.livemode == livemode, *window),
                        equal={Payment.status: status or None, Payment.out_trade_no: out_trade_no or None})

