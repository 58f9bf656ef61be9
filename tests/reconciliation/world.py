"""A merchant, a channel account, payments and refunds inserted as rows (with their ledger entries, as the
payment core posts them), and real-format bills made from them with the writers — the raw material of
the reconciliation tests."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from indiepay.accounts.models import ChannelAccount
from indiepay.context import ServiceContext
from indiepay.core.clock import BUSINESS_TZ
from indiepay.core.ids import new_id
from indiepay.ledger import recording
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.reconciliation import service
from indiepay.reconciliation.parsers.alipay import AlipayBillRow
from indiepay.reconciliation.parsers.wechat_trade import WechatTradeRow
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.reconciliation.writers.wechat import render_wechat_trade_bill
from indiepay.refunds.models import Refund

DAY = date(2026, 11, 24)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CHANNEL_BPS = 60
PLATFORM_BPS = 40


def beijing(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    """An instant given in Beijing wall-clock time, as aware UTC."""
    return datetime.combine(day, time(hour, minute, second, micro), BUSINESS_TZ).astimezone(UTC)


def _num(text: str | None, digits: int) -> str:
    """A stable number derived from ``text`` (channel ids in generated bills; never Python's salted hash)."""
    return str(int(hashlib.sha256((text or "").encode()).hexdigest(), 16) % 10**digits).zfill(digits)


def fee_yuan(amount: int, bps: int = CHANNEL_BPS) -> Decimal:
    """The exact fee a channel prints (five decimals) for ``amount`` fen at ``bps``."""
    return (Decimal(amount) * bps / Decimal(1_000_000)).quantize(Decimal("0.00001"))


@dataclass
class Local:
    """One local record and the facts a bill row is made from."""

    kind: str
    out_trade_no: str
    out_refund_no: str | None
    amount: int
    at: datetime
    id: str


class World:
    """One merchant with one channel account (production, live money unless told otherwise)."""

    def __init__(self, ctx: ServiceContext, *, channel: str = "wechatpay", mode: str = "platform",
                 environment: str = "production", merchant_id: str | None = None,
                 account_id: str | None = None) -> None:
        self.ctx, self.channel, self.mode = ctx, channel, mode
        self.livemode = environment == "production"
        self.merchant_id = merchant_id or new_id("mch")
        self.account_id = account_id or new_id("acct")
        with ctx.db.transaction() as session:
            session.add(Merchant(id=self.merchant_id, name="Tea Shop Ltd.", short_name="Tea Shop",
                                 subject_type="enterprise", contact_email=None, status="active",
                                 collection_mode=mode, platform_fee_bps=PLATFORM_BPS, tech_fee_bps=PLATFORM_BPS,
                                 kyc_status="approved", created_at=EPOCH))
            session.flush()
            session.add(ChannelAccount(id=self.account_id, merchant_id=self.merchant_id, owner="merchant",
                                       channel=channel, environment=environment, role="primary", status="active",
                                       base_url="https://api.mch.weixin.qq.com", credentials={},
                                       created_at=EPOCH, updated_at=EPOCH))

    def payment(self, amount: int, at: datetime, *, status: str = "succeeded", created_at: datetime | None = None,
                out_trade_no: str | None = None) -> Local:
        """A payment; a succeeded live one is posted to the ledger as the payment core posts it."""
        payment_id = new_id("pay")
        number = out_trade_no or f"T{payment_id[-12:]}"
        created = created_at or at
        with self.ctx.db.transaction() as session:
            session.add(Payment(
                id=payment_id, merchant_id=self.merchant_id, livemode=self.livemode, channel_account_id=self.account_id,
                channel=self.channel, method="wechat_native", amount=amount, currency="CNY", out_trade_no=number,
                description="tea", status=status, collection_mode=self.mode, channel_fee_bps=CHANNEL_BPS,
                platform_fee_bps=PLATFORM_BPS, payer={}, action=None, expires_at=created + timedelta(hours=2),
                paid_at=at if status == "succeeded" else None, created_at=created, updated_at=at))
            if status == "succeeded" and self.livemode:
                session.flush()
                recording.record_payment(session, self.ctx.clock, payment_id=payment_id, mode=self.mode,
                                         channel=self.channel, merchant_id=self.merchant_id, amount=amount,
                                         currency="CNY", occurred_at=at,
                                         schedule=recording.schedule_for(CHANNEL_BPS, PLATFORM_BPS))
        return Local("payment", number, None, amount, at, payment_id)

    def refund(self, payment: Local, amount: int, at: datetime, *, status: str = "succeeded") -> Local:
        refund_id = new_id("re")
        number = f"R{refund_id[-12:]}"
        with self.ctx.db.transaction() as session:
            session.add(Refund(id=refund_id, merchant_id=self.merchant_id, livemode=self.livemode,
                               payment_id=payment.id, amount=amount, currency="CNY", status=status,
                               out_refund_no=number, created_at=at, updated_at=at,
                               succeeded_at=at if status == "succeeded" else None))
            if status == "succeeded" and self.livemode:
                session.flush()
                recording.record_refund(session, self.ctx.clock, refund_id=refund_id, payment_id=payment.id,
                                        mode=self.mode, channel=self.channel, merchant_id=self.merchant_id,
                                        payment_amount=payment.amount, refunded_before=0, amount=amount,
                                        currency="CNY", occurred_at=at,
                                        schedule=recording.schedule_for(CHANNEL_BPS, PLATFORM_BPS))
        return Local("refund", payment.out_trade_no, number, amount, at, refund_id)

    # ---- bills ---------------------------------------------------------------------------------------

    def wechat_row(self, item: Local, **overrides: Any) -> WechatTradeRow:
        when = item.at.astimezone(BUSINESS_TZ)
        values: dict[str, Any] = dict(
            trade_time=when, app_id="wx2421b1c4370ec43b", mch_id="1900000109", sub_mch_id=None, device=None,
            transaction_id=f"4200{_num(item.out_trade_no, 20)}", out_trade_no=item.out_trade_no,
            openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", trade_type="NATIVE", trade_state="SUCCESS", bank="OTHERS",
            currency="CNY", settlement_total_fen=item.amount, coupon_fen=0, product="tea", attach="",
            fee=fee_yuan(item.amount), rate="0.60%", refund_id=None, out_refund_no=None, refund_fen=0,
            recharge_coupon_refund_fen=0, refund_type=None, refund_status=None, order_total_fen=item.amount,
            refund_requested_fen=0, rate_note=None)
        if item.kind == "refund":
            values.update(trade_state="REFUND", settlement_total_fen=0, order_total_fen=0,
                          refund_id=f"5030{_num(item.out_refund_no, 20)}",
                          out_refund_no=item.out_refund_no, refund_fen=item.amount, refund_requested_fen=item.amount,
                          refund_type="ORIGINAL", refund_status="SUCCESS", fee=-fee_yuan(item.amount))
        values.update(overrides)
        return WechatTradeRow(**values)

    def wechat_bill(self, rows: Iterable[WechatTradeRow]) -> bytes:
        return render_wechat_trade_bill(list(rows))

    def alipay_row(self, item: Local, **overrides: Any) -> AlipayBillRow:
        refund = item.kind == "refund"
        sign = -1 if refund else 1
        fee = fee_yuan(item.amount).quantize(Decimal("0.01"))
        values: dict[str, Any] = dict(
            trade_no=f"2026{_num(item.out_trade_no, 24)}", out_trade_no=item.out_trade_no,
            business_type="退款" if refund else "交易", product="tea", created_at=item.at.astimezone(BUSINESS_TZ),
            finished_at=item.at.astimezone(BUSINESS_TZ), order_amount_fen=sign * item.amount,
            receipt_fen=sign * item.amount, service_fee=fee if refund else -fee,
            refund_request_no=item.out_refund_no or "")
        values.update(overrides)
        return AlipayBillRow(**values)

    def alipay_bill(self, rows: Iterable[AlipayBillRow], day: date = DAY) -> bytes:
        return render_alipay_bill_zip(list(rows), pid="2088102146225135", bill_date=day)

    def import_bill(self, content: bytes, day: date = DAY) -> service.RunResult:
        return service.import_bill(self.ctx, self.account_id, io.BytesIO(content), day=day)
