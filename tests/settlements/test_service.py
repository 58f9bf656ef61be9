"""Settling business days across several days on SQLite and PostgreSQL: what each batch pays, what it
carries forward, late entries, re-runs, refusals, and a sound ledger after every scenario."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from indiepay.core.clock import FixedClock
from indiepay.core.errors import Conflict, Unprocessable
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.ledger import postings
from indiepay.ledger import service as ledger
from indiepay.ledger.models import LedgerEntry
from indiepay.settlements import rules
from indiepay.settlements.payouts import PAYOUT_JOB
from indiepay.settlements.service import Batch, settle_day
from tests.settlements.books import (
    SCHEDULE,
    add_merchants,
    assert_ledger_sound,
    cst,
    entry_count,
    natural,
    owed,
    pay,
    refund,
)

D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
A, B, IND = "mch_a", "mch_b", "mch_ind"


def settle(db: Database, day: date, clock: FixedClock | None = None, **kwargs: str) -> dict[str, Batch]:
    clock = clock or FixedClock(rules.run_at(day))
    with db.transaction() as session:
        batches = settle_day(session, clock, day, **kwargs)
    return {b.settlement.merchant_id: b for b in batches}


def check_invariant(batch: Batch) -> None:
    s = batch.settlement
    assert (s.carried_in + s.payments_amount - s.refunds_amount - s.platform_fee - s.channel_fee
            + s.other_amount) == s.net_amount
    assert s.payout_amount == max(s.net_amount, 0) and s.carried_forward == min(s.net_amount, 0)


def test_a_day_of_payments_and_refunds_is_settled_and_paid_out(db: Database) -> None:
    add_merchants(db, A, B)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_2", A, 5_000, cst(D1, 23, 59, 59, 999_999))
        refund(session, clock, "re_1", "pay_1", A, payment_amount=10_000, amount=2_500, at=cst(D1, 15))
        pay(session, clock, "pay_3", B, 777, cst(D1, 0, 0, 0, 0), channel="alipay")
        pay(session, clock, "pay_4", A, 9_999, cst(D2, 0, 0, 0, 0))  # the next day: not in D1
    batches = settle(db, D1)
    a, b = batches[A], batches[B]
    platform_fee = SCHEDULE.platform_fee(10_000) + SCHEDULE.platform_fee(5_000) - 10  # 10 returned by the refund
    channel_fee = SCHEDULE.channel_fee(10_000) + SCHEDULE.channel_fee(5_000) - 15
    assert (a.settlement.payments_amount, a.settlement.refunds_amount) == (15_000, 2_500)
    assert (a.settlement.platform_fee, a.settlement.channel_fee) == (platform_fee, channel_fee)
    assert a.settlement.other_amount == 0 and a.settlement.carried_in == 0
    assert a.settlement.net_amount == 15_000 - 2_500 - platform_fee - channel_fee == owed(10_000) + owed(5_000) - 2_475
    assert b.settlement.net_amount == owed(777) and b.settlement.payments_amount == 777
    for batch in (a, b):
        check_invariant(batch)
        assert batch.settlement.status == "settled" and batch.settlement.business_date == "2026-11-20"
        assert batch.payout is not None and batch.payout.status == "pending"
        assert batch.payout.amount == batch.settlement.payout_amount
    with db.read() as session:
        key = f"settlement:{A}:2026-11-20:CNY"
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.event_key == key)).one()
        jobs = session.scalars(select(Job).where(Job.kind == PAYOUT_JOB)).all()
    assert entry.id == a.settlement.ledger_entry_id and entry.event_type == "settlement"
    assert entry.occurred_at == rules.cutoff(D1) - timedelta(microseconds=1)
    assert a.payout is not None and b.payout is not None
    assert {j.args["payout_id"] for j in jobs} == {a.payout.id, b.payout.id}
    # what is left on the payable account is exactly the next day's payment
    assert natural(db, f"merchant_payable:{A}:CNY") == owed(9_999)
    assert natural(db, f"payout_in_transit:{A}:CNY") == a.settlement.payout_amount
    assert_ledger_sound(db)


def test_refunds_exceeding_a_day_carry_a_negative_balance_forward(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
    first = settle(db, D1)[A]
    with db.transaction() as session:
        refund(session, clock, "re_1", "pay_1", A, payment_amount=10_000, amount=10_000, at=cst(D2, 10))
        pay(session, clock, "pay_2", A, 1_000, cst(D2, 11))
    second = settle(db, D2)[A]
    check_invariant(second)
    expected = owed(1_000) - owed(10_000)  # the full refund takes back everything the first payment owed
    assert second.settlement.carried_in == 0  # D1's payable was settled in full
    assert second.settlement.net_amount == expected < 0
    assert second.settlement.status == "nothing_to_pay" and second.payout is None
    assert second.settlement.carried_forward == expected and second.settlement.ledger_entry_id is None
    assert natural(db, f"payout_in_transit:{A}:CNY") == first.settlement.payout_amount  # nothing more settled
    with db.transaction() as session:
        pay(session, clock, "pay_3", A, 20_000, cst(D3, 8))
    third = settle(db, D3)[A]
    check_invariant(third)
    assert third.settlement.carried_in == expected
    assert third.settlement.net_amount == expected + owed(20_000) == third.settlement.payout_amount
    assert natural(db, f"merchant_payable:{A}:CNY") == 0
    assert_ledger_sound(db)


def test_an_entry_posted_late_for_a_settled_day_is_paid_the_next_day(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
    first = settle(db, D1)[A]
    with db.transaction() as session:  # a callback that arrived after the run, for a payment made on D1
        pay(session, clock, "pay_late", A, 3_000, cst(D1, 23, 30))
        pay(session, clock, "pay_2", A, 2_000, cst(D2, 9))
    again = settle(db, D1)[A]
    assert again.settlement.id == first.settlement.id and again.settlement.net_amount == first.settlement.net_amount
    second = settle(db, D2)[A]
    check_invariant(second)
    assert second.settlement.carried_in == owed(3_000)
    assert second.settlement.payments_amount == 2_000
    assert second.settlement.net_amount == owed(3_000) + owed(2_000)
    assert natural(db, f"payout_in_transit:{A}:CNY") == owed(10_000) + owed(3_000) + owed(2_000)
    assert_ledger_sound(db)


def test_running_a_day_again_changes_nothing(db: Database) -> None:
    add_merchants(db, A, B)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_2", B, 1_000, cst(D1, 9))
        refund(session, clock, "re_2", "pay_2", B, payment_amount=1_000, amount=1_000, at=cst(D1, 10))
    first = settle(db, D1)
    entries = entry_count(db)
    later = FixedClock(rules.run_at(D1) + timedelta(days=3))
    second = settle(db, D1, later)
    assert {m: b.settlement.id for m, b in first.items()} == {m: b.settlement.id for m, b in second.items()}
    assert entry_count(db) == entries
    assert second[B].settlement.status == "nothing_to_pay" and second[B].settlement.net_amount == 0
    assert (second[B].settlement.payments_amount, second[B].settlement.refunds_amount) == (1_000, 1_000)
    only_a = settle(db, D1, merchant_id=A)
    assert list(only_a) == [A] and only_a[A].settlement.id == first[A].settlement.id
    with db.read() as session:
        assert session.query(Job).filter(Job.kind == PAYOUT_JOB).count() == 1
    assert_ledger_sound(db)


def test_merchants_without_anything_owed_or_moved_get_no_batch(db: Database) -> None:
    add_merchants(db, A, B)
    add_merchants(db, IND, mode="independent")
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_i", IND, 20_000, cst(D1, 9), mode="independent")
    settle(db, D1)
    with db.transaction() as session:
        pay(session, clock, "pay_2", B, 500, cst(D2, 9))
    batches = settle(db, D2)
    assert set(batches) == {B, IND}  # A was paid in full and was quiet on D2; IND still owes its fee
    ind = batches[IND].settlement
    assert ind.status == "nothing_to_pay" and ind.net_amount == -SCHEDULE.platform_fee(20_000) == ind.carried_in
    assert ind.payments_amount == 0 and ind.other_amount == 0
    assert_ledger_sound(db)


def test_independent_tech_fees_and_corrections_are_other_movements(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_i", A, 20_000, cst(D1, 10), mode="independent")  # the merchant switched mode
        ledger.post(session, clock, event_key="fee:monthly:A", plan=postings.fee(merchant_id=A, amount=99),
                    occurred_at=cst(D1, 11))
    batch = settle(db, D1)[A]
    check_invariant(batch)
    assert batch.settlement.payments_amount == 10_000  # the independent payment's money is not ours
    assert batch.settlement.other_amount == -SCHEDULE.platform_fee(20_000) - 99
    assert batch.settlement.net_amount == owed(10_000) - SCHEDULE.platform_fee(20_000) - 99
    assert_ledger_sound(db)


def test_each_currency_is_its_own_batch(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_2", A, 4_000, cst(D1, 9), currency="HKD")
    with db.transaction() as session:
        batches = settle_day(session, FixedClock(rules.run_at(D1)), D1)
    assert [(b.settlement.currency, b.settlement.net_amount) for b in batches] == [("CNY", owed(10_000)),
                                                                                   ("HKD", owed(4_000))]
    assert_ledger_sound(db)


def test_a_day_that_has_not_ended_is_refused(db: Database) -> None:
    add_merchants(db, A)
    with db.transaction() as session:
        pay(session, FixedClock(cst(D1, 9)), "pay_1", A, 10_000, cst(D1, 9))
    with pytest.raises(Unprocessable) as error:
        settle(db, D1, FixedClock(rules.cutoff(D1) - timedelta(microseconds=1)))
    assert error.value.code == "settlement_day_not_over"
    assert settle(db, D1, FixedClock(rules.cutoff(D1)))[A].settlement.net_amount == owed(10_000)
    with pytest.raises(Unprocessable):
        settle(db, date(2026, 11, 23), FixedClock(cst(date(2026, 11, 23), 12)))


def test_settling_a_day_before_a_settled_one_is_refused(db: Database) -> None:
    add_merchants(db, A, B)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_2", B, 10_000, cst(D2, 9))
    late_run = settle(db, D2)  # D2 settled first: A's batch includes D1's money
    assert late_run[A].settlement.carried_in == owed(10_000)
    entries = entry_count(db)
    with pytest.raises(Conflict) as error:
        settle(db, D1)
    assert error.value.code == "settlement_out_of_order"
    assert error.value.details["merchants"] == [{"merchant_id": A, "currency": "CNY",
                                                 "latest_business_date": "2026-11-21"}]
    assert entry_count(db) == entries
    assert settle(db, D2)[A].settlement.id == late_run[A].settlement.id
    assert_ledger_sound(db)


def test_an_account_of_an_unknown_merchant_is_left_alone(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_2", "mch_ghost", 10_000, cst(D1, 9))
    assert set(settle(db, D1)) == {A}
    assert natural(db, "merchant_payable:mch_ghost:CNY") == owed(10_000)


def test_a_batch_written_by_a_racing_run_counts_as_settled(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unique constraint is the backstop: a run that did not see a racing run's batch (it cannot
    happen under the head lock, but the constraint must hold if it did) skips it instead of failing."""
    from indiepay.settlements import repository

    add_merchants(db, A, B)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
        pay(session, clock, "pay_2", B, 5_000, cst(D1, 9))
    first = settle(db, D1, merchant_id=A)
    entries = entry_count(db)
    real = repository.batches_on
    calls: list[date] = []

    def blind_once(session: object, business_date: date) -> object:
        calls.append(business_date)
        return {} if len(calls) == 1 else real(session, business_date)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "batches_on", blind_once)
    batches = settle(db, D1)
    assert batches[A].settlement.id == first[A].settlement.id
    assert batches[B].settlement.status == "settled"
    assert entry_count(db) == entries + 1  # B's settlement only: nothing posted twice for A
    assert_ledger_sound(db)
