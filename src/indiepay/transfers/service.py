"""Matching incoming bank transfers to payments: a statement import, or the merchant's confirmation.

Each credit is handled in a transaction of its own — the line recorded, and when it pays a payment, the
payment moved to ``succeeded`` (through the same conditional transition a channel callback uses, so a
late transfer to a closed payment is a recorded, alerted late payment and two matches can never both
win). The bank's transaction number is unique per account, so a statement imported twice records each
transfer once. A credit that matches nothing is kept and raises an ``unmatched_transfer`` alert: money
that arrived is never dropped, whatever its memo says.

Because the credits commit one by one, the whole file is parsed and checked first
(:func:`indiepay.transfers.rules.parse_statement`): anything about its content that could be refused — a
malformed row, a time with no UTC, an amount no column holds — is refused before the first line is written,
so an import is never left half done by what the file says. (A booking time in year 1 was once written
only when its turn came: the rows before it stayed, a payment among them paid, and the answer was a 500.)
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.accounts.service import get_account
from indiepay.alerts.service import raise_alert
from indiepay.audit import service as audit
from indiepay.channels.base import ChannelMethod, ChannelPayment, TradeState
from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, InvalidRequest, NotFound, Unprocessable
from indiepay.core.ids import new_id
from indiepay.merchants.auth import Principal
from indiepay.payments import repository as payments_repository
from indiepay.payments.models import Payment
from indiepay.payments.sync import apply_trade_state
from indiepay.transfers import repository, rules
from indiepay.transfers.models import StatementLine
from indiepay.transfers.schemas import StatementImportOut, StatementLineOut, TransferConfirm

RECEIVED = "TRANSFER_RECEIVED"


def to_out(line: StatementLine) -> StatementLineOut:
    return StatementLineOut(
        id=line.id, livemode=line.livemode, channel_account_id=line.channel_account_id,
        bank_txn_id=line.bank_txn_id, booked_at=line.booked_at, amount=line.amount, currency=line.currency,
        payer_name=line.payer_name, memo=line.memo, source=line.source, status=line.status, reason=line.reason,
        payment_id=line.payment_id, created_at=line.created_at)


def _pay(session: Session, ctx: ServiceContext, line: StatementLine, payment_id: str) -> bool:
    """Move the payment to ``succeeded`` by this transfer; False when it was not waiting for one."""
    payment = session.get(Payment, payment_id)
    assert payment is not None
    seen = ChannelPayment(out_trade_no=payment.channel_out_trade_no, state=TradeState.SUCCEEDED, raw_state=RECEIVED,
                          amount=line.amount, currency=line.currency, channel_trade_no=line.bank_txn_id,
                          paid_at=line.booked_at, payer_id=line.payer_name)
    return apply_trade_state(session, ctx, payment_id, seen, source=f"bank_transfer:{line.source}")


def _alert_unmatched(session: Session, ctx: ServiceContext, line: StatementLine, suspect: str | None) -> None:
    raise_alert(session, ctx.clock, kind="unmatched_transfer", severity="high", merchant_id=line.merchant_id,
                dedupe_key=f"unmatched_transfer:{line.id}", livemode=line.livemode,
                message=f"a transfer of {line.amount} fen ({line.bank_txn_id}) matches no payment: {line.reason}",
                details={"line_id": line.id, "bank_txn_id": line.bank_txn_id, "amount": line.amount,
                         "reason": line.reason, "payment_id": suspect, "memo": line.memo})


def _record_credit(ctx: ServiceContext, account_id: str, merchant_id: str, livemode: bool, row: rules.StatementRow,
                   candidates: dict[str, list[rules.Candidate]]) -> StatementLine | None:
    """One credit in its own transaction; None when the bank's number was recorded before."""
    codes = rules.references(row.memo)
    found = [c for code in codes for c in candidates.get(code, [])]
    decision = rules.decide(row.amount, codes, found)
    now = ctx.clock.now()
    try:
        with ctx.db.transaction() as session:
            line = StatementLine(id=new_id("bsl"), merchant_id=merchant_id, livemode=livemode,
                                 channel_account_id=account_id, bank_txn_id=row.bank_txn_id,
                                 booked_at=row.booked_at, amount=row.amount, currency="CNY",
                                 payer_name=row.payer_name, memo=row.memo, source="statement",
                                 status=decision.status, reason=decision.reason, payment_id=None,
                                 created_at=now, updated_at=now)
            session.add(line)
            session.flush()
            if decision.status == rules.MATCHED and decision.payment_id is not None:
                if _pay(session, ctx, line, decision.payment_id):
                    line.payment_id = decision.payment_id
                else:  # paid meanwhile (another transfer, a confirmation): this money is a second one
                    line.status, line.reason = rules.UNMATCHED, "already_paid"
            if line.status == rules.UNMATCHED:
                _alert_unmatched(session, ctx, line, decision.payment_id)
            session.flush()
            session.expunge(line)
            return line
    except IntegrityError:
        return None  # the same bank transaction, imported before (or by a racing import)


