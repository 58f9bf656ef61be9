"""A ``books`` factory that writes one of every financial record at a chosen instant, as the platform would
(the ``db`` fixture is in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from indiepay.accounts.models import ChannelAccount
from indiepay.core.clock import BUSINESS_TZ, FixedClock, business_day
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.ledger import postings as p
from indiepay.ledger import service
from indiepay.merchants.models import CollectionModeChange, Merchant
from indiepay.notify.models import ReceivedNotification
from indiepay.payments.models import ChannelCall, Payment
from indiepay.refunds.models import Refund
from indiepay.settlements.models import Payout, Settlement
from indiepay.sharing.models import SharingLine, SharingOrder, SharingReceiver, SharingReturn
from indiepay.statements.models import Statement
from indiepay.transfers.models import StatementLine

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)



def beijing(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An instant given in Beijing time, as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=BUSINESS_TZ).astimezone(UTC)


class Books:
    """Writes financial records the way the platform does, dated by the caller."""

    def __init__(self, db: Database, merchant_id: str = "mch_books") -> None:
        self.db = db
        self.merchant_id = merchant_id
        self.account_id = new_id("acct")
        with db.transaction() as session:
            session.add(Merchant(id=merchant_id, name="Tea Shop Ltd.", short_name="Tea Shop",
                                 subject_type="enterprise", contact_email=None, status="active",
                                 collection_mode="platform", created_at=EPOCH))
            session.add(ChannelAccount(id=self.account_id, merchant_id=None, owner="platform", channel="wechatpay",
                                       environment="production", role="primary", status="active",
                                       base_url="https://api.mch.weixin.qq.com", credentials={}, created_at=EPOCH,
                                       updated_at=EPOCH))

    def payment(self, at: datetime, amount: int = 10_000) -> str:
        """A succeeded payment with its channel call, its callback and its ledger entry."""
        payment_id = new_id("pay")
        with self.db.transaction() as session:
            session.add(Payment(id=payment_id, merchant_id=self.merchant_id, livemode=True,
                                channel_account_id=self.account_id, channel="wechatpay", method="wechat_native",
                                amount=amount, currency="CNY", out_trade_no=payment_id, description="红茶 tea",
                                status="succeeded", collection_mode="platform", payer={"openid": "o_1"},
                                action=None, expires_at=at + timedelta(hours=2), paid_at=at, created_at=at,
                                updated_at=at))
            session.flush()
            session.add(ChannelCall(id=new_id("call"), payment_id=payment_id, refund_id=None, operation="prepay",
                                    outcome="ok", channel_code=None, message=None, duration_ms=12, created_at=at))
            session.add(ReceivedNotification(id=new_id("ntf"), account_id=self.account_id,
                                             notification_id=new_id("n"), event_type="TRANSACTION.SUCCESS",
                                             result="applied", detail=None, received_at=at))
            service.post(session, FixedClock(at), event_key=f"payment_succeeded:{payment_id}", occurred_at=at,
                         plan=p.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=self.merchant_id,
                                                  amount=amount, channel_fee=amount * 6 // 1000,
                                                  platform_fee=amount * 4 // 1000))
        return payment_id

    def sharing(self, payment_id: str, at: datetime, amount: int = 2_000) -> str:
        """A finished profit-sharing order of the payment, one receiver's line and a return from it."""
        order_id, receiver_id, line_id = new_id("pso"), new_id("rcv"), new_id("psl")
        with self.db.transaction() as session:
            session.add(SharingReceiver(id=receiver_id, merchant_id=self.merchant_id, livemode=True,
                                        channel_account_id=self.account_id, channel="wechatpay",
                                        type="wechat_merchant", account="1900012345", relation="distributor",
                                        name_hint="*司", status="active", created_at=at, updated_at=at))
            session.add(SharingOrder(id=order_id, merchant_id=self.merchant_id, livemode=True, payment_id=payment_id,
                                     channel_account_id=self.account_id, out_order_no=order_id, amount=amount,
                                     finish=False, status="finished", query_attempts=1, created_at=at, updated_at=at,
                                     finished_at=at))
            session.flush()
            session.add(SharingLine(id=line_id, order_id=order_id, receiver_id=receiver_id, position=0, amount=amount,
                                    description="分账", result="succeeded", returned_amount=500, return_reserved=500,
                                    created_at=at, finished_at=at))
            session.flush()
            session.add(SharingReturn(id=new_id("psr"), merchant_id=self.merchant_id, livemode=True,
                                      order_id=order_id, line_id=line_id, out_return_no=new_id("pr"), amount=500,
                                      description="分账回退", status="succeeded", query_attempts=0, created_at=at,
                                      updated_at=at, finished_at=at))
        return order_id

    def transfer_line(self, payment_id: str, at: datetime, amount: int = 12_345) -> str:
        """A bank statement's credit matched to the payment."""
        line_id = new_id("bsl")
        with self.db.transaction() as session:
            session.add(StatementLine(id=line_id, merchant_id=self.merchant_id, livemode=True,
                                      channel_account_id=self.account_id, bank_txn_id=line_id, booked_at=at,
                                      amount=amount, currency="CNY", payer_name="张三", memo="IP0000000A",
                                      source="statement", status="matched", reason=None, payment_id=payment_id,
                                      created_at=at, updated_at=at))
        return line_id

    def refund(self, payment_id: str, at: datetime, amount: int = 1_000) -> str:
        refund_id = new_id("re")
        with self.db.transaction() as session:
            session.add(Refund(id=refund_id, merchant_id=self.merchant_id, livemode=True, payment_id=payment_id,
                               amount=amount, currency="CNY", status="succeeded", out_refund_no=refund_id,
                               created_at=at, updated_at=at, succeeded_at=at))
        return refund_id

    def settlement(self, at: datetime, amount: int = 5_000, *, day: str | None = None) -> str:
        """A business day (``day``, else the Beijing day of ``at``) settled at ``at``, with its payout and its
        ledger entry."""
        settlement_id = new_id("stl")
        day = day or business_day(at).isoformat()
        with self.db.transaction() as session:
            session.add(Settlement(id=settlement_id, merchant_id=self.merchant_id, business_date=day, currency="CNY",
                                   payments_amount=amount, refunds_amount=0, platform_fee=0, channel_fee=0,
                                   other_amount=0, carried_in=0, net_amount=amount, payout_amount=amount,
                                   carried_forward=0, status="settled", ledger_entry_id=None, created_at=at))
            session.flush()
            session.add(Payout(id=new_id("po"), settlement_id=settlement_id, merchant_id=self.merchant_id,
                               amount=amount, currency="CNY", status="paid", reference="ref", attempts=1,
                               created_at=at, updated_at=at, paid_at=at, failed_at=None))
            service.post(session, FixedClock(at), event_key=f"settlement:{settlement_id}", occurred_at=at,
                         plan=p.settlement(merchant_id=self.merchant_id, amount=amount))
        return settlement_id

    def statement(self, month: str, at: datetime) -> None:
        with self.db.transaction() as session:
            session.add(Statement(id=new_id("stmt"), merchant_id=self.merchant_id, month=month, currency="CNY",
                                  status="final", body={"month": month, "net": 1}, body_sha256="0" * 64,
                                  generated_at=at))

    def mode_change(self, at: datetime) -> None:
        with self.db.transaction() as session:
            session.add(CollectionModeChange(id=new_id("cmc"), merchant_id=self.merchant_id, from_mode="independent",
                                             to_mode="platform", actor="admin", created_at=at))


@pytest.fixture
def books(db: Database) -> Books:
    return Books(db)
