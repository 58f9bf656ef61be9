"""Factories that insert merchants, channel accounts, payments and refunds as ORM rows (the ``db`` fixture
is in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from indiepay.accounts.models import ChannelAccount
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund

CREATED = datetime(2025, 1, 1, tzinfo=UTC)



def add_merchant(db: Database, merchant_id: str, **fields: Any) -> None:
    values: dict[str, Any] = {"name": "Tea Shop Ltd.", "short_name": "Tea Shop", "subject_type": "enterprise",
                              "collection_mode": "platform", "platform_fee_bps": 40, "tech_fee_bps": 0,
                              "kyc_status": "pending", **fields}
    with db.transaction() as session:
        session.add(Merchant(id=merchant_id, created_at=CREATED, **values))


def add_account(db: Database, merchant_id: str | None, **fields: Any) -> str:
    values: dict[str, Any] = {"owner": "merchant" if merchant_id else "platform", "channel": "wechatpay",
                              "environment": "production", "role": "primary", "status": "active",
                              "base_url": "https://api.mch.weixin.qq.com", "credentials": {}, "fee_rate_bps": 60,
                              "settlement_bank": None, "credentials_expire_at": None, "verified_at": None, **fields}
    account_id = new_id("acct")
    with db.transaction() as session:
        session.add(ChannelAccount(id=account_id, merchant_id=merchant_id, created_at=CREATED, updated_at=CREATED,
                                   **values))
    return account_id


def add_payment(db: Database, merchant_id: str, account_id: str, amount: int, paid_at: datetime, *,
                livemode: bool = True, status: str = "succeeded", purpose: str | None = None) -> str:
    payment_id = new_id("pay")
    with db.transaction() as session:
        session.add(Payment(id=payment_id, merchant_id=merchant_id, livemode=livemode, channel_account_id=account_id,
                            channel="wechatpay", method="wechat_native", amount=amount, currency="CNY",
                            out_trade_no=payment_id, description="tea", status=status, collection_mode="platform",
                            payer={}, action=None, expires_at=paid_at + timedelta(hours=2),
                            paid_at=paid_at if status == "succeeded" else None, created_at=paid_at,
                            updated_at=paid_at, purpose=purpose))
    return payment_id


def add_refund(db: Database, merchant_id: str, payment_id: str, amount: int, at: datetime, *,
               livemode: bool = True, status: str = "succeeded") -> None:
    refund_id = new_id("re")
    with db.transaction() as session:
        session.add(Refund(id=refund_id, merchant_id=merchant_id, livemode=livemode, payment_id=payment_id,
                           amount=amount, currency="CNY", status=status, out_refund_no=refund_id, created_at=at,
                           updated_at=at, succeeded_at=at if status == "succeeded" else None))
