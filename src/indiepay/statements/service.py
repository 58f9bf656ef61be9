"""Monthly statements: built from the ledger, reconciled against it, stored, and frozen after the month ends.

A statement covers one merchant, one Asia/Shanghai month and one currency. Generating it reads the month's
ledger entries (:mod:`indiepay.statements.figures`), checks that the figures explain the month's change of
the merchant's ``merchant_payable`` and ``memo_*`` accounts as summed straight from the postings, and
upserts the ``statements`` row:

* while the month is still open (per the injected clock) the row is a ``draft``, rebuilt on every request;
* once it has ended — and :data:`FINALISE_AFTER` has passed — the row becomes ``final`` and is never rebuilt
  again: later requests get the stored body, whose ``body_sha256`` is the SHA-256 of its canonical JSON
  (sorted keys, no spaces, UTF-8).

Why the grace period: entries keep arriving for a month after it ends. The T+1 settlement of the month's
last business day runs at 02:00 Beijing time on the 1st and is dated 23:59:59.999999 of the last day;
a callback or the channel's daily bill (available from about 10:00) can bring a payment paid before
midnight. A statement frozen at 00:00 would miss them for good, so it stays a draft for one more day.

Rows are never deleted. A statement whose figures do not reconcile is refused (``statement_unbalanced``)
rather than issued: a wrong statement is worse than none.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.core.clock import BUSINESS_TZ, Clock, as_utc
from indiepay.core.errors import IndiePayError, InvalidRequest, NotFound
from indiepay.core.ids import new_id
from indiepay.core.money import SUPPORTED_CURRENCIES
from indiepay.db.engine import Database
from indiepay.ledger import accounts
from indiepay.merchants.models import Merchant
from indiepay.statements import figures as fig
from indiepay.statements import repository
from indiepay.statements.models import Statement
from indiepay.statements.period import Month, iso_utc, statement_month
from indiepay.statements.schemas import (
    AccountCheck,
    Figures,
    LedgerRange,
    ModeTotals,
    PayableBalance,
    Reconciliation,
    StatementBody,
    StatementLine,
    Summary,
)

Status = Literal["draft", "final"]
DRAFT: Status = "draft"
FINAL: Status = "final"
MAX_REVERSAL_DEPTH = 32
FINALISE_AFTER = timedelta(days=1)  # after the month ends, before a statement is final (module docstring)


class StatementUnbalanced(IndiePayError):
    """The month's figures do not explain the ledger: a bug or an unknown kind of entry; nothing is issued."""

    code = "statement_unbalanced"
    http_status = 500


@dataclass(frozen=True)
class IssuedStatement:
    """A statement as stored: the body is exactly what was hashed."""

    id: str
    merchant_id: str
    month: str
    currency: str
    status: Status
    body: dict[str, Any]
    body_sha256: str
    generated_at: datetime


