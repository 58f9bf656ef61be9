"""Test helpers: merchants, Beijing-time instants, payments and refunds posted through the ledger's own
recording functions, and the ledger checks every scenario ends with."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indiepay.core.clock import BUSINESS_TZ, Clock
from indiepay.db.engine import Database
from indiepay.ledger import recording, service
from indiepay.ledger.accounts import natural_balance
from indiepay.ledger.models import LedgerEntry
from indiepay.ledger.verify import verify
from indiepay.merchants.models import Merchant

CHANNEL_BPS = 60
PLATFORM_BPS = 40
SCHEDULE = recording.schedule_for(CHANNEL_BPS, PLATFORM_BPS)


def cst(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """An instant given in Beijing time, as aware UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, second, micro, tzinfo=BUSINESS_TZ).astimezone(UTC)


def add_merchants(db: Database, *ids: str, mode: str = "platform") -> None:
    with db.transaction() as session:
        for merchant_id in ids:
            session.add(Merchant(id=merchant_id, name=f"{merchant_id} Ltd.", short_name=merchant_id,
                                 subject_type="enterprise", contact_email=None, status="active",
                                 collection_mode=mode, platform_fee_bps=PLATFORM_BPS, tech_fee_bps=PLATFORM_BPS,
                                 kyc_status="approved", created_at=datetime(2026, 1, 1, tzinfo=UTC)))


def pay(session: Session, clock: Clock, payment_id: str, merchant_id: str, amount: int, at: datetime, *,
        mode: str = "platform", channel: str = "wechatpay", currency: str = "CNY") -> None:
    recording.record_payment(session, clock, payment_id=payment_id, mode=mode, channel=channel,
                             merchant_id=merchant_id, amount=amount, currency=currency, occurred_at=at,
                             schedule=SCHEDULE)


def refund(session: Session, clock: Clock, refund_id: str, payment_id: str, merchant_id: str, *,
           payment_amount: int, amount: int, at: datetime, refunded_before: int = 0, mode: str = "platform",
           channel: str = "wechatpay", currency: str = "CNY") -> None:
    recording.record_refund(session, clock, refund_id=refund_id, payment_id=payment_id, mode=mode, channel=channel,
                            merchant_id=merchant_id, payment_amount=payment_amount,
                            refunded_before=refunded_before, amount=amount, currency=currency, occurred_at=at,
                            schedule=SCHEDULE)


def owed(amount: int) -> int:
    """What a platform-collection payment of ``amount`` adds to the merchant's payable (both fees off)."""
    return amount - SCHEDULE.platform_fee(amount) - SCHEDULE.channel_fee(amount)


def natural(db: Database, code: str) -> int:
    """An account's balance as a person reads it (credit-normal accounts flipped)."""
    with db.read() as session:
        balance = service.balance_of(session, code)
    return natural_balance(code.split(":", 1)[0], balance)


def entry_count(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


def assert_ledger_sound(db: Database) -> None:
    """The hash chain verifies, every entry balances and all balances sum to zero per currency."""
    with db.read() as session:
        result = verify(session)
        everything = service.balances(session)
    assert result.ok, result
    per_currency: dict[str, int] = {}
    for balance in everything:
        per_currency[balance.currency] = per_currency.get(balance.currency, 0) + balance.balance
    assert all(total == 0 for total in per_currency.values()), per_currency
