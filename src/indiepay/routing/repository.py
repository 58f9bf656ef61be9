"""The rows routing reads: an owner's accounts of one channel and environment (only the columns routing
decides on), and what capped accounts have taken today (payments that may still take, or took, money —
the same count as the daily limits).

The accounts are read on every payment: a Core statement compiled once and run on the driver
(:class:`~indiepay.db.prepared.Prepared`), no ORM entities (an account row carries encrypted credentials
routing never reads) and no statement building per call — or, for a merchant's own accounts, as one JSON
column of admission's measure (:data:`MERCHANT_ACCOUNTS_JSON`): one statement fewer per payment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.db.jsonrows import json_rows, rows_of
from indiepay.db.prepared import Prepared
from indiepay.risk.models import PaymentDayUsage


class RoutableAccount(NamedTuple):
    """What routing decides on, of one account (its credentials are not read until it is chosen)."""

    id: str
    merchant_id: str | None
    channel: str
    environment: str
    role: str
    weight: int
    status: str
    daily_cap: int | None

ACCOUNT = ChannelAccount.__table__.c

_ROUTING_COLUMNS = (ACCOUNT.id, ACCOUNT.merchant_id, ACCOUNT.channel, ACCOUNT.environment, ACCOUNT.role,
                    ACCOUNT.weight, ACCOUNT.status, ACCOUNT.daily_cap)
CARRIED = "routing_"  # the parameters' prefix where the accounts ride in another domain's statement


def _where(prefix: str = "") -> tuple[ColumnElement[bool], ...]:
    return (ACCOUNT.channel == bindparam(f"{prefix}channel"), ACCOUNT.environment == bindparam(f"{prefix}environment"))


def _merchant_where(prefix: str = "") -> tuple[ColumnElement[bool], ...]:
    return (ACCOUNT.merchant_id == bindparam(f"{prefix}owner"), *_where(prefix))


_MERCHANT_ACCOUNTS = Prepared(select(*_ROUTING_COLUMNS).where(*_merchant_where()))
_PLATFORM_ACCOUNTS = Prepared(select(*_ROUTING_COLUMNS).where(ACCOUNT.owner == "platform", *_where()))
# the same rows as one JSON value, for a statement that runs anyway to carry (admission's measure); its
# parameters are prefixed so that they cannot meet the host statement's own (merchant_accounts_params)
MERCHANT_ACCOUNTS_JSON = select(json_rows(*_ROUTING_COLUMNS)).where(*_merchant_where(CARRIED)).scalar_subquery()
USAGE = PaymentDayUsage.__table__.c
_USED_TODAY = (select(USAGE.channel_account_id, func.sum(USAGE.amount))
               .where(USAGE.channel_account_id.in_(bindparam("account_ids", expanding=True)),
                      USAGE.business_date == bindparam("business_date"))
               .group_by(USAGE.channel_account_id))


def accounts_of(session: Session, merchant_id: str | None, channel: str,
                environment: str) -> list[RoutableAccount]:
    """Every account of the merchant (``None``: the platform's own) for the channel and environment."""
    where = {"channel": channel, "environment": environment}
    rows = (_PLATFORM_ACCOUNTS.rows(session, where) if merchant_id is None
            else _MERCHANT_ACCOUNTS.rows(session, {"owner": merchant_id, **where}))
    return [RoutableAccount._make(row) for row in rows]


def merchant_accounts_params(merchant_id: str, channel: str, environment: str) -> dict[str, str]:
    """The parameters of :data:`MERCHANT_ACCOUNTS_JSON`."""
    return {f"{CARRIED}owner": merchant_id, f"{CARRIED}channel": channel, f"{CARRIED}environment": environment}


def accounts_from_json(value: Any) -> list[RoutableAccount]:
    """The accounts a :data:`MERCHANT_ACCOUNTS_JSON` value holds, as the driver returned it."""
    return [RoutableAccount._make(row) for row in rows_of(value)]


def used_today(session: Session, account_ids: Sequence[str], day: date) -> dict[str, int]:
    """Amounts counted on business day ``day`` on each account, across every merchant (a platform account is
    shared), from the running sums the payments' triggers keep (:class:`~indiepay.risk.models.PaymentDayUsage`)."""
    if not account_ids:
        return {}
    rows = session.connection().execute(_USED_TODAY, {"account_ids": list(account_ids),
                                                      "business_date": day.isoformat()})
    return {account_id: int(amount or 0) for account_id, amount in rows}
