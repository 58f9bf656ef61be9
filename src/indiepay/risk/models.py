"""Risk records, never edited nor deleted: the history of suspensions and resumptions (who switched what
off or on, when and why), and every risk decision that hit a rule (which rules, under which rule set)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class Suspension(Base):
    __tablename__ = "suspensions"
    __table_args__ = (Index("ix_suspensions_target", "target_type", "target_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))  # merchant | account
    target_id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(16))  # suspend | resume
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class RiskDecision(Base):
    """One evaluation of the risk rules that hit at least one rule (shadow hits included).

    ``object_id`` is the payment or refund; it is NULL when the rules blocked the request before the row
    existed, and ``reference`` (the ``out_trade_no`` / ``out_refund_no``) names the request then.
    """

    __tablename__ = "risk_decisions"
    __table_args__ = (Index("ix_risk_decisions_merchant", "merchant_id", "created_at", "id"),
                      Index("ix_risk_decisions_object", "object_id"),
                      Index("ix_risk_decisions_created", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    object_type: Mapped[str] = mapped_column(String(16))  # payment | refund
    object_id: Mapped[str | None] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(40))
    livemode: Mapped[bool]
    amount: Mapped[int] = mapped_column(BigInteger)
    payer: Mapped[dict[str, Any]]
    ruleset_version: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # allow | review | block: what was done
    shadow_outcome: Mapped[str] = mapped_column(String(16))  # what would be done with no rule in shadow mode
    rule_id: Mapped[str | None] = mapped_column(String(64))  # the rule that made the outcome (None: allow)
    rule_version: Mapped[int | None]
    hits: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # rule_id, version, outcome, shadow, reason
    created_at: Mapped[datetime]


class StoredRuleSet(Base):
    """A rule set the operator put in force (``PUT /v1/risk/rules``); the highest ``sequence`` is in force.

    Versions are never edited: a change is a new version, so every stored decision still names the exact
    rules that made it."""

    __tablename__ = "risk_rulesets"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    sequence: Mapped[int] = mapped_column(unique=True)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime]


class RiskDayVolume(Base):
    """One merchant's payments of one finished business day (Asia/Shanghai) in one mode, rolled up once by
    the ``risk.day_volumes`` job: the 30-day history the "far above normal" rules read becomes a sum of at
    most thirty of these rows instead of a scan of the merchant's month of payments. ``volume`` counts the
    payments that took or may take money (as the daily limits do), ``count`` all of them."""

    __tablename__ = "risk_day_volumes"

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    business_date: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    volume: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(BigInteger)


class RiskDayVolumeRun(Base):
    """A business day whose volumes are rolled up (a merchant without a row that day took nothing)."""

    __tablename__ = "risk_day_volume_runs"

    business_date: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    merchants: Mapped[int]  # rows written
    computed_at: Mapped[datetime]


class PaymentDayUsage(Base):
    """What one channel account has counted for one merchant, mode and business day (Asia/Shanghai): the sum
    of the payments created that day that took or may take money (``COUNTED``: pending or succeeded), as the
    daily limits and caps count it.

    Kept by database triggers on ``payments`` (migration 0019): a payment's insert adds its amount, a status
    change out of the counted set subtracts it, back into the set adds it again — in the same statement as
    the change, whoever writes the row. Admission reads today's rows (a handful) instead of summing every
    payment the merchant took today, which grew with the merchant's day: ~2 µs a payment, 44 ms a payment
    for a merchant at its 20,000th of the day."""

    __tablename__ = "payment_day_usage"
    __table_args__ = (Index("ix_payment_day_usage_account_day", "channel_account_id", "business_date"),)

    merchant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    livemode: Mapped[bool] = mapped_column(primary_key=True)
    business_date: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    channel_account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
