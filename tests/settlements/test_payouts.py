"""The payout job against the sandbox provider: paid, failed (the money comes back in the next batch),
unknown outcomes resolved by querying, lost requests re-sent, replays that post nothing twice, and
payouts the clearing accounts cannot fund yet."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs.worker import RetryLater
from indiepay.ledger import accounts as acc
from indiepay.ledger import postings
from indiepay.ledger import service as ledger
from indiepay.ledger.models import LedgerEntry
from indiepay.settlements import rules
from indiepay.settlements.models import Payout
from indiepay.settlements.payouts import (
    PayoutOrder,
    PayoutResult,
    SandboxPayoutProvider,
    UnconfiguredPayoutProvider,
    mark_paid,
    run_payout_job,
)
from indiepay.settlements.service import settle_day
from tests.settlements.books import add_merchants, assert_ledger_sound, cst, entry_count, natural, owed, pay

D1, D2 = date(2026, 11, 20), date(2026, 11, 21)
A, B = "mch_a", "mch_b"


def settled_payout(db: Database, merchant_id: str = A, day: date = D1) -> Payout:
    with db.transaction() as session:
        batches = settle_day(session, FixedClock(rules.run_at(day)), day, merchant_id=merchant_id)
    payout = batches[0].payout
    assert payout is not None
    return payout


def reload(db: Database, payout_id: str) -> Payout:
    with db.read() as session:
        payout = session.get(Payout, payout_id)
    assert payout is not None
    return payout


def entries_for(db: Database, payout_id: str) -> list[LedgerEntry]:
    with db.read() as session:
        return list(session.scalars(select(LedgerEntry).where(LedgerEntry.event_key.like(f"payout_%:{payout_id}"))))


def one_payment(db: Database, amount: int = 10_000, merchant_id: str = A, channel: str = "wechatpay") -> None:
    with db.transaction() as session:
        pay(session, FixedClock(cst(D1, 9)), f"pay_{merchant_id}_{channel}_{amount}", merchant_id, amount,
            cst(D1, 9), channel=channel)


def test_a_paid_payout_leaves_the_clearing_account_once(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db)
    payout = settled_payout(db)
    provider = SandboxPayoutProvider()
    clock = FixedClock(rules.run_at(D1) + timedelta(minutes=1))
    assert run_payout_job(db, clock, provider, {"payout_id": payout.id}) is None
    done = reload(db, payout.id)
    assert done.status == "paid" and done.reference and done.reference.startswith("sbxpo_")
    assert done.paid_at == clock.now() and done.attempts == 1
    [entry] = entries_for(db, payout.id)
    assert entry.event_key == f"payout_paid:{payout.id}" and entry.event_type == "payout_paid"
    assert natural(db, f"payout_in_transit:{A}:CNY") == 0
    assert natural(db, "platform_clearing:wechatpay:CNY") == 10_000 - 60 - owed(10_000)
    assert provider.paid_total(A) == owed(10_000)
    entries = entry_count(db)
    assert run_payout_job(db, clock, provider, {"payout_id": payout.id}) is None  # a replayed job
    assert entry_count(db) == entries and provider.requests[payout.id] == 1
    with db.transaction() as session:  # a racing run that also heard "paid" posts nothing
        assert mark_paid(session, clock, payout.id, PayoutResult("paid", "ref")) is False
    assert entry_count(db) == entries
    assert_ledger_sound(db)


def test_a_payout_larger_than_one_clearing_account_is_drawn_from_several(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db, 6_000, channel="wechatpay")
    one_payment(db, 5_000, channel="alipay")
    payout = settled_payout(db)
    assert payout.amount == owed(6_000) + owed(5_000)
    run_payout_job(db, FixedClock(rules.run_at(D1)), SandboxPayoutProvider(), {"payout_id": payout.id})
    assert len(entries_for(db, payout.id)) == 1
    with db.read() as session:
        lines = dict(ledger.entries(session, event_type="payout_paid").entries[0].postings)
    wechat_held = 6_000 - 36
    assert lines == {"platform_clearing:wechatpay:CNY": -wechat_held,
                     "platform_clearing:alipay:CNY": -(payout.amount - wechat_held),
                     f"payout_in_transit:{A}:CNY": payout.amount}
    assert natural(db, "platform_clearing:wechatpay:CNY") == 0
    assert_ledger_sound(db)


def test_a_failed_payout_returns_to_the_payable_and_is_paid_with_the_next_batch(db: Database) -> None:
    add_merchants(db, A, B)
    one_payment(db, 10_000, A)
    one_payment(db, 5_000, B)
    failed = settled_payout(db, A)
    ok = settled_payout(db, B)
    provider = SandboxPayoutProvider()
    provider.fail_merchant(A, "PAYEE_ACCOUNT_ABNORMAL", "account frozen")
    clock = FixedClock(rules.run_at(D1))
    assert run_payout_job(db, clock, provider, {"payout_id": failed.id}) is None
    assert run_payout_job(db, clock, provider, {"payout_id": ok.id}) is None
    done = reload(db, failed.id)
    assert (done.status, done.failure_code, done.failure_message) == ("failed", "PAYEE_ACCOUNT_ABNORMAL",
                                                                      "account frozen")
    assert done.failed_at == clock.now() and reload(db, ok.id).status == "paid"
    assert [e.event_key for e in entries_for(db, failed.id)] == [f"payout_failed:{failed.id}"]
    assert natural(db, f"merchant_payable:{A}:CNY") == failed.amount
    assert natural(db, f"payout_in_transit:{A}:CNY") == 0
    entries = entry_count(db)
    assert run_payout_job(db, clock, provider, {"payout_id": failed.id}) is None
    assert entry_count(db) == entries
    # the money came back on D2 (the job ran at 02:00 on the 21st): D2's batch pays it again
    provider.heal_merchant(A)
    with db.transaction() as session:
        [batch] = settle_day(session, FixedClock(rules.run_at(D2)), D2, merchant_id=A)
    assert batch.settlement.other_amount == failed.amount and batch.settlement.carried_in == 0
    assert batch.settlement.net_amount == failed.amount and batch.payout is not None
    assert run_payout_job(db, FixedClock(rules.run_at(D2)), provider, {"payout_id": batch.payout.id}) is None
    assert provider.paid_total(A) == failed.amount == owed(10_000)
    assert natural(db, f"merchant_payable:{A}:CNY") == 0
    assert_ledger_sound(db)


def test_an_unknown_outcome_is_asked_about_until_it_is_known(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db)
    payout = settled_payout(db)
    provider = SandboxPayoutProvider()
    provider.time_out_next(1, outcome="paid")
    provider.hold_queries(2)
    clock = FixedClock(rules.run_at(D1))
    entries = entry_count(db)
    delays = []
    for _ in range(3):
        retry = run_payout_job(db, clock, provider, {"payout_id": payout.id})
        assert isinstance(retry, RetryLater)
        delays.append(retry.at - clock.now())
        assert reload(db, payout.id).status == "pending" and entry_count(db) == entries
    assert delays == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert run_payout_job(db, clock, provider, {"payout_id": payout.id}) is None
    done = reload(db, payout.id)
    assert done.status == "paid" and done.attempts == 4
    assert provider.requests[payout.id] == 1 and provider.paid_total(A) == payout.amount
    assert len(entries_for(db, payout.id)) == 1
    assert_ledger_sound(db)


def test_a_request_lost_before_the_provider_is_sent_again_and_paid_once(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db)
    payout = settled_payout(db)
    provider = SandboxPayoutProvider()
    provider.time_out_next(1, outcome="lost")
    clock = FixedClock(rules.run_at(D1))
    assert isinstance(run_payout_job(db, clock, provider, {"payout_id": payout.id}), RetryLater)
    assert provider.query(payout.id) is None
    assert run_payout_job(db, clock, provider, {"payout_id": payout.id}) is None
    assert reload(db, payout.id).status == "paid"
    assert provider.requests[payout.id] == 2 and provider.paid_total(A) == payout.amount


def test_a_timed_out_transfer_that_failed_is_recorded_failed(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db)
    payout = settled_payout(db)
    provider = SandboxPayoutProvider()
    provider.time_out_next(1, outcome="failed")
    clock = FixedClock(rules.run_at(D1))
    assert isinstance(run_payout_job(db, clock, provider, {"payout_id": payout.id}), RetryLater)
    assert run_payout_job(db, clock, provider, {"payout_id": payout.id}) is None
    assert reload(db, payout.id).status == "failed" and provider.paid_total(A) == 0
    assert natural(db, f"merchant_payable:{A}:CNY") == payout.amount
    assert_ledger_sound(db)


def test_a_crash_after_sending_asks_instead_of_sending_again(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db)
    payout = settled_payout(db)
    provider = SandboxPayoutProvider()
    provider.fail_next(1, "SYSTEM_REFUSED")
    with db.transaction() as session:  # the attempt was counted, the provider refused, then the worker died
        row = session.get(Payout, payout.id)
        assert row is not None
        row.attempts = 1
    provider.send(PayoutOrder(payout.id, A, payout.amount, "CNY"))
    assert run_payout_job(db, FixedClock(rules.run_at(D1)), provider, {"payout_id": payout.id}) is None
    assert reload(db, payout.id).status == "failed" and provider.requests[payout.id] == 1


def test_the_sandbox_refuses_a_reused_request_number_for_another_amount() -> None:
    provider = SandboxPayoutProvider()
    assert provider.send(PayoutOrder("po_1", A, 100, "CNY")).status == "paid"
    assert provider.send(PayoutOrder("po_1", A, 100, "CNY")).status == "paid"
    assert provider.send(PayoutOrder("po_1", A, 101, "CNY")).failure_code == "REQUEST_NO_REUSED"
    assert provider.paid_total(A) == 100


def test_a_payout_the_clearing_accounts_cannot_fund_is_not_sent(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db)
    payout = settled_payout(db)
    clock = FixedClock(rules.run_at(D1))
    with db.transaction() as session:  # the channel account was drained by something the books only learn now
        ledger.post(session, clock, event_key="correction:drain", plan=postings.correction(
            lines=[(acc.platform_clearing("wechatpay"), -9_000), (acc.channel_fee_expense("wechatpay"), 9_000)],
            description="channel deducted a penalty"))
    provider = SandboxPayoutProvider()
    retry = run_payout_job(db, clock, provider, {"payout_id": payout.id})
    assert isinstance(retry, RetryLater) and retry.at == clock.now() + timedelta(hours=1)
    assert provider.requests[payout.id] == 0
    row = reload(db, payout.id)
    assert row.status == "pending" and row.attempts == 0
    assert_ledger_sound(db)


def test_without_a_payout_provider_payouts_wait(db: Database) -> None:
    add_merchants(db, A)
    one_payment(db)
    payout = settled_payout(db)
    clock = FixedClock(rules.run_at(D1))
    entries = entry_count(db)
    for _ in range(2):
        assert isinstance(run_payout_job(db, clock, UnconfiguredPayoutProvider(), {"payout_id": payout.id}),
                          RetryLater)
    assert reload(db, payout.id).status == "pending" and entry_count(db) == entries
    assert run_payout_job(db, clock, UnconfiguredPayoutProvider(), {"payout_id": "po_missing"}) is None
