"""Paying settled money out to merchants: the payout port, a sandbox provider and the payout job.

The port (:class:`PayoutProvider`) is what a bank-transfer or channel-transfer adapter implements. Our
payout id is the request number the provider deduplicates on, so sending the same payout again (after a
timeout, a crash, a replayed job) never pays twice — the same rule as ``out_refund_no`` for refunds.

The job (:func:`run_payout_job`) follows the platform's rules for money whose outcome may be unknown:

* the attempt is counted (committed) *before* the provider is called, so after a crash the next run asks
  the provider what happened instead of blindly sending; a provider that never saw the payout is sent
  the same request again;
* ``paid`` and ``failed`` are applied with a conditional update (``WHERE status = 'pending'``) in the
  same transaction as their ledger entry (``payout_paid:<id>`` / ``payout_failed:<id>``), so a replayed
  or racing job posts nothing twice;
* ``unknown`` is never treated as failed: the job asks again later with backoff, for as long as it takes;
* a payout is only sent when the platform's clearing accounts hold enough to fund it.

A paid payout is funded from ``platform_clearing:<channel>:<cur>`` accounts, greedily by largest balance
(:func:`indiepay.settlements.rules.allocate_payout`). A failed payout gives the money back to the
merchant's payable account, so the next settlement pays it again (as "other" in its breakdown).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.db.engine import Database
from indiepay.db.jobs.worker import RetryLater
from indiepay.ledger import postings
from indiepay.ledger import repository as ledger_repository
from indiepay.ledger import service as ledger
from indiepay.settlements import repository, rules
from indiepay.settlements.models import Payout

log = logging.getLogger(__name__)
PAYOUT_JOB = "settlement.payout"
UNFUNDED_RETRY = timedelta(hours=1)
PENDING = "pending"
PayoutStatus = Literal["paid", "failed", "unknown"]


@dataclass(frozen=True)
class PayoutOrder:
    """What is sent to the provider. ``payout_id`` is the request number it deduplicates on."""

    payout_id: str
    merchant_id: str
    amount: int  # fen
    currency: str


@dataclass(frozen=True)
class PayoutResult:
    """The provider's answer: ``paid`` and ``failed`` are final; ``unknown`` means it may still happen (ask again)."""

    status: PayoutStatus
    reference: str | None = None  # the provider's own id for the transfer
    failure_code: str | None = None
    message: str | None = None


class PayoutProvider(Protocol):
    """The port a payout adapter implements. Adapters translate their transport and vendor errors into an
    ``unknown`` result (timeouts, 5xx) or a ``failed`` one (definite refusals) — never raise for those."""

    def send(self, payout: PayoutOrder) -> PayoutResult:
        """Ask for the transfer. Sending the same ``payout_id`` again returns the first transfer's outcome."""
        ...

    def query(self, payout_id: str) -> PayoutResult | None:
        """What became of the transfer requested as ``payout_id``; ``None`` when the provider never received it
        (the request was lost before it arrived — it is then safe to send it again)."""
        ...


def run_payout_job(db: Database, clock: Clock, provider: PayoutProvider, args: dict[str, Any]) -> RetryLater | None:
    """Send (or ask about) one pending payout and record a definite outcome; see the module docstring.

    Returns:
        ``RetryLater`` while the outcome is unknown or the clearing accounts cannot fund the payout yet;
        ``None`` once the payout is ``paid`` or ``failed`` (or was already).
    """
    payout_id = str(args["payout_id"])
    with db.read() as session:
        payout = session.get(Payout, payout_id)
        if payout is None or payout.status != PENDING:
            return None
        order = PayoutOrder(payout_id=payout.id, merchant_id=payout.merchant_id, amount=payout.amount,
                            currency=payout.currency)
        asked_before = payout.attempts > 0
        available = rules.available_for_payout(repository.clearing_balances(session, payout.currency))
    seen = _ask(lambda: provider.query(payout_id)) if asked_before else None
    if seen is None and available < order.amount:
        log.warning("payout %s of %d %s not sent: the clearing accounts hold %d", payout_id, order.amount,
                    order.currency, available)
        return RetryLater(at=clock.now() + UNFUNDED_RETRY, reason="clearing accounts cannot fund the payout yet")
    with db.transaction() as session:
        attempts = _count_attempt(session, clock, payout_id)
    if attempts is None:
        return None  # settled by a concurrent run meanwhile
    result = seen if seen is not None else _ask(lambda: provider.send(order))
    if result is None or result.status == "unknown":
        reason = (result.message if result is not None else None) or "payout outcome unknown"
        return RetryLater(at=clock.now() + rules.payout_retry_delay(attempts), reason=reason)
    with db.transaction() as session:
        if result.status == "paid":
            mark_paid(session, clock, payout_id, result)
        else:
            mark_failed(session, clock, payout_id, result)
    return None


