"""Resolving differences: who/when/why, a channel query for a pending late payment, the state machine for a
closed one, and exactly one corrective ledger entry for a money difference (replays post nothing)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from indiepay.core.errors import Conflict, InvalidRequest, NotFound
from indiepay.db.jobs.models import Job
from indiepay.ledger.models import LedgerEntry
from indiepay.ledger.service import balance_of
from indiepay.ledger.verify import verify
from indiepay.payments.models import Payment
from indiepay.payments.sync import QUERY_JOB
from indiepay.reconciliation import rules
from indiepay.reconciliation.resolution import resolve
from tests.reconciliation.world import DAY, World, beijing


def _entries(world: World) -> list[str]:
    with world.ctx.db.read() as session:
        return list(session.scalars(select(LedgerEntry.event_key).order_by(LedgerEntry.sequence)))


def _resolve(world: World, diff_id: str, action: str = "resolve") -> None:
    with world.ctx.db.transaction() as session:
        resolve(session, world.ctx, diff_id, action=action, note="checked with the channel", actor="admin")


def test_resolving_an_amount_mismatch_posts_exactly_one_correction(world: World) -> None:
    pay = world.payment(10_000, beijing(DAY, 10))
    run = world.import_bill(world.wechat_bill([replace(world.wechat_row(pay), order_total_fen=10_050,
                                                       settlement_total_fen=10_050)]))
    (diff,) = run.differences
    assert diff.klass == rules.AMOUNT_MISMATCH
    before = _entries(world)
    clearing = balance_of_code = "platform_clearing:wechatpay:CNY"
    with world.ctx.db.read() as session:
        cleared = balance_of(session, clearing)
    _resolve(world, diff.id)
    _resolve(world, diff.id)  # a replay
    after = _entries(world)
    assert after[len(before):] == [f"reconciliation:{diff.id}"]
    with world.ctx.db.read() as session:
        assert balance_of(session, balance_of_code) == cleared + 50
        assert verify(session).ok
        stored = session.get(type(diff), diff.id)
    assert stored is not None and (stored.status, stored.resolved_by) == (rules.RESOLVED, "admin")
    assert stored.details["resolution"]["ledger_entry_id"]
    rerun = world.import_bill(world.wechat_bill([replace(world.wechat_row(pay), order_total_fen=10_050,
                                                         settlement_total_fen=10_050)]))
    assert [(d.id, d.status) for d in rerun.differences] == [(diff.id, rules.RESOLVED)]
    assert _entries(world) == after


def test_ignoring_posts_nothing_and_cannot_then_be_resolved(world: World) -> None:
    pay = world.payment(10_000, beijing(DAY, 10))
    run = world.import_bill(world.wechat_bill([replace(world.wechat_row(pay), order_total_fen=9_000,
                                                       settlement_total_fen=9_000)]))
    before = _entries(world)
    _resolve(world, run.differences[0].id, "ignore")
    assert _entries(world) == before
    with pytest.raises(Conflict):
        _resolve(world, run.differences[0].id, "resolve")
    with pytest.raises(InvalidRequest):
        _resolve(world, run.differences[0].id, "forget")
    with pytest.raises(NotFound):
        _resolve(world, "recdiff_nope")


def test_a_pending_payment_the_bill_shows_paid_is_queried_again(world: World) -> None:
    pending = world.payment(2_000, beijing(DAY, 10), status="pending")
    run = world.import_bill(world.wechat_bill([world.wechat_row(pending)]))
    (diff,) = run.differences
    assert (diff.klass, diff.local_status) == (rules.STATUS_MISMATCH, "pending")
    _resolve(world, diff.id)
    with world.ctx.db.read() as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == QUERY_JOB)))
    assert [j.args for j in jobs] == [{"payment_id": pending.id}]


def test_a_closed_payment_the_bill_shows_paid_becomes_a_late_payment_with_one_entry(world: World) -> None:
    closed = world.payment(2_000, beijing(DAY, 10), status="closed")
    run = world.import_bill(world.wechat_bill([world.wechat_row(closed)]))
    (diff,) = run.differences
    _resolve(world, diff.id)
    _resolve(world, diff.id)
    with world.ctx.db.read() as session:
        payment = session.get(Payment, closed.id)
        count = session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.event_key == f"payment_succeeded:{closed.id}"))
    assert payment is not None and (payment.status, payment.late_payment) == ("succeeded", True)
    assert count == 1
    assert world.import_bill(world.wechat_bill([world.wechat_row(closed)])).run.status == "balanced"