def canonical_json(body: dict[str, Any]) -> bytes:
    """The one byte form of a body that its hash is taken over."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def body_sha256(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body)).hexdigest()


def check_currency(currency: str) -> str:
    """Raises InvalidRequest (``invalid_currency``) for a currency the platform does not keep books in."""
    if currency not in SUPPORTED_CURRENCIES:
        raise InvalidRequest(f"unsupported currency {currency!r}", code="invalid_currency",
                             details={"supported": sorted(SUPPORTED_CURRENCIES)})
    return currency


def issue(db: Database, clock: Clock, *, merchant_id: str, month: str, currency: str = "CNY") -> IssuedStatement:
    """Return the merchant's statement for ``month``, generating and storing it unless it is final already
    (a draft until :data:`FINALISE_AFTER` past the end of the month, final from then on).

    This function opens its own units of work: the month is summed in a read transaction and only the
    upsert runs in a write transaction, so SQLite's single writer is not held while a month of postings
    is read.

    Raises:
        InvalidRequest: ``invalid_month`` (not YYYY-MM), ``invalid_currency``.
        Unprocessable: ``month_in_future``.
        NotFound: ``merchant_not_found``.
        StatementUnbalanced: the figures do not reconcile with the ledger (nothing is stored).
    """
    now = clock.now()
    period = statement_month(month, now)
    check_currency(currency)
    with db.read() as session:
        _one_snapshot(db, session)
        merchant = session.get(Merchant, merchant_id)
        if merchant is None:
            raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
        row = repository.stored(session, merchant_id, period.label, currency)
        if row is not None and row.status == FINAL:
            return _view(row)
        body = build_body(session, merchant, period, currency)
    status = FINAL if period.has_ended(now - FINALISE_AFTER) else DRAFT
    with db.transaction() as session:
        return _view(save(session, merchant_id=merchant_id, month=period.label, currency=currency, status=status,
                          body=body, generated_at=now))


def _one_snapshot(db: Database, session: Session) -> None:
    """Make every query of the read see the same snapshot, so entries committed while the month is being
    summed cannot make the figures and the reconciliation's direct sums disagree. PostgreSQL's default
    (read committed) takes a new snapshot per statement; SQLite's WAL read transaction already keeps one."""
    if db.is_postgres:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def save(session: Session, *, merchant_id: str, month: str, currency: str, status: Status, body: dict[str, Any],
         generated_at: datetime) -> Statement:
    """Upsert the statement row (flush only). A final row is returned untouched; a draft is replaced unless
    the stored one was generated later (a slower concurrent request must not overwrite newer figures)."""
    for _ in range(2):
        row = repository.stored(session, merchant_id, month, currency, lock=True)
        if row is not None:
            if row.status == FINAL or as_utc(row.generated_at) > generated_at:
                return row
            row.status, row.body, row.body_sha256 = status, body, body_sha256(body)
            row.generated_at = generated_at
            session.flush()
            return row
        try:
            with session.begin_nested():
                row = Statement(id=new_id("stmt"), merchant_id=merchant_id, month=month, currency=currency,
                                status=status, body=body, body_sha256=body_sha256(body), generated_at=generated_at)
                session.add(row)
            return row
        except IntegrityError:  # generated concurrently: take the other row into account
            continue
    raise IndiePayError("statement row kept changing under us", code="statement_conflict", http_status=409)


def build_body(session: Session, merchant: Merchant, period: Month, currency: str) -> dict[str, Any]:
    """Sum the month's entries (everything recorded so far for an open month) and check them against the
    ledger.

    Raises:
        StatementUnbalanced: see :func:`issue`.
    """
    start, end = period.start, period.end
    lines = repository.month_lines(session, merchant.id, currency, start, end)
    entries = _entries(session, lines)
    figures = fig.classify(entries, merchant_id=merchant.id, currency=currency)
    changes = repository.own_account_changes(session, merchant.id, currency, start, end)
    payable_code = accounts.merchant_payable(merchant.id, currency).code
    opening = accounts.natural_balance("merchant_payable", repository.balance_before(session, payable_code, start))
    reconciliation = _reconcile(figures, changes, opening)
    if not reconciliation.balanced:
        raise StatementUnbalanced(
            f"the {period.label} statement of {merchant.id} does not reconcile with the ledger",
            details={"accounts": [check.model_dump() for check in reconciliation.accounts if not check.ok]})
    totals = figures.totals()
    summary = Summary(**_figures(totals).model_dump(), other_fees=figures.other_fees,
                      profit_shared=figures.profit_shared,
                      adjustments=-figures.adjustments["merchant_payable"], settled=figures.settled,
                      paid_out=figures.paid_out, payouts_returned=figures.payouts_returned)
    body = StatementBody(
        merchant_id=merchant.id, merchant_name=merchant.name, month=period.label, currency=currency,
        timezone=str(BUSINESS_TZ), period_start=iso_utc(period.start), period_end=iso_utc(period.end),
        summary=summary,
        by_mode=[ModeTotals(mode=mode, **_figures(figures.mode_totals(mode)).model_dump()) for mode in fig.MODES],
        lines=[StatementLine(mode=mode, channel=channel, **_figures(line).model_dump())
               for (mode, channel), line in sorted(figures.lines.items(), key=lambda item: (
                   fig.MODES.index(item[0][0]), item[0][1]))],
        reconciliation=reconciliation,
        ledger=LedgerRange(entry_count=figures.entry_count, adjustment_count=figures.adjustment_count,
                           last_sequence=figures.last_sequence))
    return body.model_dump(mode="json")