def _ask(call: Callable[[], PayoutResult | None]) -> PayoutResult | None:
    """Call the provider; an exception means the outcome is unknown (the request may have been carried out)."""
    try:
        return call()
    except Exception as exc:  # the port should translate its errors; anything left over is "unknown"
        log.warning("payout provider call failed: %s", exc)
        return PayoutResult(status="unknown", message=f"{type(exc).__name__}: {exc}"[:500])


def _count_attempt(session: Session, clock: Clock, payout_id: str) -> int | None:
    done = session.execute(update(Payout).where(Payout.id == payout_id, Payout.status == PENDING)
                           .values(attempts=Payout.attempts + 1, updated_at=clock.now())
                           .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        return None
    payout = session.get(Payout, payout_id, populate_existing=True)
    return payout.attempts if payout is not None else None


def _transition(session: Session, clock: Clock, payout_id: str, status: str, **values: Any) -> Payout | None:
    """Move a pending payout to ``status``; ``None`` when it was not pending (another run got there first)."""
    done = session.execute(update(Payout).where(Payout.id == payout_id, Payout.status == PENDING)
                           .values(status=status, updated_at=clock.now(), **values)
                           .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        return None
    return session.get(Payout, payout_id, populate_existing=True)


def mark_paid(session: Session, clock: Clock, payout_id: str, result: PayoutResult) -> bool:
    """Record a paid payout and post ``payout_paid:<id>`` drawing on the clearing accounts; ``False`` if it
    was not pending any more (nothing is posted then)."""
    now = clock.now()
    payout = _transition(session, clock, payout_id, "paid", reference=result.reference, paid_at=now,
                         failure_code=None, failure_message=None)
    if payout is None:
        return False
    ledger_repository.lock_head(session)  # the balances read below cannot move before the entry is posted
    sources = rules.allocate_payout(payout.amount, repository.clearing_balances(session, payout.currency))
    plan = postings.payout_paid_from(merchant_id=payout.merchant_id, sources=sources, currency=payout.currency,
                                     description=f"payout {payout.id} paid ({result.reference or 'no reference'})")
    ledger.post(session, clock, event_key=f"payout_paid:{payout.id}", plan=plan, occurred_at=now)
    return True


def mark_failed(session: Session, clock: Clock, payout_id: str, result: PayoutResult) -> bool:
    """Record a failed payout and post ``payout_failed:<id>`` (the merchant is owed the money again);
    ``False`` if it was not pending any more."""
    now = clock.now()
    code = (result.failure_code or "payout_failed")[:64]
    payout = _transition(session, clock, payout_id, "failed", reference=result.reference, failed_at=now,
                         failure_code=code, failure_message=result.message)
    if payout is None:
        return False
    plan = postings.payout_failed(merchant_id=payout.merchant_id, amount=payout.amount, currency=payout.currency,
                                  description=f"payout {payout.id} failed: {code}")
    ledger.post(session, clock, event_key=f"payout_failed:{payout.id}", plan=plan, occurred_at=now)
    return True


Outcome = Literal["paid", "failed", "lost"]


@dataclass
class _Transfer:
    order: PayoutOrder
    result: PayoutResult


@dataclass(eq=False)
class SandboxPayoutProvider:
    """A deterministic, in-memory payout provider for development and tests. It never moves money.

    It behaves like a real transfer API where the payout job depends on it: it deduplicates on the payout
    id (sending again returns the first outcome; the same id with a different amount is refused), answers
    queries truthfully, and derives its references from the payout id so runs are reproducible. Fault
    knobs (thread-safe, settable while a worker runs):

    * :meth:`fail_merchant` — refuse every payout to a merchant (say, a frozen bank account);
    * :meth:`fail_next` — refuse the next ``n`` payouts sent;
    * :meth:`time_out_next` — the next ``n`` sends answer ``unknown`` while the transfer actually ends
      ``paid`` or ``failed``, or was ``lost`` before reaching the provider (queries then answer ``None``);
    * :meth:`hold_queries` — the next ``n`` queries answer ``unknown`` (a transfer still processing).

    ``requests`` counts sends per payout id and :meth:`paid_total` sums what a merchant really received,
    so tests can check that nothing was paid twice.
    """

    failing_merchants: dict[str, tuple[str, str]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter, init=False)
    _fail_next: deque[tuple[str, str]] = field(default_factory=deque, init=False)
    _timeouts: deque[Outcome] = field(default_factory=deque, init=False)
    _held_queries: int = field(default=0, init=False)
    _transfers: dict[str, _Transfer] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def fail_merchant(self, merchant_id: str, code: str = "PAYEE_ACCOUNT_ABNORMAL",
                      message: str = "the payee's bank account cannot receive transfers") -> None:
        with self._lock:
            self.failing_merchants[merchant_id] = (code, message)

    def heal_merchant(self, merchant_id: str) -> None:
        with self._lock:
            self.failing_merchants.pop(merchant_id, None)

    def fail_next(self, n: int = 1, code: str = "SYSTEM_REFUSED", message: str = "transfer refused") -> None:
        with self._lock:
            self._fail_next.extend([(code, message)] * n)

    def time_out_next(self, n: int = 1, outcome: Outcome = "paid") -> None:
        with self._lock:
            self._timeouts.extend([outcome] * n)

    def hold_queries(self, n: int = 1) -> None:
        with self._lock:
            self._held_queries += n

    def send(self, payout: PayoutOrder) -> PayoutResult:
        with self._lock:
            self.requests[payout.payout_id] += 1
            known = self._transfers.get(payout.payout_id)
            if known is not None:
                if known.order != payout:
                    return PayoutResult("failed", None, "REQUEST_NO_REUSED",
                                        "this request number was used for a different transfer")
                return known.result
            timeout = self._timeouts.popleft() if self._timeouts else None
            if timeout == "lost":
                return PayoutResult("unknown", message="timed out (the request never arrived)")
            result = self._decide(payout, forced_failure=timeout == "failed")
            self._transfers[payout.payout_id] = _Transfer(payout, result)
            return PayoutResult("unknown", message="timed out") if timeout is not None else result

    def query(self, payout_id: str) -> PayoutResult | None:
        with self._lock:
            if self._held_queries > 0:
                self._held_queries -= 1
                return PayoutResult("unknown", message="processing")
            known = self._transfers.get(payout_id)
            return known.result if known is not None else None

    def paid_total(self, merchant_id: str) -> int:
        with self._lock:
            return sum(t.order.amount for t in self._transfers.values()
                       if t.order.merchant_id == merchant_id and t.result.status == "paid")

    def _decide(self, payout: PayoutOrder, *, forced_failure: bool) -> PayoutResult:
        reference = "sbxpo_" + hashlib.sha256(payout.payout_id.encode()).hexdigest()[:24]
        refusal = self.failing_merchants.get(payout.merchant_id)
        if refusal is None and self._fail_next:
            refusal = self._fail_next.popleft()
        if refusal is None and forced_failure:
            refusal = ("SYSTEM_REFUSED", "transfer refused")
        if refusal is not None:
            return PayoutResult("failed", reference, refusal[0], refusal[1])
        return PayoutResult("paid", reference)


class UnconfiguredPayoutProvider:
    """The provider of a platform that has no payout adapter configured (sandbox gateways not mounted):
    nothing is sent and nothing is marked paid or failed; payouts wait, ``pending``, and the job asks
    again every hour, so they go out once a real provider is wired in."""

    def send(self, payout: PayoutOrder) -> PayoutResult:
        log.warning("payout %s not sent: no payout provider is configured", payout.payout_id)
        return PayoutResult("unknown", failure_code="payout_provider_not_configured",
                            message="no payout provider is configured")

    def query(self, payout_id: str) -> PayoutResult | None:
        return None
