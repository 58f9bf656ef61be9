"""Screening payments and refunds with the risk rules, inside the transaction that creates them.

Payment creation calls :func:`screen_payment` right after the limit check, with the merchant row locked
and before any channel call; refund creation calls :func:`screen_refund` once the amount is reserved.

- ``block``: :class:`RiskBlocked` (``risk_blocked``) is raised, so the transaction rolls back and nothing
  is written nor sent to the channel. The decision must outlive that rollback: the caller wraps its
  transaction in :func:`keep_blocked`, which writes the decision (and a de-duplicated ``risk_blocked``
  alert) in a small transaction of its own *after* the rollback. (A second write transaction opened
  while the first is still open would wait on it forever on SQLite, one writer at a time.)
- ``review``: the object is created as usual; the decision is written with its id in the same transaction,
  and a ``risk_review`` alert is raised once per merchant, rule and hour (a burst that trips a velocity
  rule is one incident, not one alert per payment; every decision is still stored and listed). The alert
  is raised by the worker (``risk.review_alert``, queued with the decision: :func:`raise_review_alert`),
  so the payment's transaction writes one job row for a new incident rather than the alert, its
  insert-or-nothing and its dispatch job — a review then costs the payment little more than an allow.
- shadow hits (a rule's own ``shadow`` flag, or ``INDIEPAY_RISK_SHADOW`` for every rule) are recorded and
  change nothing. An evaluation with no hit at all is not stored: it keeps the hot path light.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from indiepay.alerts.service import defer_alert, raise_alert, record_alert
from indiepay.context import ServiceContext
from indiepay.core.clock import as_utc
from indiepay.core.errors import Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.prepared import Prepared
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.risk import features, rules, rulesets
from indiepay.risk.models import RiskDecision

log = logging.getLogger(__name__)
DECISIONS: Table = RiskDecision.__table__  # type: ignore[assignment]
_INSERT_DECISION = Prepared(insert(DECISIONS), [column.key for column in DECISIONS.columns])
REVIEW_ALERT_JOB = "risk.review_alert"


class RiskBlocked(Unprocessable):
    """A risk rule blocked the request; carries the decision to write once the transaction rolled back."""

    code = "risk_blocked"

    def __init__(self, decision: RiskDecision, hit: rules.RuleHit) -> None:
        super().__init__(f"refused by risk rule {hit.rule_id}: {hit.reason}", details={
            "rule": hit.rule_id, "version": hit.version, "reason": hit.reason, "decision_id": decision.id})
        self.decision = decision


def active_ruleset(ctx: ServiceContext, session: Session | None = None) -> rules.RuleSet:
    """The rule set in force (see :mod:`indiepay.risk.rulesets`)."""
    return rulesets.active_ruleset(ctx, session)


def screen_payment(session: Session, ctx: ServiceContext, merchant: Merchant, *, ruleset: rules.RuleSet,
                   recent: features.Recent, payment_id: str, livemode: bool, amount: int, reference: str,
                   payer: Mapping[str, Any], daily_limit: int, now: datetime) -> rules.Evaluation:
    """Evaluate ``ruleset`` for a payment about to be written as ``payment_id``; ``recent`` is what
    :func:`features.measure_recent` measured in this transaction.

    Raises:
        RiskBlocked (``risk_blocked``, details ``rule``, ``version``, ``reason``): a non-shadow rule blocks.
    """
    measured = features.for_payment(session, ruleset, merchant=merchant, livemode=livemode, amount=amount,
                                    recent=recent, daily_limit=daily_limit, now=now)
    evaluation = ruleset.evaluate(measured)
    if evaluation.hits:  # most payments hit nothing: no decision is even built for them
        _act(session, ctx, evaluation, {
            "id": new_id("rdec"), "object_type": "payment", "object_id": payment_id, "reference": reference,
            "merchant_id": merchant.id, "livemode": livemode, "amount": amount, "payer": dict(payer),
            "ruleset_version": ruleset.version, "created_at": now})
    return evaluation


def screen_refund(session: Session, ctx: ServiceContext, payment: Payment, *, refund_id: str, amount: int,
                  reference: str, now: datetime) -> rules.Evaluation:
    """Evaluate the rules for a refund of ``payment`` about to be written as ``refund_id``.

    Raises:
        RiskBlocked (``risk_blocked``): a non-shadow rule blocks.
    """
    ruleset = active_ruleset(ctx, session)
    merchant = session.get(Merchant, payment.merchant_id)
    assert merchant is not None
    measured = features.for_refund(session, ruleset, merchant=merchant, livemode=payment.livemode, amount=amount,
                                   now=now)
    evaluation = ruleset.evaluate(measured)
    _act(session, ctx, evaluation, {
        "id": new_id("rdec"), "object_type": "refund", "object_id": refund_id, "reference": reference,
        "merchant_id": merchant.id, "livemode": payment.livemode, "amount": amount, "payer": {},
        "ruleset_version": ruleset.version, "created_at": now})
    return evaluation


def _act(session: Session, ctx: ServiceContext, evaluation: rules.Evaluation, decision: dict[str, Any]) -> None:
    """Store the decision of an evaluation that hit a rule (``decision``: its row, less the outcome), raise
    the review alert, or raise :class:`RiskBlocked` carrying the decision for :func:`keep_blocked`."""
    if not evaluation.hits:
        return
    decisive = evaluation.decisive
    decision.update(outcome=evaluation.outcome, shadow_outcome=evaluation.shadow_outcome,
                    rule_id=decisive.rule_id if decisive else None,
                    rule_version=decisive.version if decisive else None,
                    hits=[hit.as_record() for hit in evaluation.hits])
    if evaluation.outcome == "block":
        assert decisive is not None
        decision["object_id"] = None  # nothing will be written: the request is named by its reference
        raise RiskBlocked(RiskDecision(**decision), decisive)
    # a prepared insert of a plain row: this runs inside every payment that hits a rule (an ORM object and
    # the unit of work's flush cost several times the statement)
    _INSERT_DECISION.execute(session, decision)
    if evaluation.outcome == "review":
        defer_alert(session, dedupe_key=_review_key(decision), job=REVIEW_ALERT_JOB,
                    args={"decision_id": decision["id"]}, now=decision["created_at"])


def raise_review_alert(ctx: ServiceContext, decision_id: str) -> bool:
    """The ``risk.review_alert`` job: raise the ``risk_review`` alert of a stored review decision (a repeat
    of its incident — same merchant, mode, object type, rule and hour — raises nothing). True when this
    call stored the alert.

    Raises:
        LookupError: no such decision, or it is not a review (the job is queued only with one).
    """
    with ctx.db.transaction() as session:
        stored = session.get(RiskDecision, decision_id)
        if stored is None or stored.outcome != "review":
            raise LookupError(f"no review decision {decision_id}")
        decision = _row(stored)
        reason = next(hit["reason"] for hit in decision["hits"]
                      if hit["rule_id"] == decision["rule_id"] and not hit["shadow"])
        return record_alert(session, ctx.clock, kind="risk_review", severity="warning",
                            merchant_id=decision["merchant_id"],
                            message=f"{decision['object_type']} {decision['object_id']} needs review: {reason}",
                            dedupe_key=_review_key(decision), details=_alert_details(decision),
                            livemode=decision["livemode"])


def _review_key(decision: Mapping[str, Any]) -> str:
    """One review incident: merchant, mode, object type, rule and hour."""
    return (f"risk_review:{decision['merchant_id']}:{_mode(decision['livemode'])}:{decision['object_type']}:"
            f"{decision['rule_id']}:{as_utc(decision['created_at']):%Y-%m-%dT%H}")


def _mode(livemode: bool) -> str:
    """Test and live incidents are separate incidents (and separate alerts)."""
    return "live" if livemode else "test"


def _alert_details(decision: Mapping[str, Any]) -> dict[str, Any]:
    return {"decision_id": decision["id"], "object_type": decision["object_type"],
            "object_id": decision["object_id"], "reference": decision["reference"], "rule": decision["rule_id"],
            "version": decision["rule_version"], "rules": [hit["rule_id"] for hit in decision["hits"]
                                                            if not hit["shadow"]]}


def _row(decision: RiskDecision) -> dict[str, Any]:
    return {column.key: getattr(decision, column.key) for column in DECISIONS.columns}


@contextmanager
def keep_blocked(ctx: ServiceContext) -> Iterator[None]:
    """Wrap a write transaction: a :class:`RiskBlocked` escaping it (after its rollback) has its decision
    written in a transaction of its own, with one ``risk_blocked`` alert per merchant, rule and hour."""
    try:
        yield
    except RiskBlocked as blocked:
        decision = blocked.decision
        try:
            with ctx.db.transaction() as session:
                session.add(decision)
                hour = decision.created_at.strftime("%Y-%m-%dT%H")
                raise_alert(session, ctx.clock, kind="risk_blocked", severity="warning",
                            merchant_id=decision.merchant_id, message=blocked.message,
                            dedupe_key=(f"risk_blocked:{decision.merchant_id}:{_mode(decision.livemode)}:"
                                        f"{decision.rule_id}:{hour}"),
                            details=_alert_details(_row(decision)), livemode=decision.livemode)
        except Exception:  # the refusal stands even if its record cannot be written now
            log.exception("could not record blocked risk decision %s", decision.id)
        raise
