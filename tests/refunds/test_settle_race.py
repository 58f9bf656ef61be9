"""A refund's answer applied twice at once — the channel's synchronous answer (whose transaction first logs
the call, which locks the payment's key through its foreign key) and the channel's callback — settles the
refund exactly once and never deadlocks. Both paths lock the payment before the refund: on PostgreSQL the
callback once took the refund's row first and then waited for the payment, while the answer held the
payment and waited for the refund — a deadlock, answered 500 to the merchant who asked for the refund."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text

from indiepay.channels.base import ChannelRefund, RefundState
from indiepay.core.ids import new_id
from indiepay.refunds.service import apply_refund_state
from tests.advisor.conftest import add_account, add_payment, add_refund
from tests.support.platform import PlatformUnderTest


def test_the_answer_and_the_callback_settle_a_refund_once_without_a_deadlock(any_platform: PlatformUnderTest) -> None:
    platform = any_platform
    ctx = platform.runtime.ctx
    merchant = platform.merchant()
    account = add_account(ctx.db, merchant.id)
    payment_id = add_payment(ctx.db, merchant.id, account, 1_000, platform.clock.now() - timedelta(hours=1),
                             livemode=True)
    add_refund(ctx.db, merchant.id, payment_id, 400, platform.clock.now(), livemode=True, status="processing")
    refund_id = platform.sql("SELECT id FROM refunds WHERE payment_id = :p", p=payment_id)[0][0]
    platform.sql("UPDATE payments SET refund_reserved = 400 WHERE id = :p", p=payment_id)
    answer = ChannelRefund(out_refund_no=refund_id, state=RefundState.SUCCEEDED, raw_state="SUCCESS")
    outcomes: list[object] = []
    call_logged = threading.Event()

    def callback() -> None:
        call_logged.wait(10)
        try:
            with ctx.db.transaction() as session:
                outcomes.append(apply_refund_state(session, ctx, refund_id, answer))
        except Exception as exc:
            outcomes.append(exc)

    racer = threading.Thread(target=callback)
    racer.start()
    try:
        with ctx.db.transaction() as session:  # the synchronous answer's transaction, as send_to_channel runs it
            session.execute(text("INSERT INTO channel_calls (id, payment_id, refund_id, operation, outcome, "
                                 "duration_ms, created_at) VALUES (:id, :p, :r, 'refund', 'ok', 1, :at)"),
                            {"id": new_id("call"), "p": payment_id, "r": refund_id, "at": platform.clock.now()})
            call_logged.set()
            racer.join(0.5)  # the callback gets as far as it can while this transaction holds the payment's key
            outcomes.append(apply_refund_state(session, ctx, refund_id, answer))
    except Exception as exc:
        outcomes.append(exc)
    racer.join(30)
    assert not any(isinstance(outcome, Exception) for outcome in outcomes), outcomes
    assert sorted(outcomes, key=str) == [False, True]  # one of them settled it
    assert platform.sql("SELECT status FROM refunds WHERE id = :r", r=refund_id) == [("succeeded",)]
    assert platform.sql("SELECT refunded_amount, refund_reserved FROM payments WHERE id = :p", p=payment_id) == [
        (400, 400)]
    assert platform.sql("SELECT count(*) FROM events WHERE type = 'refund.succeeded'") == [(1,)]
