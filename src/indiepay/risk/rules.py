"""Risk rules as data, evaluated as plain functions over plain data (no I/O here).

A rule set is a version string plus a tuple of :class:`Rule` in evaluation order. Each rule has a ``kind``
(which check it runs), ``params`` (its thresholds), the ``outcome`` it asks for when it fires
(``allow | review | block``), whether it runs in ``shadow`` mode (reported, never acted on) and which
objects it applies to (``payment | refund | both``). :func:`evaluate` runs every applicable rule against
:class:`Features` — counts and sums the repository measured — and combines the hits: the first non-shadow
``block`` wins, else ``review`` if any non-shadow rule asks for it, else ``allow``. An ``allow`` hit is
recorded but never loosens another rule's outcome (it is not a whitelist).

Counts in :class:`Features` never include the object being screened (it is not written yet); the checks
add it themselves, so "more than 5 payments in 10 minutes" fires on the sixth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Outcome = Literal["allow", "review", "block"]
ObjectType = Literal["payment", "refund"]
AppliesTo = Literal["payment", "refund", "both"]
Param = int | str
PAYER_IDS = ("openid", "buyer_id", "client_ip")  # what identifies a payer at request time (buyer_id: Alipay)
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    kind: str
    params: Mapping[str, Param] = field(hash=False)
    outcome: Outcome
    shadow: bool = False
    applies_to: AppliesTo = "payment"

    def applies(self, object_type: ObjectType) -> bool:
        return self.applies_to in (object_type, "both")

    def num(self, name: str) -> int:
        """An integer parameter (:func:`validate` proved it one when the rule set was built)."""
        return self.params[name]  # type: ignore[return-value]

    def text(self, name: str) -> str:
        return str(self.params[name])


@dataclass(frozen=True)
class RuleSet:
    """A version and its rules in order. What it measures per object type is worked out once, here: every
    payment asks, and hashing twenty rules to look it up would cost more than the answer."""

    version: str
    rules: tuple[Rule, ...]
    _needs: Mapping[ObjectType, Needs] = field(init=False, repr=False, compare=False, hash=False)
    _checks: Mapping[ObjectType, tuple[tuple[Rule, Check], ...]] = field(init=False, repr=False, compare=False,
                                                                         hash=False)

    def __post_init__(self) -> None:
        validate(self.rules)
        kinds: tuple[ObjectType, ...] = ("payment", "refund")
        object.__setattr__(self, "_needs", {kind: needs(self.rules, kind) for kind in kinds})
        object.__setattr__(self, "_checks", {kind: _checks_for(self.rules, kind) for kind in kinds})

    def needs(self, object_type: ObjectType) -> Needs:
        """Which windows and figures :func:`evaluate` reads for ``object_type`` under this rule set."""
        return self._needs[object_type]

    def evaluate(self, features: Features) -> Evaluation:
        """:func:`evaluate` over this set's rules, with the rules that apply and their checks looked up once,
        when the set was built (it runs on every payment)."""
        return _evaluate(self._checks[features.object_type], features)


@dataclass(frozen=True)
class Features:
    """What the repository measured for one payment or refund (amounts in fen)."""

    object_type: ObjectType
    amount: int
    subject_type: str = "individual"
    account_age_days: int = 0  # full days since the merchant was created
    used_today: int = 0  # the merchant's counted payments today, before this one
    daily_limit: int = 0  # the merchant's effective daily limit (0: unknown)
    payer_payments: Mapping[tuple[str, int], int] = field(default_factory=dict)  # (payer id, minutes) -> count
    payer_failures: Mapping[tuple[str, int], int] = field(default_factory=dict)  # failed or closed ones
    merchant_payments: Mapping[int, int] = field(default_factory=dict)  # minutes -> the merchant's payments
    history_days: int = 0  # business days of history before today (at most 30)
    history_volume: int = 0  # counted payment amounts over those days
    history_count: int = 0  # payments created over those days
    window_refunds: int = 0  # refunds (not failed) over the refund window, before this one
    window_refunded: int = 0  # their amount
    window_paid: int = 0  # succeeded payment amounts over the refund window


@dataclass(frozen=True)
class RuleHit:
    rule_id: str
    version: int
    outcome: Outcome
    shadow: bool
    reason: str

    def as_record(self) -> dict[str, Any]:
        """The hit as a stored decision keeps it (``dataclasses.asdict`` deep-copies: several times slower)."""
        return {"rule_id": self.rule_id, "version": self.version, "outcome": self.outcome, "shadow": self.shadow,
                "reason": self.reason}


@dataclass(frozen=True)
class Evaluation:
    outcome: Outcome
    hits: tuple[RuleHit, ...] = ()
    shadow_outcome: Outcome = "allow"  # what the outcome would be if no rule were in shadow mode

    @property
    def decisive(self) -> RuleHit | None:
        """The hit that made the outcome (None for ``allow``)."""
        if self.outcome == "allow":
            return None
        return next(h for h in self.hits if not h.shadow and h.outcome == self.outcome)


@dataclass(frozen=True)
class Needs:
    """Which windows the repository must measure for a rule set (so it counts nothing no rule reads)."""

    payer_payments: frozenset[tuple[str, int]]
    payer_failures: frozenset[tuple[str, int]]
    merchant_payments: frozenset[int]
    history: bool
    refund_window: bool


# -- the checks: each returns the reason when the rule fires, else None -----------------------------------

def _large_amount(rule: Rule, f: Features) -> str | None:
    threshold = rule.params.get(f.subject_type)
    if isinstance(threshold, int) and f.amount >= threshold:
        return f"amount {f.amount} fen is at or above the large-amount threshold of {threshold} fen ({f.subject_type})"
    return None


def _daily_cap(rule: Rule, f: Features) -> str | None:
    pct, total = rule.num("pct"), f.used_today + f.amount
    if f.daily_limit > 0 and total * 100 >= pct * f.daily_limit:
        return f"today's volume {total} fen reaches {pct}% of the daily limit of {f.daily_limit} fen"
    return None


def _payer_velocity(rule: Rule, f: Features) -> str | None:
    by, minutes, most = rule.text("by"), rule.num("window_minutes"), rule.num("max_payments")
    seen = f.payer_payments.get((by, minutes))
    if seen is not None and seen + 1 > most:
        return f"{seen + 1} payments by the same {by} in {minutes} minutes (more than {most})"
    return None


def _repeated_failures(rule: Rule, f: Features) -> str | None:
    by, minutes, most = rule.text("by"), rule.num("window_minutes"), rule.num("max_failures")
    failed = f.payer_failures.get((by, minutes))
    if failed is not None and failed >= most:
        return f"{failed} failed or closed payments by the same {by} in {minutes} minutes (at most {most - 1})"
    return None


def _merchant_velocity(rule: Rule, f: Features) -> str | None:
    minutes, factor, least = rule.num("window_minutes"), rule.num("factor"), rule.num("min_payments")
    recent = f.merchant_payments.get(minutes)
    if recent is None or recent + 1 < least:
        return None
    recent += 1
    # recent / minutes > factor × history_count / (history_days × minutes per day), in integers
    if f.history_days == 0 or recent * f.history_days * MINUTES_PER_DAY > factor * f.history_count * minutes:
        normal = f.history_count * minutes / max(f.history_days * MINUTES_PER_DAY, 1)
        return (f"{recent} payments in {minutes} minutes, more than {factor} × the usual {normal:.2f} "
                f"(at least {least})")
    return None


def _volume_baseline(rule: Rule, f: Features) -> str | None:
    factor, least, today = rule.num("factor"), rule.num("min_volume"), f.used_today + f.amount
    if today < least:
        return None
    # today > factor × history_volume / history_days, in integers; no history: any volume above the minimum
    if f.history_days == 0 or today * f.history_days > factor * f.history_volume:
        average = f.history_volume // max(f.history_days, 1)
        return (f"today's volume {today} fen is more than {factor} × the {f.history_days}-day daily average "
                f"of {average} fen (at least {least} fen)")
    return None


def _new_account(rule: Rule, f: Features) -> str | None:
    days, least = rule.num("max_age_days"), rule.num("min_amount")
    if f.account_age_days < days and f.amount >= least:
        return f"an account {f.account_age_days} days old (under {days}) takes {f.amount} fen (at least {least})"
    return None


def _refund_rate(rule: Rule, f: Features) -> str | None:
    pct, least = rule.num("max_pct"), rule.num("min_refunds")
    refunds, refunded = f.window_refunds + 1, f.window_refunded + f.amount
    if refunds >= least and refunded * 100 > pct * f.window_paid:
        return (f"refunds of {refunded} fen against {f.window_paid} fen collected over "
                f"{REFUND_WINDOW_DAYS} days pass {pct}% ({refunds} refunds)")
    return None


REFUND_WINDOW_DAYS = 7
HISTORY_DAYS = 30
Check = Callable[[Rule, Features], str | None]
CHECKS: dict[str, tuple[Check, frozenset[str]]] = {
    "large_amount": (_large_amount, frozenset({"individual", "enterprise"})),
    "daily_cap": (_daily_cap, frozenset({"pct"})),
    "payer_velocity": (_payer_velocity, frozenset({"by", "window_minutes", "max_payments"})),
    "repeated_failures": (_repeated_failures, frozenset({"by", "window_minutes", "max_failures"})),
    "merchant_velocity": (_merchant_velocity, frozenset({"window_minutes", "factor", "min_payments"})),
    "volume_baseline": (_volume_baseline, frozenset({"factor", "min_volume"})),
    "new_account": (_new_account, frozenset({"max_age_days", "min_amount"})),
    "refund_rate": (_refund_rate, frozenset({"max_pct", "min_refunds"})),
}


PARAM_MAX = {"window_minutes": 30 * 24 * 60, "max_age_days": 10 * 366}
"""The largest value of a param that names a span of time: a check looks back that far from now (a window of
billions of minutes put the start before year 1 and failed every payment the rule applied to)."""
PARAM_MAX_DEFAULT = 10**15
"""The largest value of any other param (amounts in fen, counts, percentages, factors): beyond any real one."""


def validate(rules: Iterable[Rule]) -> None:
    """Refuse a rule set a check could not run: unknown kinds, missing/extra/non-integer params or ones above
    their maximum (:data:`PARAM_MAX`), duplicate ids, a payer id other than openid/client_ip. Raises ValueError
    naming the rule."""
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ValueError(f"rule {rule.id!r} appears twice")
        seen.add(rule.id)
        if rule.kind not in CHECKS:
            raise ValueError(f"rule {rule.id!r}: unknown kind {rule.kind!r}")
        if rule.outcome not in ("allow", "review", "block") or rule.applies_to not in ("payment", "refund", "both"):
            raise ValueError(f"rule {rule.id!r}: bad outcome or applies_to")
        wanted = CHECKS[rule.kind][1]
        if set(rule.params) != wanted:
            raise ValueError(f"rule {rule.id!r}: params must be {sorted(wanted)}, got {sorted(rule.params)}")
        for name, value in rule.params.items():
            if name == "by":
                if value not in PAYER_IDS:
                    raise ValueError(f"rule {rule.id!r}: 'by' must be one of {PAYER_IDS}")
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"rule {rule.id!r}: param {name!r} must be a non-negative integer")
            elif value > PARAM_MAX.get(name, PARAM_MAX_DEFAULT):
                raise ValueError(f"rule {rule.id!r}: param {name!r} must be at most "
                                 f"{PARAM_MAX.get(name, PARAM_MAX_DEFAULT)}")


def evaluate(rules: Iterable[Rule], features: Features) -> Evaluation:
    """Run every rule that applies to ``features.object_type``, in order, and combine the hits."""
    return _evaluate(_checks_for(rules, features.object_type), features)


def _checks_for(rules: Iterable[Rule], object_type: ObjectType) -> tuple[tuple[Rule, Check], ...]:
    return tuple((rule, CHECKS[rule.kind][0]) for rule in rules if rule.applies(object_type))


def _evaluate(checks: Iterable[tuple[Rule, Check]], features: Features) -> Evaluation:
    hits = []
    for rule, check in checks:
        reason = check(rule, features)
        if reason is not None:
            hits.append(RuleHit(rule.id, rule.version, rule.outcome, rule.shadow, reason))
    if not hits:
        return _NO_HIT
    return Evaluation(_combine(h for h in hits if not h.shadow), tuple(hits), _combine(hits))


_NO_HIT = Evaluation("allow")


def _combine(hits: Iterable[RuleHit]) -> Outcome:
    outcome: Outcome = "allow"
    for hit in hits:
        if hit.outcome == "block":
            return "block"
        if hit.outcome == "review":
            outcome = "review"
    return outcome


def needs(rules: Iterable[Rule], object_type: ObjectType) -> Needs:
    applicable = [r for r in rules if r.applies(object_type)]

    def windows(kind: str) -> frozenset[tuple[str, int]]:
        return frozenset((r.text("by"), r.num("window_minutes")) for r in applicable if r.kind == kind)

    kinds = {r.kind for r in applicable}
    return Needs(payer_payments=windows("payer_velocity"), payer_failures=windows("repeated_failures"),
                 merchant_payments=frozenset(r.num("window_minutes") for r in applicable
                                             if r.kind == "merchant_velocity"),
                 history=bool(kinds & {"merchant_velocity", "volume_baseline"}),
                 refund_window="refund_rate" in kinds)


def all_shadow(ruleset: RuleSet) -> RuleSet:
    """The same rules, every one in shadow mode (``INDIEPAY_RISK_SHADOW``): decisions recorded, none acted on."""
    return RuleSet(ruleset.version, tuple(replace(r, shadow=True) for r in ruleset.rules))


RULESET_V1 = RuleSet("v1", (
    # blocks first: a payer hammering the merchant, or failing again and again
    Rule("payer_velocity_openid", 1, "payer_velocity", {"by": "openid", "window_minutes": 10, "max_payments": 5},
         "block"),
    Rule("payer_velocity_buyer_id", 1, "payer_velocity", {"by": "buyer_id", "window_minutes": 10, "max_payments": 5},
         "block"),
    Rule("payer_velocity_client_ip", 1, "payer_velocity",
         {"by": "client_ip", "window_minutes": 10, "max_payments": 20}, "block"),
    Rule("repeated_failures_openid", 1, "repeated_failures",
         {"by": "openid", "window_minutes": 60, "max_failures": 5}, "block"),
    Rule("repeated_failures_buyer_id", 1, "repeated_failures",
         {"by": "buyer_id", "window_minutes": 60, "max_failures": 5}, "block"),
    Rule("repeated_failures_client_ip", 1, "repeated_failures",
         {"by": "client_ip", "window_minutes": 60, "max_failures": 10}, "block"),
    # reviews: the payment goes ahead and a person looks at it
    Rule("large_amount", 1, "large_amount", {"individual": 500_000, "enterprise": 5_000_000}, "review"),
    Rule("daily_cap_80", 1, "daily_cap", {"pct": 80}, "review"),
    Rule("new_account_large_payment", 1, "new_account", {"max_age_days": 14, "min_amount": 200_000}, "review"),
    Rule("volume_above_baseline", 1, "volume_baseline", {"factor": 5, "min_volume": 1_000_000}, "review"),
    Rule("merchant_velocity", 1, "merchant_velocity", {"window_minutes": 1, "factor": 10, "min_payments": 30},
         "review"),
    Rule("refund_rate_7d", 1, "refund_rate", {"max_pct": 30, "min_refunds": 3}, "review", applies_to="refund"),
))
