"""Which of a merchant's channel accounts takes a payment: a pure function over a snapshot of the accounts.

Why: a merchant that grows holds several accounts per channel — to split traffic (no single account
carries all the volume or hits the channel's own risk limits), to stay under each account's daily cap, and
to keep taking payments when one account's gateway fails. Routing is a plain function of plain data, so
every rule is tested exhaustively without a database; the caller takes the snapshot (accounts, today's
usage, breaker availability from :mod:`indiepay.routing.health`) and draws ``pick`` at random.

The rules, in order (each refused account gets a reason code, so the API can say why):

1. an account must be of the request's environment, channel and method (``wrong_environment``,
   ``wrong_channel``, ``method_not_served``), enabled (``disabled``) and healthy: breaker closed, or half
   open with a probe slot free (``circuit_open`` otherwise);
2. weight 0 means *drained*: the account takes no new payment (``zero_weight``) — not even when it is the
   only one left; the one exception is a payment already pinned to it (rule 5). To use an account, give it
   a weight;
3. it must not pass its daily cap: ``used_today + amount > daily_cap`` refuses it (``over_daily_cap``;
   ``RouteDecision.caps`` says the cap, the usage and what remains);
4. among the primaries that pass, ``pick`` ∈ [0, 1) selects along their cumulative weights, in account-id
   order, with exact integer arithmetic: account *i* takes the picks in [Cᵢ₋₁/W, Cᵢ/W). Backups are
   considered only when no primary passes, and are weighted the same way;
5. a payment whose outcome on an account is ``unknown`` (a timeout: the channel may hold the order) is
   never sent to another account — that would risk charging the buyer twice. The same holds after ``ok``
   (the order is open there). Given such a ``previous_attempt``, routing returns that account (if it still
   serves the request, is enabled and healthy; its cap and weight are not re-checked, the payment was
   already admitted to it) or nothing, every other account refused with
   ``outcome_unknown_on_previous_account`` (``order_open_on_previous_account`` after ``ok``);
6. after a definite failure on an account (nothing reached the channel, or it refused the order), another
   account may take the payment: after ``rejected`` the failed account is refused
   (``failed_on_previous_attempt``); after ``retryable`` it is tried again only if no other account can.

When nothing passes, ``RouteDecision.refusal`` names the reason of the account that got furthest through
these rules (``no_account`` for an empty snapshot). The result depends on the set of accounts, not on the
order the snapshot lists them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from indiepay.routing.health import OUTCOMES, Availability

Role = Literal["primary", "backup"]

WRONG_ENVIRONMENT = "wrong_environment"
WRONG_CHANNEL = "wrong_channel"
METHOD_NOT_SERVED = "method_not_served"
DISABLED = "disabled"
CIRCUIT_OPEN = "circuit_open"
ZERO_WEIGHT = "zero_weight"
OVER_DAILY_CAP = "over_daily_cap"
FAILED_ON_PREVIOUS_ATTEMPT = "failed_on_previous_attempt"
OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT = "outcome_unknown_on_previous_account"
ORDER_OPEN_ON_PREVIOUS_ACCOUNT = "order_open_on_previous_account"
NOT_PICKED = "not_picked"  # could take it; the weighted pick chose another account of its tier
BACKUP_STANDBY = "backup_standby"  # could take it; a primary did
NO_ACCOUNT = "no_account"  # refusal of an empty snapshot

# How far an account got through the rules; the refusal of a decision without an account is the furthest.
_PROGRESS = (WRONG_ENVIRONMENT, WRONG_CHANNEL, METHOD_NOT_SERVED, DISABLED, CIRCUIT_OPEN, ZERO_WEIGHT,
             OVER_DAILY_CAP, FAILED_ON_PREVIOUS_ATTEMPT)
_PINNING = {"unknown": OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT, "ok": ORDER_OPEN_ON_PREVIOUS_ACCOUNT}
_ROLES = ("primary", "backup")
_HEALTH = ("closed", "open", "half_open")


@dataclass(frozen=True)
class AccountSnapshot:
    """One channel account as routing sees it at one instant.

    ``health`` is the breaker's :data:`~indiepay.routing.health.Availability` (``half_open`` means a probe
    may go now). ``daily_cap`` and ``used_today`` are fen; ``daily_cap`` None means no cap of its own.
    """

    id: str
    channel: str
    environment: str
    methods: frozenset[str]
    role: Role
    weight: int
    enabled: bool
    health: Availability
    daily_cap: int | None
    used_today: int

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"account {self.id}: role must be primary or backup, not {self.role!r}")
        if self.health not in _HEALTH:
            raise ValueError(f"account {self.id}: health must be closed, open or half_open, not {self.health!r}")
        if self.weight < 0:
            raise ValueError(f"account {self.id}: weight must be ≥ 0")
        if self.used_today < 0 or (self.daily_cap is not None and self.daily_cap < 0):
            raise ValueError(f"account {self.id}: daily_cap and used_today must be ≥ 0")


@dataclass(frozen=True)
class RouteRequest:
    """The payment to place: ``amount`` in fen (≥ 1)."""

    channel: str
    environment: str
    method: str
    amount: int

    def __post_init__(self) -> None:
        if self.amount < 1:
            raise ValueError("amount must be at least 1 fen")


@dataclass(frozen=True)
class PreviousAttempt:
    """The account this payment was last attempted on, and how that call ended
    (ok | rejected | retryable | unknown, as :func:`indiepay.payments.calls.call_channel` classifies it)."""

    account_id: str
    outcome: str

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown call outcome {self.outcome!r}")


@dataclass(frozen=True)
class CapUsage:
    """An account's daily cap, what it has taken today and what remains (fen)."""

    daily_cap: int
    used_today: int
    remaining: int


