"""The refund sync job: query a processing refund until the channel gives a definite answer.

If the channel has never heard of the refund (the create call timed out before reaching it, or the
process died before calling), the same request with the same ``out_refund_no`` is sent again. After
:data:`MAX_ATTEMPTS` queries the job stops with a ``refund_unresolved`` alert; the refund stays processing
(its amount reserved) until someone finds out what the channel did.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from indiepay.accounts.service import adapter_for
from indiepay.alerts.service import raise_alert
from indiepay.channels.base import RefundState
from indiepay.context import ServiceContext
from indiepay.db.jobs.worker import RetryLater
from indiepay.payments import repository as payments_repository
from indiepay.payments.calls import call_channel, record_call
from indiepay.refunds.models import Refund
from indiepay.refunds.service import apply_answer, send_to_channel

SCHEDULE_SECONDS = (10, 30, 60, 120, 300, 600, 1800, 3600)
MAX_ATTEMPTS = 48


def run_sync_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    refund_id = str(args["refund_id"])
    with ctx.db.read() as session:
        refund = session.get(Refund, refund_id)
        if refund is None or refund.status != "processing":
            return None
        found = payments_repository.with_account(session, refund.payment_id)
        assert found is not None
        payment, account = found
        out_trade_no, out_refund_no = payment.channel_out_trade_no, refund.channel_out_refund_no
        requested_at = refund.created_at
    adapter = adapter_for(ctx, account)
    result = call_channel("refund_query",
                          lambda: adapter.query_refund(out_trade_no, out_refund_no, requested_at=requested_at))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment.id, refund_id=refund_id)
        if result.value is not None and result.value.state is not RefundState.NOT_FOUND:
            apply_answer(session, ctx, refund_id, result.value, source="refund_query")
    if result.value is not None and result.value.state is RefundState.NOT_FOUND:
        send_to_channel(ctx, refund_id)
    with ctx.db.transaction() as session:
        refund = session.get(Refund, refund_id)
        if refund is None or refund.status != "processing":
            return None
        refund.query_attempts += 1
        if refund.query_attempts >= MAX_ATTEMPTS:  # stop asking, and say so: the refund is never guessed
            raise_alert(session, ctx.clock, kind="refund_unresolved", severity="high", merchant_id=refund.merchant_id,
                        livemode=refund.livemode, dedupe_key=f"refund_unresolved:{refund.id}",
                        message=f"the channel gave no definite answer about refund {refund.id} after "
                                f"{refund.query_attempts} queries; it stays processing",
                        details={"refund_id": refund.id, "payment_id": refund.payment_id,
                                 "attempts": refund.query_attempts})
            return None
        delay = SCHEDULE_SECONDS[min(refund.query_attempts, len(SCHEDULE_SECONDS) - 1)]
        return RetryLater(at=ctx.clock.now() + timedelta(seconds=delay), reason="refund still processing")
