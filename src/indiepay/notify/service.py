"""Handling a channel callback addressed to one channel account.

Order of checks: the route names an account of that channel → the adapter verifies the signature with
*that account's* keys (a callback meant for another merchant fails here), the time window, SIGNTEST
probes and the mchid/appid/seller → we find our payment by the account and ``out_trade_no`` and compare
amount and currency → dedupe by the channel's notification id → apply with a conditional update. Anything
that fails changes nothing, is logged as rejected, and is answered in the channel's failure format.
During a credential rotation's grace window the adapter also verifies under the replaced credentials; a
callback accepted that way is noted on its received-notification row (``detail``).
"""

from __future__ import annotations

import logging

from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.repository import get_account
from indiepay.accounts.service import adapter_for
from indiepay.alerts.service import raise_alert
from indiepay.channels.base import (
    ChannelAdapter,
    IncomingNotification,
    Notification,
    NotificationRejected,
    NotificationReply,
)
from indiepay.context import ServiceContext
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import DUE_NOW
from indiepay.db.upsert import insert_once
from indiepay.notify.models import ReceivedNotification, RejectedNotification
from indiepay.payments import repository as payments_repository
from indiepay.payments.models import Payment
from indiepay.payments.sync import apply_trade_state, mismatch
from indiepay.refunds.models import Refund
from indiepay.refunds.service import apply_refund_state
from indiepay.refunds.service import mismatch as refund_mismatch

log = logging.getLogger(__name__)

# kept on the received-notification row of a callback only the replaced credentials verified (rotation)
PREVIOUS_CREDENTIALS_NOTE = "verified_with_previous_credentials"

UNKNOWN_ROUTE = NotificationReply(status_code=404, body=b'{"code":"FAIL","message":"unknown account"}',
                                  content_type="application/json")


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str, security: bool = False) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.security = security


def handle_notification(ctx: ServiceContext, channel: str, account_id: str,
                        incoming: IncomingNotification) -> NotificationReply:
    """Verify, check, dedupe and apply one callback; returns the reply the channel expects."""
    with ctx.db.read() as session:
        account = get_account(session, account_id)
        if account is None or account.channel != channel:
            return UNKNOWN_ROUTE
    adapter = adapter_for(ctx, account)
    try:
        notification = adapter.parse_notification(incoming)
        if notification.credentials != "current":
            log.info("callback %s on %s verified with the credentials a rotation replaced",
                     notification.notification_id, account.id)
        due_now = _apply(ctx, account, notification)
    except NotificationRejected as exc:
        return _reject(ctx, adapter, account, _Rejected("verification_failed", exc.message))
    except _Rejected as exc:
        return _reject(ctx, adapter, account, exc)
    if due_now:
        ctx.wake_worker()  # deliver the merchant's webhook now rather than at the next poll
    return adapter.notification_reply(True)


RECEIVED: Table = ReceivedNotification.__table__  # type: ignore[assignment]


def _apply(ctx: ServiceContext, account: ChannelAccount, notification: Notification) -> bool:
    """Apply in one transaction; True when it queued work that is due now (a webhook to deliver)."""
    try:
        with ctx.db.transaction() as session:
            # recorded first: a repeat (or a concurrent twin, which waits here on PostgreSQL) stops at once;
            # a rejection below rolls this back with everything else
            first_time = insert_once(session, RECEIVED, {
                "id": new_id("ntf"), "account_id": account.id, "notification_id": notification.notification_id,
                "event_type": notification.event_type, "result": "applied",
                "detail": None if notification.credentials == "current" else PREVIOUS_CREDENTIALS_NOTE,
                "received_at": ctx.clock.now()}, ["account_id", "notification_id"])
            if not first_time:
                return False
            if notification.payment is not None:
                seen = notification.payment
                payment = payments_repository.find_by_channel_order(session, account.id, seen.out_trade_no)
                if payment is None:
                    raise _Rejected("unknown_order", f"no payment {seen.out_trade_no!r} on this account")
                diffs = mismatch(payment, seen)
                if diffs:
                    raise _Rejected("order_mismatch", f"callback disagrees with payment {payment.id}: {diffs}",
                                    security=True)
                apply_trade_state(session, ctx, payment.id, seen, source="callback")
            elif notification.refund is not None:
                refund = _find_refund(session, account, notification)
                apply_refund_state(session, ctx, refund.id, notification.refund)
            session.flush()
            return bool(session.info.get(DUE_NOW))
    except IntegrityError:
        return False  # a concurrent delivery of the same notification won the race: it is handled


def _find_refund(session: Session, account: ChannelAccount, notification: Notification) -> Refund:
    assert notification.refund is not None
    seen = notification.refund
    refund = session.scalars(
        select(Refund).join(Payment, Payment.id == Refund.payment_id)
        .where(Payment.channel_account_id == account.id, Refund.channel_out_refund_no == seen.out_refund_no)).first()
    if refund is None:
        raise _Rejected("unknown_refund", f"no refund {seen.out_refund_no!r} on this account")
    payment = session.get(Payment, refund.payment_id)
    assert payment is not None
    diffs = refund_mismatch(refund, payment, seen)
    if diffs:
        raise _Rejected("refund_mismatch", f"callback disagrees with refund {refund.id}: {diffs}", security=True)
    return refund


def _reject(ctx: ServiceContext, adapter: ChannelAdapter, account: ChannelAccount,
            rejected: _Rejected) -> NotificationReply:
    with ctx.db.transaction() as session:
        session.add(RejectedNotification(id=new_id("rjn"), account_id=account.id, reason=rejected.reason,
                                         detail=rejected.detail[:2000], received_at=ctx.clock.now()))
        if rejected.security:
            raise_alert(session, ctx.clock, kind="callback_mismatch", severity="critical",
                        merchant_id=account.merchant_id,
                        message=f"a verified callback on {account.id} disagrees with our records",
                        dedupe_key=f"callback_mismatch:{account.id}:{new_id('x', 8)}",
                        details={"account_id": account.id, "detail": rejected.detail[:500]},
                        livemode=account.environment == "production")
    return adapter.notification_reply(False, rejected.reason)
