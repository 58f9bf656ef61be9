"""Verifying a channel account with a real 0.01 test payment before the merchant relies on it.

``start`` creates a 1-fen payment through exactly that account (not through routing); a real buyer — or
the sandbox buyer — pays it. When the payment succeeds, a job refunds it in full; when that refund
succeeds, the same job stamps ``verified_at`` on the account and emits ``channel_account.verified``.
Every step is a durable job keyed by the payment, so a crash or a replayed callback repeats nothing:
the refund has a fixed ``out_refund_no`` and the stamp is a conditional update. Stamping also ends a
credential rotation's grace window (:mod:`indiepay.accounts.rotation`). The test payment and its
refund are ordinary live-mode money, so the ledger records both.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import update

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.rotation import credentials_changed_after, drop_previous_after_verification
from indiepay.accounts.service import get_account
from indiepay.channels.base import ChannelMethod
from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, Unprocessable
from indiepay.db.jobs.worker import RetryLater
from indiepay.merchants.auth import Principal
from indiepay.payments.models import Payment
from indiepay.payments.schemas import PaymentCreate, PaymentOut
from indiepay.payments.service import create_payment
from indiepay.payments.state import ACCOUNT_VERIFICATION, SUCCEEDED
from indiepay.refunds.schemas import RefundCreate
from indiepay.refunds.service import create_refund
from indiepay.webhooks.service import emit_event

log = logging.getLogger(__name__)

TEST_AMOUNT = 1  # fen: ¥0.01
METHOD_FOR_CHANNEL = {"wechatpay": ChannelMethod.WECHAT_NATIVE, "alipay": ChannelMethod.ALIPAY_QR,
                      "unionpay": ChannelMethod.UNIONPAY_QR}


def start(ctx: ServiceContext, principal: Principal, account_id: str) -> PaymentOut:
    """Create the account's 0.01 test payment (a QR code the merchant pays with a real wallet).

    Raises:
        NotFound: not the caller's account, or not in the key's environment.
        Unprocessable / ChannelUnavailable: as for any payment.
    """
    with ctx.db.read() as session:
        account = get_account(session, principal, account_id)
        channel = account.channel
    if channel not in METHOD_FOR_CHANNEL:
        raise Unprocessable(f"a {channel} account has no automatic test payment: its first matched transfer "
                            "shows it works", code="verification_unsupported", details={"channel": channel})
    body = PaymentCreate(amount=TEST_AMOUNT, currency="CNY", out_trade_no=f"verify{secrets.token_hex(8)}",
                         description="IndiePay account verification (refunded automatically)",
                         method=METHOD_FOR_CHANNEL[channel])
    return create_payment(ctx, principal, body, verify_account_id=account_id)


def refund_no(payment_id: str) -> str:
    """The fixed refund number of a verification payment, so a retried job never refunds twice (and the
    refund is of the whole payment: a number from an earlier release cannot make a second one succeed).
    Letters and digits, at most 32 of them: every channel takes it, UnionPay's daily file prints it whole."""
    return "vf" + payment_id.replace("_", "")


def run_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Advance one verification: refund the paid test payment, then stamp the refunded account."""
    payment_id = str(args["payment_id"])
    with ctx.db.read() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.purpose != ACCOUNT_VERIFICATION or payment.status != SUCCEEDED:
            return None
        merchant_id, livemode, amount = payment.merchant_id, payment.livemode, payment.amount
        account_id, reserved, refunded = payment.channel_account_id, payment.refund_reserved, payment.refunded_amount
        created_at = payment.created_at
    if refunded >= amount:
        _mark_verified(ctx, payment_id, account_id, merchant_id, livemode, created_at)
        return None
    if reserved == 0:
        owner = Principal(role="merchant", merchant_id=merchant_id, livemode=livemode)
        try:
            create_refund(ctx, owner, RefundCreate(payment_id=payment_id, amount=amount,
                                                   reason="account verification", out_refund_no=refund_no(payment_id)))
        except Conflict as exc:  # the refund exists already (a retried job): its own sync job finishes it
            if exc.code not in ("duplicate_out_refund_no", "refund_exceeds_refundable"):
                raise
    return None  # the refund's success enqueues this job again, which then stamps the account


def _mark_verified(ctx: ServiceContext, payment_id: str, account_id: str, merchant_id: str, livemode: bool,
                   payment_created_at: datetime) -> None:
    """Stamp the account verified — unless its credentials changed after the test payment was created
    (a payment made with the replaced keys proves nothing about the new ones) — and drop the credentials
    a rotation replaced, which the verified set makes unnecessary."""
    now = ctx.clock.now()
    with ctx.db.transaction() as session:
        account = session.get(ChannelAccount, account_id, with_for_update=True)
        if account is None or account.verified_at is not None:
            return
        if credentials_changed_after(account.updated_at, payment_created_at):
            log.info("test payment %s predates the current credentials of %s: not a verification",
                     payment_id, account_id)
            return
        result = session.execute(update(ChannelAccount)
                                 .where(ChannelAccount.id == account_id, ChannelAccount.verified_at.is_(None))
                                 .values(verified_at=now)
                                 .execution_options(synchronize_session=False))
        if getattr(result, "rowcount", 0) == 1:
            emit_event(session, ctx, merchant_id=merchant_id, livemode=livemode, type_="channel_account.verified",
                       data={"object": {"id": account_id, "verified_at": now.isoformat(),
                                        "test_payment_id": payment_id}},
                       dedupe_key=f"channel_account.verified:{account_id}:{payment_id}")
            drop_previous_after_verification(session, ctx.clock, account_id, payment_id)
