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
from indiepay.reconciliation.models import ReconciliationDifference, ReconciliationRun
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


def test_resolving_and_ignoring_at_once_closes_a_difference_once(world: World) -> None:
    """A person resolves (posting the correction) while another ignores the same difference, and two other
    differences of the run are resolved at once: each is closed once, the correction is posted for the one
    resolved only, and the run's count of open differences loses exactly one a difference. (Without the row
    locks, PostgreSQL let both close the first one — a correction on a difference marked ignored — and lost
    decrements of the count.)"""
    import threading

    pays = [world.payment(10_000, beijing(DAY, 10 + n)) for n in range(3)]
    run = world.import_bill(world.wechat_bill([replace(world.wechat_row(p), order_total_fen=10_100,
                                                       settlement_total_fen=10_100) for p in pays]))
    first, second, third = (d.id for d in run.differences)
    held = threading.Event()
    release = threading.Event()
    outcomes: dict[str, str] = {}

    def resolve_and_hold() -> None:
        with world.ctx.db.transaction() as session:
            resolve(session, world.ctx, first, action="resolve", note="corrected", actor="alice")
            held.set()
            release.wait(10)

    def close(name: str, diff_id: str, action: str) -> None:
        try:
            _resolve(world, diff_id, action)
            outcomes[name] = "closed"
        except Conflict as exc:
            outcomes[name] = exc.code

    alice = threading.Thread(target=resolve_and_hold)
    alice.start()
    assert held.wait(10)
    others = [threading.Thread(target=close, args=("bob", first, "ignore")),
              threading.Thread(target=close, args=("carol", second, "resolve")),
              threading.Thread(target=close, args=("dave", third, "resolve"))]
    for thread in others:
        thread.start()
    others[0].join(0.5)
    release.set()
    for thread in (alice, *others):
        thread.join(20)
    assert outcomes == {"bob": "difference_closed", "carol": "closed", "dave": "closed"}
    with world.ctx.db.read() as session:
        statuses = {d.id: d.status for d in session.scalars(
            select(ReconciliationDifference).where(ReconciliationDifference.run_id == run.run.id))}
        stored_run = session.get(ReconciliationRun, run.run.id)
    assert statuses == {first: rules.RESOLVED, second: rules.RESOLVED, third: rules.RESOLVED}
    assert stored_run is not None and (stored_run.open_differences, stored_run.status) == (0, "balanced")
    assert sorted(k for k in _entries(world) if k.startswith("reconciliation:")) == \
        sorted(f"reconciliation:{d}" for d in (first, second, third))


def test_a_changed_bill_opens_a_closed_difference_again_and_corrects_only_the_rest(world: World) -> None:
    """Resolved for the bill's 10,050 (+50 corrected), the day republished with 10,080: the difference opens
    again (the earlier closing kept in its history) and resolving it posts +30 more — its own entry, the
    first never edited; back to 10,050 the next resolution takes the 30 back. A bill that does not change the
    amounts leaves a closed difference closed; an ignored one opens again just the same."""
    pay = world.payment(10_000, beijing(DAY, 10))
    other = world.payment(20_000, beijing(DAY, 11))

    def bill(first: int, second: int) -> bytes:
        return world.wechat_bill([replace(world.wechat_row(pay), order_total_fen=first, settlement_total_fen=first),
                                  replace(world.wechat_row(other), order_total_fen=second,
                                          settlement_total_fen=second)])

    clearing = "platform_clearing:wechatpay:CNY"
    with world.ctx.db.read() as session:
        cleared = balance_of(session, clearing)
    run = world.import_bill(bill(10_050, 19_000))
    corrected, ignored = (d.id for d in sorted(run.differences, key=lambda d: d.local_amount or 0))
    _resolve(world, corrected)
    _resolve(world, ignored, "ignore")
    assert world.import_bill(bill(10_050, 19_000)).run.open_differences == 0  # the same figures: still closed

    rerun = world.import_bill(bill(10_080, 19_500))
    assert rerun.run.open_differences == 2
    with world.ctx.db.read() as session:
        reopened = session.get(ReconciliationDifference, corrected)
        assert reopened is not None and reopened.status == rules.OPEN and reopened.channel_amount == 10_080
        (closing,) = reopened.details[rules.REOPENED]
        assert (closing["status"], closing["channel_amount"], reopened.details[rules.CORRECTED]) == (
            rules.RESOLVED, 10_050, 50)
        again = session.get(ReconciliationDifference, ignored)
        assert again is not None and again.status == rules.OPEN
        assert again.details[rules.REOPENED][0]["status"] == rules.IGNORED
    _resolve(world, corrected)
    _resolve(world, corrected)  # a replay posts nothing
    world.import_bill(bill(10_050, 19_500))
    _resolve(world, corrected)
    keys = [k for k in _entries(world) if k.startswith("reconciliation:")]
    assert keys == [f"reconciliation:{corrected}", f"reconciliation:{corrected}:2", f"reconciliation:{corrected}:3"]
    with world.ctx.db.read() as session:
        assert balance_of(session, clearing) == cleared + 50  # +50, +30, −30
        assert verify(session).ok