def import_statement(ctx: ServiceContext, principal: Principal, account_id: str, content: bytes) -> StatementImportOut:
    """Record and match every credit of a statement of one of the merchant's bank-transfer accounts.

    Raises:
        NotFound: ``account_not_found``. InvalidRequest: ``not_a_bank_account``, ``invalid_statement``
            (nothing is written for a file with any malformed row).
    """
    merchant_id = principal.require_merchant()
    with ctx.db.read() as session:
        account = get_account(session, principal, account_id)
        if account.channel != "bank_transfer":
            raise InvalidRequest("statements are imported into bank_transfer accounts only",
                                 code="not_a_bank_account", details={"channel": account.channel})
        livemode = account.environment == "production"
    credits = rules.parse_statement(content)
    with ctx.db.read() as session:
        candidates = repository.payments_by_reference(session, account_id, ctx.clock.now())
    recorded = [line for row in credits
                if (line := _record_credit(ctx, account_id, merchant_id, livemode, row, candidates)) is not None]
    with ctx.db.transaction() as session:
        audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="bank_statement.imported",
                     target_type="channel_account", target_id=account_id, merchant_id=merchant_id,
                     details={"credits": len(credits), "recorded": len(recorded),
                              "matched": sum(1 for line in recorded if line.status == rules.MATCHED)})
    matched = sum(1 for line in recorded if line.status == rules.MATCHED)
    return StatementImportOut(channel_account_id=account_id, credits=len(credits), matched=matched,
                              unmatched=len(recorded) - matched, already_imported=len(credits) - len(recorded),
                              lines=[to_out(line) for line in recorded])


def confirm_transfer(ctx: ServiceContext, principal: Principal, payment_id: str,
                     body: TransferConfirm) -> StatementLineOut:
    """The merchant saw this payment's transfer on its account. A line the bank's number already names is
    used (an unmatched credit of an imported statement); otherwise one is recorded from ``body``.

    Raises:
        NotFound: ``payment_not_found``. InvalidRequest: ``not_a_bank_transfer``. Conflict:
            ``payment_not_pending`` (already paid), ``transfer_already_matched`` (the bank's number paid
            another payment — named only when it is the merchant's own: on the platform's shared account the
            number may be another merchant's transfer, of which nothing is told). Unprocessable:
            ``transfer_amount_mismatch`` (nothing is written).
    """
    try:
        return _confirm(ctx, principal, payment_id, body)
    except IntegrityError:  # the same bank number recorded by a racing import or confirmation: look again
        return _confirm(ctx, principal, payment_id, body)


def _confirm(ctx: ServiceContext, principal: Principal, payment_id: str, body: TransferConfirm) -> StatementLineOut:
    merchant_id = principal.require_merchant()
    now = ctx.clock.now()
    with ctx.db.transaction() as session:
        payment = payments_repository.get_scoped(session, merchant_id, principal.livemode, payment_id)
        if payment is None:
            raise NotFound("no such payment", code="payment_not_found")
        if payment.method != ChannelMethod.BANK_TRANSFER.value:
            raise InvalidRequest("only bank-transfer payments are confirmed by hand", code="not_a_bank_transfer")
        line = repository.line_by_txn(session, payment.channel_account_id, body.bank_txn_id)
        if line is not None and line.payment_id == payment.id:
            return to_out(line)  # confirmed before: the same answer
        if line is not None and line.merchant_id != merchant_id:
            # the platform's shared account: the number is another merchant's transfer (whose payment, amount
            # or status are not this merchant's to learn, nor its credit this merchant's to claim)
            raise Conflict(f"bank transaction {body.bank_txn_id} is already used on the platform's receiving "
                           "account", code="transfer_already_matched", details={"bank_txn_id": body.bank_txn_id})
        if line is not None and line.status == rules.MATCHED:
            raise Conflict(f"bank transaction {body.bank_txn_id} already paid {line.payment_id}",
                           code="transfer_already_matched", details={"payment_id": line.payment_id})
        arrived = line.amount if line is not None else body.amount
        if arrived != payment.amount:
            raise Unprocessable(f"{arrived} fen arrived for a payment of {payment.amount}",
                                code="transfer_amount_mismatch",
                                details={"transferred": arrived, "amount": payment.amount})
        if payment.status == "succeeded":
            raise Conflict("the payment is already paid", code="payment_not_pending",
                           details={"status": payment.status})
        if line is None:
            line = StatementLine(id=new_id("bsl"), merchant_id=merchant_id, livemode=payment.livemode,
                                 channel_account_id=payment.channel_account_id, bank_txn_id=body.bank_txn_id,
                                 booked_at=body.booked_at or now, amount=body.amount, currency="CNY",
                                 payer_name=body.payer_name, memo=body.memo, source="confirmation",
                                 status=rules.MATCHED, reason=None, payment_id=None, created_at=now, updated_at=now)
            session.add(line)
            session.flush()
        if not _pay(session, ctx, line, payment.id):
            raise Conflict("the payment is no longer waiting for a transfer", code="payment_not_pending")
        line.status, line.reason, line.payment_id, line.updated_at = rules.MATCHED, None, payment.id, now
        audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="bank_transfer.confirmed",
                     target_type="payment", target_id=payment.id, merchant_id=merchant_id,
                     details={"bank_txn_id": body.bank_txn_id, "amount": line.amount, "line_id": line.id})
        session.flush()
        return to_out(line)


def get_line(session: Session, principal: Principal, line_id: str) -> StatementLine:
    line = session.get(StatementLine, line_id)
    if line is None or line.merchant_id != principal.require_merchant() or line.livemode != principal.livemode:
        raise NotFound("no such statement line", code="statement_line_not_found")
    return line
