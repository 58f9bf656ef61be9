"""Property: any sequence of business events keeps the ledger sound and replays post nothing.

Random payments (both modes), partial and full refunds, settlements, payouts that succeed, fail or
bounce, and reversals are posted to a real SQLite ledger; after every event its replay must return the
same entry without writing, and at the end every entry balances, all balances (and the memo accounts on
their own) sum to zero, each payment's fees are never over-returned, and the hash chain verifies.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.ledger import postings as p
from indiepay.ledger import service
from indiepay.ledger.fees import FeeSchedule, bps, refund_fee
from indiepay.ledger.models import LedgerEntry, LedgerPosting
from indiepay.ledger.verify import verify

FEES = FeeSchedule(channel_rate=bps(60), platform_rate=bps(80))
CLOCK = FixedClock(datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
MERCHANTS = ["mch_a", "mch_b"]


@pytest.fixture(scope="module")
def ledger_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('ledger')) / 'prop.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@dataclass
class Paid:
    mode: p.Mode
    channel: str
    merchant_id: str
    amount: int
    channel_fee: int
    platform_fee: int
    refunded: int = 0
    channel_fee_back: int = 0
    platform_fee_back: int = 0


events = st.lists(st.one_of(
    st.tuples(st.just("pay"), st.sampled_from(["platform", "independent"]), st.sampled_from(["wechatpay", "alipay"]),
              st.sampled_from(MERCHANTS), st.one_of(st.integers(1, 200), st.integers(1, 10**7))),
    st.tuples(st.just("refund"), st.integers(0, 50), st.booleans(), st.integers(1, 10**7)),
    st.tuples(st.just("settle"), st.sampled_from(MERCHANTS)),
    st.tuples(st.just("payout"), st.integers(0, 50), st.sampled_from(["paid", "failed", "bounced"])),
    st.tuples(st.just("reverse"), st.integers(0, 50)),
), min_size=4, max_size=30)


def _counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return session.query(LedgerEntry).count(), session.query(LedgerPosting).count()


class Run:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.tag = uuid.uuid4().hex[:8]
        self.payments: list[tuple[str, Paid]] = []
        self.settlements: list[tuple[str, str, int, str | None]] = []  # key, merchant, amount, payout state
        self.entry_ids: list[str] = []

    def post(self, key: str, plan: p.PostingPlan) -> None:
        key = f"{key}:{self.tag}"
        with self.db.transaction() as session:
            entry = service.post(session, CLOCK, event_key=key, plan=plan)
        self.entry_ids.append(entry.id)
        before = _counts(self.db)
        with self.db.transaction() as session:  # the replay: same entry, nothing written
            assert service.post(session, CLOCK, event_key=key, plan=plan).id == entry.id
        assert _counts(self.db) == before

    def apply(self, event: tuple[Any, ...]) -> None:
        kind = event[0]
        if kind == "pay":
            _, mode, channel, merchant_id, amount = event
            paid = Paid(mode, channel, merchant_id, amount, FEES.channel_fee(amount), FEES.platform_fee(amount))
            key = f"payment_succeeded:pay_{len(self.payments)}"
            self.payments.append((key, paid))
            self.post(key, p.payment_succeeded(mode=mode, channel=channel, merchant_id=merchant_id, amount=amount,
                                               channel_fee=paid.channel_fee, platform_fee=paid.platform_fee))
        elif kind == "refund" and self.payments:
            _, index, full, size = event
            key, paid = self.payments[index % len(self.payments)]
            left = paid.amount - paid.refunded
            if left == 0:
                return
            part = left if full else 1 + size % left
            channel_back = refund_fee(amount=paid.amount, fee=paid.channel_fee, refunded_before=paid.refunded,
                                      refund=part)
            platform_back = refund_fee(amount=paid.amount, fee=paid.platform_fee, refunded_before=paid.refunded,
                                       refund=part)
            paid.refunded += part
            paid.channel_fee_back += channel_back
            paid.platform_fee_back += platform_back
            self.post(f"refund_succeeded:{key}:{paid.refunded}",
                      p.refund_succeeded(mode=paid.mode, channel=paid.channel, merchant_id=paid.merchant_id,
                                         amount=part, channel_fee_returned=channel_back,
                                         platform_fee_returned=platform_back))
        elif kind == "settle":
            merchant_id = event[1]
            with self.db.read() as session:
                owed = -service.balance_of(session, f"merchant_payable:{merchant_id}:CNY")
            if owed > 0:
                key = f"settlement:{merchant_id}:{len(self.settlements)}"
                self.settlements.append((key, merchant_id, owed, None))
                self.post(key, p.settlement(merchant_id=merchant_id, amount=owed))
        elif kind == "payout" and self.settlements:
            _, index, outcome = event
            index %= len(self.settlements)
            key, merchant_id, amount, state = self.settlements[index]
            if state is None and outcome in ("paid", "failed"):
                plan = (p.payout_paid(merchant_id=merchant_id, amount=amount, source_channel="wechatpay")
                        if outcome == "paid" else p.payout_failed(merchant_id=merchant_id, amount=amount))
            elif state == "paid" and outcome == "bounced":
                plan = p.payout_failed(merchant_id=merchant_id, amount=amount, source_channel="wechatpay",
                                       after_paid=True)
            else:
                return
            self.settlements[index] = (key, merchant_id, amount, outcome)
            self.post(f"payout_{outcome}:{key}", plan)
        elif kind == "reverse" and self.entry_ids:
            entry_id = self.entry_ids[event[1] % len(self.entry_ids)]
            with self.db.transaction() as session:
                service.reverse(session, CLOCK, entry_id, "property test")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=events)
def test_any_history_keeps_the_ledger_sound(ledger_db: Database, history: list[tuple[Any, ...]]) -> None:
    run = Run(ledger_db)
    for event in history:
        run.apply(event)
    for _, paid in run.payments:
        assert 0 <= paid.channel_fee_back <= paid.channel_fee and 0 <= paid.platform_fee_back <= paid.platform_fee
        if paid.refunded == paid.amount:
            assert (paid.channel_fee_back, paid.platform_fee_back) == (paid.channel_fee, paid.platform_fee)
    with ledger_db.read() as session:
        result = verify(session)
        balances = service.balances(session)
    assert result.ok, result
    assert sum(b.balance for b in balances) == 0
    assert sum(b.balance for b in balances if b.kind.startswith("memo_")) == 0
