"""A Hypothesis state machine over the whole money path: random payments in either collection mode,
partial and full refunds, profit shares of independent payments and returns of them, mode switches,
replayed events, days passing, T+1 settlements and payouts that succeed or fail — against a real SQLite
database through the real services (ledger recording, settlement, payout job with the sandbox provider).

After every step: every entry balances, all balances sum to zero, the hash chain verifies, and each
merchant's payable equals what an independent model says — payments − refunds − fees − payouts (a failed
payout returns its money). Replays never post twice, and each settlement pays exactly what the model
says was owed at the day's cutoff. Shares never touch what the platform owes: each merchant's
``memo_shared`` balance is what the model says was shared less returned, and every month's statement of
every merchant reconciles with the ledger.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select

from indiepay.core.clock import BUSINESS_TZ, FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.ledger import fees, service
from indiepay.ledger.models import LedgerEntry, LedgerPosting
from indiepay.ledger.recording import record_payment, record_refund, record_share, record_share_return, schedule_for
from indiepay.ledger.verify import verify
from indiepay.merchants.models import Merchant
from indiepay.settlements import rules as settlement_rules
from indiepay.settlements.models import Payout
from indiepay.settlements.payouts import SandboxPayoutProvider, run_payout_job
from indiepay.settlements.service import settle_day
from indiepay.statements.period import parse_month
from indiepay.statements.service import build_body

MERCHANTS = ("mch_tea", "mch_shoe", "mch_book")
CHANNEL_BPS, PLATFORM_BPS, TECH_BPS = 60, 40, 10
START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
SALE = st.tuples(st.sampled_from(MERCHANTS), st.one_of(st.integers(1, 300), st.integers(1, 5_000_000)),
                 st.sampled_from(["wechatpay", "alipay"]), st.integers(0, 600))  # merchant, fen, channel, minutes


@dataclass
class ModelPayment:
    id: str
    merchant_id: str
    mode: str
    channel: str
    amount: int
    refunded: int = 0
    refunds: list[tuple[str, int, int]] = field(default_factory=list)  # (refund id, amount, refunded before)
    shares: list[tuple[str, int]] = field(default_factory=list)  # (line id, amount) sent to receivers
    returned: list[tuple[str, int]] = field(default_factory=list)  # (return id, amount) taken back

    @property
    def shared(self) -> int:
        return sum(a for _, a in self.shares) - sum(a for _, a in self.returned)


@dataclass
class Movement:
    """A change of a merchant's payable (natural: positive = the platform owes more) at a moment."""

    merchant_id: str
    at: datetime
    amount: int