@dataclass(frozen=True)
class RouteDecision:
    """Where the payment goes, and why every other account did not take it.

    ``account_id`` None: nothing can take it; ``refusal`` says why. ``probe`` True: the account's breaker is
    half open — the caller must claim the probe slot (``HealthRegistry.admit``) before calling, and route
    again with that account ``open`` if the slot is gone. ``caps`` holds the accounts refused for their cap.
    """

    account_id: str | None
    role: Role | None = None
    probe: bool = False
    refusal: str | None = None
    reasons: Mapping[str, str] = field(default_factory=dict, hash=False)
    caps: Mapping[str, CapUsage] = field(default_factory=dict, hash=False)

    @property
    def max_remaining(self) -> int | None:
        """The largest amount a capped account could still take today (None: no account was capped)."""
        return max((usage.remaining for usage in self.caps.values()), default=None)


def route(snapshot: Sequence[AccountSnapshot], request: RouteRequest, *, pick: float,
          previous_attempt: PreviousAttempt | None = None) -> RouteDecision:
    """Choose the account for ``request`` (see the module docstring for the rules).

    Args:
        snapshot: the merchant's (or the platform's) accounts, any order.
        request: channel, environment, method and amount of the payment.
        pick: a number in [0, 1) drawn at random by the caller; the same pick gives the same account.
        previous_attempt: this payment's last attempt, when it is being placed again.

    Raises:
        ValueError: ``pick`` outside [0, 1), or two accounts with the same id.
    """
    if not 0.0 <= pick < 1.0:
        raise ValueError(f"pick must be in [0, 1), not {pick!r}")
    accounts = sorted(snapshot, key=lambda account: account.id)
    if len({account.id for account in accounts}) != len(accounts):
        raise ValueError("the snapshot lists an account twice")
    if previous_attempt is not None and previous_attempt.outcome in _PINNING:
        return _pinned(accounts, request, previous_attempt)

    reasons: dict[str, str] = {}
    caps: dict[str, CapUsage] = {}
    passing: dict[str, list[AccountSnapshot]] = {"primary": [], "backup": []}
    held_back: AccountSnapshot | None = None  # the account a retryable attempt just failed on
    for account in accounts:
        reason = _serves(account, request) or _takes(account, request)
        if reason == OVER_DAILY_CAP and account.daily_cap is not None:
            caps[account.id] = CapUsage(account.daily_cap, account.used_today,
                                        max(account.daily_cap - account.used_today, 0))
        if reason is None and previous_attempt is not None and account.id == previous_attempt.account_id:
            reason = FAILED_ON_PREVIOUS_ATTEMPT
            if previous_attempt.outcome == "retryable":
                held_back = account
        if reason is None:
            passing[account.role].append(account)
        else:
            reasons[account.id] = reason

    for role in _ROLES:
        if passing[role]:
            chosen = _weighted(passing[role], pick)
            for account in passing["primary"] + passing["backup"]:
                if account is not chosen:
                    reasons[account.id] = NOT_PICKED if account.role == role else BACKUP_STANDBY
            return _decision(chosen, reasons, caps)
    if held_back is not None:
        del reasons[held_back.id]
        return _decision(held_back, reasons, caps)
    refusal = max(reasons.values(), key=_PROGRESS.index, default=NO_ACCOUNT)
    return RouteDecision(account_id=None, refusal=refusal, reasons=reasons, caps=caps)


def _serves(account: AccountSnapshot, request: RouteRequest) -> str | None:
    """Why the account cannot serve this kind of request now (None: it can)."""
    if account.environment != request.environment:
        return WRONG_ENVIRONMENT
    if account.channel != request.channel:
        return WRONG_CHANNEL
    if request.method not in account.methods:
        return METHOD_NOT_SERVED
    if not account.enabled:
        return DISABLED
    if account.health == "open":
        return CIRCUIT_OPEN
    return None


def _takes(account: AccountSnapshot, request: RouteRequest) -> str | None:
    """Why the account takes no *new* payment of this amount (None: it does)."""
    if account.weight == 0:
        return ZERO_WEIGHT
    if account.daily_cap is not None and account.used_today + request.amount > account.daily_cap:
        return OVER_DAILY_CAP
    return None


def _weighted(candidates: Sequence[AccountSnapshot], pick: float) -> AccountSnapshot:
    """The candidate whose slice of the cumulative weights holds ``pick``; exact (a float is a dyadic
    rational, so ``pick × total`` is computed without rounding)."""
    numerator, denominator = pick.as_integer_ratio()
    point = numerator * sum(account.weight for account in candidates) // denominator
    for account in candidates:
        if point < account.weight:
            return account
        point -= account.weight
    return candidates[-1]  # unreachable: 0 ≤ point < total


def _pinned(accounts: Sequence[AccountSnapshot], request: RouteRequest,
            previous_attempt: PreviousAttempt) -> RouteDecision:
    """The payment may exist at the channel on the previous account: that account, or nothing."""
    code = _PINNING[previous_attempt.outcome]
    reasons = {account.id: code for account in accounts if account.id != previous_attempt.account_id}
    previous = next((account for account in accounts if account.id == previous_attempt.account_id), None)
    reason = _serves(previous, request) if previous is not None else None
    if previous is not None and reason is None:
        return _decision(previous, reasons, {})
    if previous is not None and reason is not None:
        reasons[previous.id] = reason
    return RouteDecision(account_id=None, refusal=code, reasons=reasons)


def _decision(chosen: AccountSnapshot, reasons: dict[str, str], caps: dict[str, CapUsage]) -> RouteDecision:
    return RouteDecision(account_id=chosen.id, role=chosen.role, probe=chosen.health == "half_open",
                         reasons=reasons, caps=caps)
