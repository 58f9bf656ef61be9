"""The dashboard's front page: the operator's list of merchants (:func:`.dashboard.merchants_page`), or a
merchant's overview — today's takings in the key's mode, what needs its attention (each item a link to
the page that settles it), open alerts, the latest payments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.alerts.models import Alert
from indiepay.core.clock import BUSINESS_TZ, business_day
from indiepay.merchants.auth import Principal
from indiepay.merchants.service import get_merchant
from indiepay.payments.models import Payment
from indiepay.payments.service import list_payments
from indiepay.reconciliation import resolution
from indiepay.reconciliation.models import ReconciliationDifference
from indiepay.refunds.models import Refund
from indiepay.transfers.models import StatementLine
from indiepay.web.dashboard import ctx_of, merchants_page, render, signed_in, to_login

router = APIRouter(prefix="/dashboard", include_in_schema=False)


@router.get("", response_class=HTMLResponse, response_model=None)
def overview(request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    if signed.principal.is_admin:
        return merchants_page(request, signed)
    ctx = ctx_of(request)
    principal = signed.principal
    merchant_id = principal.require_merchant()
    start = datetime.combine(business_day(ctx.clock.now()), datetime.min.time(), BUSINESS_TZ).astimezone(UTC)
    with ctx.db.read() as session:
        merchant = get_merchant(session, principal, merchant_id)
        count, total = session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount), 0))
            .where(Payment.merchant_id == merchant_id, Payment.livemode == principal.livemode,
                   Payment.status == "succeeded", Payment.paid_at >= start,
                   Payment.paid_at < start + timedelta(days=1))).one()
        alerts = list(session.scalars(select(Alert).where(
            Alert.merchant_id == merchant_id, Alert.livemode == principal.livemode, Alert.acknowledged_at.is_(None))
            .order_by(Alert.created_at.desc()).limit(5)))
        recent = list_payments(session, ctx, principal, status=None, out_trade_no=None, limit=10, starting_after=None)
        attention = needs_attention(session, ctx.clock.now(), principal)
    return render(request, "overview.html", signed, merchant=merchant, paid_count=int(count), paid_total=int(total),
                  alerts=alerts, payments=recent.data, attention=attention)


ATTENTION_WINDOW = timedelta(days=30)


def needs_attention(session: Session, now: datetime, principal: Principal) -> list[tuple[str, int, str]]:
    """What waits for the merchant, in the key's mode — each as (what, how many, the page that settles it),
    only those with any: reconciliation differences still open, refunds that failed in the last 30 days,
    refunds to send back by hand, bank credits no payment claimed, accounts whose keys or certificates
    expire within 30 days (or have). Counts over indexed columns: the overview stays cheap."""
    merchant_id = principal.require_merchant()
    livemode = principal.livemode
    visible = resolution.visible_accounts(session, principal) or []
    counts = [
        ("reconciliation differences open", session.scalar(
            select(func.count()).select_from(ReconciliationDifference).where(
                ReconciliationDifference.account_id.in_(visible), ReconciliationDifference.status == "open"))
         if visible else 0, "/dashboard/reconciliation"),
        ("refunds failed in the last 30 days", session.scalar(
            select(func.count()).select_from(Refund).where(
                Refund.merchant_id == merchant_id, Refund.livemode == livemode, Refund.status == "failed",
                Refund.created_at >= now - ATTENTION_WINDOW)), "/dashboard/refunds?status=failed"),
        ("refunds still processing", session.scalar(
            select(func.count()).select_from(Refund).where(
                Refund.merchant_id == merchant_id, Refund.livemode == livemode, Refund.status == "processing")),
         "/dashboard/refunds?status=processing"),
        ("bank credits no payment claimed", session.scalar(
            select(func.count()).select_from(StatementLine).where(
                StatementLine.merchant_id == merchant_id, StatementLine.livemode == livemode,
                StatementLine.status == "unmatched")), "/dashboard/bank_transfers?status=unmatched"),
        ("accounts whose keys or certificates expire within 30 days", session.scalar(
            select(func.count()).select_from(ChannelAccount).where(
                ChannelAccount.merchant_id == merchant_id,
                ChannelAccount.environment == ("production" if livemode else "sandbox"),
                ChannelAccount.status == "active", ChannelAccount.credentials_expire_at.is_not(None),
                ChannelAccount.credentials_expire_at < now + ATTENTION_WINDOW)), "/dashboard/accounts"),
    ]
    return [(what, int(count or 0), page) for what, count, page in counts if count]
