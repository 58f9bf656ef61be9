"""The rule set in force, and how the operator changes it (``PUT /v1/risk/rules``).

Version 1 is built in (:data:`indiepay.risk.rules.RULESET_V1`). Every change the operator makes is stored
as a new version (``v2``, ``v3``, …) in ``risk_rulesets`` and never edited, so every stored decision still
names the exact rules that made it; the newest version is in force. Each rule keeps its own version
number: an unchanged rule keeps it, a changed rule gets the next one, a new rule starts at 1.

Every payment reads the rule set, so each process keeps it in a small cache that it re-reads from the
database after :data:`CACHE_SECONDS`: a change takes effect at once in the process that made it and
within that many seconds in the others (the same bound as the API-key cache). ``INDIEPAY_RISK_SHADOW``
puts every rule of whatever set is in force in shadow mode.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indiepay.audit.service import actor_of, record
from indiepay.context import ServiceContext
from indiepay.core.errors import InvalidRequest
from indiepay.merchants.auth import Principal
from indiepay.risk import rules
from indiepay.risk.models import StoredRuleSet

CACHE_SECONDS = 5.0
BUILT_IN_SEQUENCE = 1  # RULESET_V1; stored versions start at 2


@dataclass(frozen=True)
class _Cached:
    fetched_at: float
    ruleset: rules.RuleSet
    shadowed: rules.RuleSet  # the same rules, every one in shadow mode (``INDIEPAY_RISK_SHADOW``)


_cache: weakref.WeakKeyDictionary[object, _Cached] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def active_ruleset(ctx: ServiceContext, session: Session | None = None) -> rules.RuleSet:
    """The rule set in force (every rule in shadow mode under ``INDIEPAY_RISK_SHADOW``).

    Reads through ``session`` when given (inside a payment's transaction), else through a short read."""
    cached = _current(ctx, session)
    return cached.shadowed if ctx.settings.risk_shadow else cached.ruleset


def stored_ruleset(ctx: ServiceContext, session: Session | None = None) -> rules.RuleSet:
    """The rule set in force as stored, each rule with its own shadow flag whatever
    ``INDIEPAY_RISK_SHADOW`` says: what the operator reads and edits (a set read under the setting and
    written back would otherwise keep every rule in shadow mode once the setting is off)."""
    return _current(ctx, session).ruleset


def _current(ctx: ServiceContext, session: Session | None) -> _Cached:
    engine = ctx.db.engine
    cached = _cache.get(engine)
    if cached is not None and time.monotonic() - cached.fetched_at < CACHE_SECONDS:
        return cached
    if session is not None:
        ruleset = _load(session, cached.ruleset if cached is not None else None)
    else:
        with ctx.db.read() as reading:
            ruleset = _load(reading, cached.ruleset if cached is not None else None)
    shadowed = cached.shadowed if cached is not None and cached.ruleset is ruleset else rules.all_shadow(ruleset)
    fresh = _Cached(time.monotonic(), ruleset, shadowed)
    with _lock:
        _cache[engine] = fresh
    return fresh


def _load(session: Session, known: rules.RuleSet | None) -> rules.RuleSet:
    """The newest stored rule set; ``known`` itself when it is that version (versions are never edited, and
    a rule set kept is one whose measuring plans stay warm)."""
    stored = session.scalars(select(StoredRuleSet).order_by(StoredRuleSet.sequence.desc()).limit(1)).first()
    if stored is None:
        return rules.RULESET_V1
    if known is not None and known.version == stored.version:
        return known
    return rules.RuleSet(stored.version, tuple(_rule(item) for item in stored.rules))


def _rule(item: Mapping[str, Any]) -> rules.Rule:
    return rules.Rule(id=item["id"], version=item["version"], kind=item["kind"], params=dict(item["params"]),
                      outcome=item["outcome"], shadow=bool(item.get("shadow", False)),
                      applies_to=item.get("applies_to", "payment"))


def put_rules(session: Session, ctx: ServiceContext, principal: Principal, proposed: Iterable[Mapping[str, Any]],
              note: str) -> rules.RuleSet:
    """Put a new rule set in force (admin); returns it with its version and each rule's version.

    ``proposed`` items carry id, kind, params, outcome and optionally shadow and applies_to (a version
    given by the caller is ignored: versions are assigned here).

    Raises:
        InvalidRequest (``invalid_rules``): a rule a check could not run (unknown kind, wrong params, a
            duplicate id, …) — the message names the rule; nothing is stored.
    """
    current = _load(session, None)
    previous = {rule.id: rule for rule in current.rules}
    new_rules = []
    try:
        for item in proposed:
            candidate = _rule({**item, "version": 1})
            before = previous.get(candidate.id)
            if before is not None:
                same = (before.kind, dict(before.params), before.outcome, before.shadow, before.applies_to) == (
                    candidate.kind, dict(candidate.params), candidate.outcome, candidate.shadow,
                    candidate.applies_to)
                candidate = rules.Rule(candidate.id, before.version if same else before.version + 1, candidate.kind,
                                       candidate.params, candidate.outcome, candidate.shadow, candidate.applies_to)
            new_rules.append(candidate)
        sequence = (session.scalar(select(func.max(StoredRuleSet.sequence))) or BUILT_IN_SEQUENCE) + 1
        ruleset = rules.RuleSet(f"v{sequence}", tuple(new_rules))
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest(f"the rule set cannot run: {exc}", code="invalid_rules") from exc
    now = ctx.clock.now()
    session.add(StoredRuleSet(version=ruleset.version, sequence=sequence, rules=[_as_dict(r) for r in ruleset.rules],
                              created_by=actor_of(principal), note=note, created_at=now))
    changed = sorted({r.id for r in ruleset.rules if previous.get(r.id) != r} | (set(previous) - {
        r.id for r in ruleset.rules}))
    record(session, ctx.clock, actor=actor_of(principal), action="risk.rules.changed", target_type="risk_ruleset",
           target_id=ruleset.version, details={"previous_version": current.version, "changed_rules": changed,
                                                "note": note})
    session.flush()
    return ruleset


def remember(ctx: ServiceContext, ruleset: rules.RuleSet) -> None:
    """Put ``ruleset`` in force in this process at once — call it once its transaction has committed."""
    with _lock:
        _cache[ctx.db.engine] = _Cached(time.monotonic(), ruleset, rules.all_shadow(ruleset))


def _as_dict(rule: rules.Rule) -> dict[str, Any]:
    return {"id": rule.id, "version": rule.version, "kind": rule.kind, "params": dict(rule.params),
            "outcome": rule.outcome, "shadow": rule.shadow, "applies_to": rule.applies_to}