def _figures(line: fig.LineTotals) -> Figures:
    return Figures(payment_count=line.payment_count, refund_count=line.refund_count, gross=line.gross,
                   refunds=line.refunds, channel_fee_charged=line.channel_fee_charged,
                   channel_fee_returned=line.channel_fee_returned, channel_fee=line.channel_fee,
                   platform_fee_charged=line.platform_fee_charged, platform_fee_returned=line.platform_fee_returned,
                   platform_fee=line.platform_fee, shared=line.shared, shares_returned=line.shares_returned,
                   net=line.net)


def _reconcile(figures: fig.MonthFigures, changes: dict[str, int], opening: int) -> Reconciliation:
    checks = []
    for kind in fig.RECONCILED_KINDS:
        ledger, explained, adjusted = (accounts.natural_balance(kind, value) for value in (
            changes.get(kind, 0), figures.explained_change(kind), figures.adjustments[kind]))
        checks.append(AccountCheck(account=kind, ledger_change=ledger, from_figures=explained,
                                   adjustments=adjusted, ok=ledger == explained + adjusted))
    change = accounts.natural_balance("merchant_payable", changes.get("merchant_payable", 0))
    return Reconciliation(merchant_payable=PayableBalance(opening=opening, change=change, closing=opening + change),
                          accounts=checks, balanced=all(check.ok for check in checks))


def _entries(session: Session, lines: list[repository.Line]) -> list[fig.EntryRow]:
    """Group the posting lines into entries and resolve what each reversal counts as."""
    grouped: dict[str, list[repository.Line]] = {}
    for line in lines:
        grouped.setdefault(line.entry_id, []).append(line)
    counts_as = _resolve_reversals(session, [group[0] for group in grouped.values()])
    return [fig.EntryRow(id=entry_id, sequence=group[0].sequence, merchant_id=group[0].entry_merchant_id,
                         counts_as=counts_as[entry_id][0], sign=counts_as[entry_id][1],
                         postings=tuple(fig.PostingRow(code=line.code, kind=line.kind,
                                                       merchant_id=line.account_merchant_id,
                                                       channel=line.channel, amount=line.amount)
                                        for line in group))
            for entry_id, group in grouped.items()]


def _resolve_reversals(session: Session, heads: list[repository.Line]) -> dict[str, tuple[str | None, int]]:
    """``entry id -> (event type it counts as, sign)``: a reversal of a reversal of a payment counts as a
    payment with sign +1. A manual correction (or a chain that cannot be followed) counts as nothing."""
    resolved: dict[str, tuple[str | None, int]] = {}
    pending: dict[str, tuple[str, int]] = {}  # entry id -> (entry it reverses, sign so far)
    for head in heads:
        if head.event_type != "correction":
            resolved[head.entry_id] = (head.event_type, 1)
        elif head.reverses_entry_id is None:
            resolved[head.entry_id] = (None, 1)
        else:
            pending[head.entry_id] = (head.reverses_entry_id, -1)
    for _ in range(MAX_REVERSAL_DEPTH):
        if not pending:
            break
        targets = repository.reversed_entries(session, sorted({target for target, _ in pending.values()}))
        still: dict[str, tuple[str, int]] = {}
        for entry_id, (target, sign) in pending.items():
            event_type, reverses = targets.get(target, ("correction", None))
            if event_type != "correction":
                resolved[entry_id] = (event_type, sign)
            elif reverses is None:
                resolved[entry_id] = (None, 1)
            else:
                still[entry_id] = (reverses, -sign)
        pending = still
    for entry_id in pending:
        resolved[entry_id] = (None, 1)
    return resolved


def _view(row: Statement) -> IssuedStatement:
    status: Status = FINAL if row.status == FINAL else DRAFT
    return IssuedStatement(id=row.id, merchant_id=row.merchant_id, month=row.month, currency=row.currency,
                           status=status, body=dict(row.body), body_sha256=row.body_sha256,
                           generated_at=as_utc(row.generated_at))
