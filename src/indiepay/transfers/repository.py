"""Queries of bank-transfer matching: the account's payments that carry a reference code, statement lines."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.channels.base import ChannelMethod
from indiepay.db.pagination import newest_first
from indiepay.payments.models import Payment
from indiepay.transfers.models import StatementLine
from indiepay.transfers.rules import Candidate

# transfers arrive within days of the order; an older code is matched by hand (confirm_transfer)
MATCH_WINDOW = timedelta(days=180)


def payments_by_reference(session: Session, account_id: str, now: datetime) -> dict[str, list[Candidate]]:
    """The account's bank-transfer payments of the last :data:`MATCH_WINDOW`, by their reference code
    (read once per statement: on ``ix_payments_account_created``)."""
    rows = session.execute(
        select(Payment.id, Payment.amount, Payment.status, Payment.action)
        .where(Payment.channel_account_id == account_id, Payment.created_at >= now - MATCH_WINDOW,
               Payment.method == ChannelMethod.BANK_TRANSFER.value))
    found: dict[str, list[Candidate]] = {}
    for payment_id, amount, status, action in rows:
        code = (action or {}).get("reference")
        if code:
            found.setdefault(str(code), []).append(Candidate(payment_id=payment_id, amount=amount, status=status))
    return found


def line_by_txn(session: Session, account_id: str, bank_txn_id: str) -> StatementLine | None:
    return session.scalars(select(StatementLine).where(StatementLine.channel_account_id == account_id,
                                                       StatementLine.bank_txn_id == bank_txn_id)).first()


def list_page(session: Session, merchant_id: str, livemode: bool, *, account_id: str | None, status: str | None,
              limit: int, starting_after: StatementLine | None) -> list[StatementLine]:
    return newest_first(session, StatementLine, equal={
        StatementLine.merchant_id: merchant_id, StatementLine.livemode: livemode,
        StatementLine.channel_account_id: account_id, StatementLine.status: status},
        limit=limit, starting_after=starting_after)