class Books(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{Path(self.tmp.name) / 'books.db'}"
        upgrade(url)
        self.db = Database(url)
        self.clock = FixedClock(START)
        self.provider = SandboxPayoutProvider()
        self.modes = {m: "platform" for m in MERCHANTS}
        self.payments: list[ModelPayment] = []
        self.movements: list[Movement] = []
        self.settled_through: date | None = None
        self.events_posted = 0
        self.counter = 0
        with self.db.transaction() as session:
            for merchant_id in MERCHANTS:
                session.add(Merchant(id=merchant_id, name=merchant_id, short_name=merchant_id,
                                     subject_type="enterprise", contact_email=None, status="active",
                                     collection_mode="platform", platform_fee_bps=PLATFORM_BPS,
                                     tech_fee_bps=TECH_BPS, kyc_status="complete", created_at=START))

    def teardown(self) -> None:
        self.db.dispose()
        self.tmp.cleanup()

    def _next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter:05d}"

    @initialize(first=st.lists(SALE, min_size=1, max_size=6))
    def opening_sales(self, first: list[tuple[str, int, str, int]]) -> None:
        for sale in first:
            self._sell(*sale)

    # -- events -------------------------------------------------------------------------------------

    @rule(sales=st.lists(SALE, min_size=1, max_size=4))
    def pay(self, sales: list[tuple[str, int, str, int]]) -> None:
        for sale in sales:
            self._sell(*sale)

    def _sell(self, merchant: str, amount: int, channel: str, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        mode = self.modes[merchant]
        payment = ModelPayment(self._next_id("pay"), merchant, mode, channel, amount)
        self._post_payment(payment)
        self.payments.append(payment)
        self.events_posted += 1
        schedule = self._schedule(mode)
        if mode == "platform":
            owed = amount - schedule.channel_fee(amount) - schedule.platform_fee(amount)
        else:
            owed = -schedule.platform_fee(amount)  # the technology fee the merchant owes the platform
        self.movements.append(Movement(merchant, self.clock.now(), owed))

    @precondition(lambda self: any(p.refunded < p.amount for p in self.payments))
    @rule(pick=st.integers(0, 10_000), full=st.booleans(), size=st.integers(1, 5_000_000))
    def refund(self, pick: int, full: bool, size: int) -> None:
        open_payments = [p for p in self.payments if p.refunded < p.amount]
        payment = open_payments[pick % len(open_payments)]
        left = payment.amount - payment.refunded
        amount = left if full else 1 + size % left
        refund_id = self._next_id("re")
        payment.refunds.append((refund_id, amount, payment.refunded))
        self._post_refund(payment, refund_id, amount, payment.refunded)
        schedule = self._schedule(payment.mode)
        channel_back = fees.refund_fee(amount=payment.amount, fee=schedule.channel_fee(payment.amount),
                                       refunded_before=payment.refunded, refund=amount)
        platform_back = fees.refund_fee(amount=payment.amount, fee=schedule.platform_fee(payment.amount),
                                        refunded_before=payment.refunded, refund=amount)
        payment.refunded += amount
        self.events_posted += 1
        event(f"refund of a {payment.mode} payment")
        owed = -(amount - channel_back - platform_back) if payment.mode == "platform" else platform_back
        self.movements.append(Movement(payment.merchant_id, self.clock.now(), owed))

    @precondition(lambda self: any(p.mode == "independent" and p.refunded + p.shared < p.amount
                                   for p in self.payments))
    @rule(pick=st.integers(0, 10_000), size=st.integers(1, 5_000_000))
    def share(self, pick: int, size: int) -> None:
        """A receiver gets part of an independent payment through the merchant's own channel account."""
        open_payments = [p for p in self.payments if p.mode == "independent" and p.refunded + p.shared < p.amount]
        payment = open_payments[pick % len(open_payments)]
        amount = 1 + size % (payment.amount - payment.refunded - payment.shared)
        line_id = self._next_id("psl")
        payment.shares.append((line_id, amount))
        self._post_share(payment, line_id, amount)
        event("share of an independent payment")

    @precondition(lambda self: any(p.shared > 0 for p in self.payments))
    @rule(pick=st.integers(0, 10_000), size=st.integers(1, 5_000_000))
    def share_return(self, pick: int, size: int) -> None:
        shared = [p for p in self.payments if p.shared > 0]
        payment = shared[pick % len(shared)]
        amount = 1 + size % payment.shared
        return_id = self._next_id("psr")
        payment.returned.append((return_id, amount))
        self._post_share_return(payment, return_id, amount)

    @precondition(lambda self: bool(self.payments))
    @rule(pick=st.integers(0, 10_000))
    def replay(self, pick: int) -> None:
        """A duplicate callback or a retried job posts the same event again: nothing new is written."""
        payment = self.payments[pick % len(self.payments)]
        before = self._entry_count()
        self._post_payment(payment)
        for refund_id, amount, refunded_before in payment.refunds:
            self._post_refund(payment, refund_id, amount, refunded_before)
        for line_id, amount in payment.shares:
            self._post_share(payment, line_id, amount)
        for return_id, amount in payment.returned:
            self._post_share_return(payment, return_id, amount)
        assert self._entry_count() == before

    @rule(merchant=st.sampled_from(MERCHANTS))
    def switch_mode(self, merchant: str) -> None:
        """New payments use the new mode; refunds of earlier payments keep their payment's mode."""
        self.modes[merchant] = "independent" if self.modes[merchant] == "platform" else "platform"

    @rule(hours=st.integers(1, 30))
    def time_passes(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @rule()
    def settle(self) -> None:
        """The T+1 run: every closed day not settled yet, in order (twice, to show a re-run changes nothing)."""
        last = settlement_rules.last_closed_day(self.clock.now())
        day = (self.settled_through + timedelta(days=1)) if self.settled_through else last
        while day <= last:
            expected = self._owed_at(settlement_rules.cutoff(day))
            with self.db.transaction() as session:
                batches = settle_day(session, self.clock, day)
            with self.db.transaction() as session:
                again = settle_day(session, self.clock, day)
            assert [b.settlement.id for b in again] == [b.settlement.id for b in batches]
            for batch in batches:
                settlement = batch.settlement
                merchant_id = settlement.merchant_id
                assert settlement.net_amount == expected[merchant_id], (day, merchant_id)
                assert settlement.payout_amount == max(expected[merchant_id], 0)
                assert settlement.carried_forward == min(expected[merchant_id], 0)
                assert (settlement.carried_in + settlement.payments_amount - settlement.refunds_amount
                        - settlement.platform_fee - settlement.channel_fee + settlement.other_amount
                        == settlement.net_amount)
                event(f"settlement {settlement.status}")
                if settlement.payout_amount > 0:
                    assert batch.payout is not None and batch.payout.amount == settlement.payout_amount
                    self.movements.append(Movement(merchant_id, settlement_rules.settlement_instant(day),
                                                   -settlement.payout_amount))
            owed_merchants = {m for m, v in expected.items() if v != 0}
            assert owed_merchants <= {b.settlement.merchant_id for b in batches} | self._quiet(day, expected)
            self.settled_through = day
            day += timedelta(days=1)

    @rule(fail=st.sets(st.sampled_from(MERCHANTS)))
    def pay_out(self, fail: set[str]) -> None:
        """The payout jobs run; payouts to ``fail`` merchants are refused and their money comes back."""
        for merchant_id in MERCHANTS:
            if merchant_id in fail:
                self.provider.fail_merchant(merchant_id)
            else:
                self.provider.heal_merchant(merchant_id)
        with self.db.read() as session:
            pending = session.scalars(select(Payout).where(Payout.status == "pending")).all()
        for payout in pending:
            run_payout_job(self.db, self.clock, self.provider, {"payout_id": payout.id})
            with self.db.read() as session:
                done = session.get(Payout, payout.id)
            assert done is not None
            event(f"payout {done.status}")
            if done.status == "failed":
                assert done.failed_at is not None
                self.movements.append(Movement(done.merchant_id, done.failed_at, done.amount))
            elif done.status == "paid":
                assert payout.merchant_id not in fail
            # "pending": the clearing accounts cannot fund it yet (refunds drained them); it waits

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        with self.db.read() as session:
            unbalanced = session.execute(select(LedgerPosting.entry_id).group_by(LedgerPosting.entry_id)
                                         .having(func.sum(LedgerPosting.amount) != 0)).all()
            assert unbalanced == []
            assert sum(b.balance for b in service.balances(session)) == 0
            assert verify(session).ok

    @invariant()
    def payables_match_the_model(self) -> None:
        owed = self._owed_at(None)
        with self.db.read() as session:
            for merchant_id in MERCHANTS:
                payable = -service.balance_of(session, f"merchant_payable:{merchant_id}:CNY")
                assert payable == owed[merchant_id], merchant_id

    @invariant()
    def shares_stay_on_the_memo_accounts(self) -> None:
        with self.db.read() as session:
            for merchant_id in MERCHANTS:
                model = sum(p.shared for p in self.payments if p.merchant_id == merchant_id)
                booked = sum(service.balance_of(session, f"memo_shared:{merchant_id}:{channel}:CNY")
                             for channel in ("wechatpay", "alipay"))
                assert booked == model, merchant_id

    @invariant()
    def every_statement_reconciles(self) -> None:
        months = sorted({at.astimezone(BUSINESS_TZ).strftime("%Y-%m") for at in (START, self.clock.now())})
        with self.db.read() as session:
            for merchant_id in MERCHANTS:
                merchant = session.get(Merchant, merchant_id)
                assert merchant is not None
                for month in months:  # raises StatementUnbalanced if the figures do not explain the ledger
                    body = build_body(session, merchant, parse_month(month), "CNY")
                    assert all(check["ok"] for check in body["reconciliation"]["accounts"])

    @invariant()
    def nothing_posted_twice(self) -> None:
        with self.db.read() as session:
            business = session.scalar(select(func.count()).select_from(LedgerEntry).where(
                LedgerEntry.event_type.in_(("payment_succeeded", "refund_succeeded"))))
        assert business == self.events_posted

    # -- helpers ------------------------------------------------------------------------------------

    def _schedule(self, mode: str) -> fees.FeeSchedule:
        return schedule_for(CHANNEL_BPS, PLATFORM_BPS if mode == "platform" else TECH_BPS)

    def _post_payment(self, payment: ModelPayment) -> None:
        with self.db.transaction() as session:
            record_payment(session, self.clock, payment_id=payment.id, mode=payment.mode, channel=payment.channel,
                           merchant_id=payment.merchant_id, amount=payment.amount, currency="CNY",
                           occurred_at=self._occurred(payment.id), schedule=self._schedule(payment.mode))

    def _post_refund(self, payment: ModelPayment, refund_id: str, amount: int, refunded_before: int) -> None:
        with self.db.transaction() as session:
            record_refund(session, self.clock, refund_id=refund_id, payment_id=payment.id, mode=payment.mode,
                          channel=payment.channel, merchant_id=payment.merchant_id, payment_amount=payment.amount,
                          refunded_before=refunded_before, amount=amount, currency="CNY",
                          occurred_at=self._occurred(refund_id), schedule=self._schedule(payment.mode))

    def _post_share(self, payment: ModelPayment, line_id: str, amount: int) -> None:
        with self.db.transaction() as session:
            record_share(session, self.clock, line_id=line_id, merchant_id=payment.merchant_id,
                         channel=payment.channel, amount=amount, currency="CNY", occurred_at=self._occurred(line_id))

    def _post_share_return(self, payment: ModelPayment, return_id: str, amount: int) -> None:
        with self.db.transaction() as session:
            record_share_return(session, self.clock, return_id=return_id, merchant_id=payment.merchant_id,
                                channel=payment.channel, amount=amount, currency="CNY",
                                occurred_at=self._occurred(return_id))

    def _occurred(self, event_id: str) -> datetime:
        """Replays carry the original event time, as a repeated callback does."""
        times = getattr(self, "_times", None)
        if times is None:
            times = self._times = {}
        return times.setdefault(event_id, self.clock.now())

    def _owed_at(self, cutoff: datetime | None) -> dict[str, int]:
        owed = dict.fromkeys(MERCHANTS, 0)
        for movement in self.movements:
            if cutoff is None or movement.at < cutoff:
                owed[movement.merchant_id] += movement.amount
        return owed

    def _quiet(self, day: date, expected: dict[str, int]) -> set[str]:
        """Merchants owed nothing new and without activity that day get no batch (no empty batches)."""
        start, end = settlement_rules.day_window(day)
        active = {m.merchant_id for m in self.movements if start <= m.at < end}
        return {m for m in MERCHANTS if m not in active}

    def _entry_count(self) -> int:
        with self.db.read() as session:
            return int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)


Books.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])
TestBooks = Books.TestCase
