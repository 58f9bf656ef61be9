"""Routing a new payment: take the snapshot, let :func:`indiepay.routing.rules.route` choose, and turn a
refusal into the error a merchant can act on.

Runs inside the payment's write transaction with the merchant row locked, so a merchant's own accounts'
daily usage cannot move under it. A *platform* account is shared by every merchant in platform collection:
its row is locked once chosen and its usage read again, and if another merchant's payment took the
remaining cap meanwhile, routing runs again with the fresh figure.

Health comes from the process's :class:`~indiepay.routing.health.HealthRegistry`, fed by every channel call
(:func:`record_outcome`). A half-open account takes the payment only if this process claims its probe slot.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.orm import Session

from indiepay.accounts import repository as accounts_repository
from indiepay.accounts.models import ChannelAccount
from indiepay.channels.base import ChannelMethod
from indiepay.core.errors import ChannelUnavailable, Unprocessable
from indiepay.routing import repository, rules
from indiepay.routing.health import HealthRegistry

METHODS_BY_CHANNEL: dict[str, frozenset[str]] = {
    channel: frozenset(m.value for m in ChannelMethod if m.channel == channel)
    for channel in {m.channel for m in ChannelMethod}}

@dataclass(frozen=True)
class Chosen:
    """The account routing chose, and what it has taken today when it has a daily cap (else None)."""

    account: ChannelAccount
    used_today: int | None


_pick = random.Random()  # traffic splitting, not secrecy: a seeded-from-OS PRNG is what it needs


def choose_account(session: Session, health: HealthRegistry, *, merchant_id: str | None, channel: str,
                   environment: str, method: str, amount: int, day: date,
                   used_today: Mapping[str, int] | None = None,
                   accounts: Sequence[repository.RoutableAccount] | None = None) -> Chosen:
    """The account the payment goes to, among the merchant's (``merchant_id`` None: the platform's).

    ``used_today``: what the merchant's own accounts have counted today, when the caller measured it already
    (admission does, in the statement that measures the merchant); absent accounts have taken nothing.
    Ignored for the platform's shared accounts, whose usage spans merchants and is read here.
    ``accounts``: the merchant's accounts of this channel and environment, when the caller read them already
    in this transaction (admission carries them in its measure); else they are read here.

    Raises:
        Unprocessable: ``no_channel_account`` (none serves the request), ``account_suspended`` (every one
            that would is suspended), ``limit_exceeded`` (every one is at its daily cap; ``details``: limit
            ``account_daily``, value, used, remaining — of the account with the most room — and amount; of
            the platform's shared accounts only limit and amount, their usage being other merchants' volume).
        ChannelUnavailable: ``channel_unavailable`` (every one that would is unhealthy: breakers open).
    """
    if accounts is None or merchant_id is None:
        accounts = repository.accounts_of(session, merchant_id, channel, environment)
    by_id = {account.id: account for account in accounts}
    if merchant_id is not None and used_today is not None:
        used: Mapping[str, int] = used_today
    else:
        capped = [account_id for account_id, account in by_id.items() if account.daily_cap is not None]
        used = repository.used_today(session, capped, day)
    availability = health.availabilities(by_id)
    snapshot = [_snapshot(account, availability[account.id], used.get(account.id, 0))
                for account in by_id.values()]
    request = rules.RouteRequest(channel=channel, environment=environment, method=method, amount=amount)
    for _ in range(2 * len(snapshot) + 1):  # each retry marks one account as unable: this always ends
        decision = rules.route(snapshot, request, pick=_pick.random())
        if decision.account_id is None:
            raise _refusal(decision, request, merchant_id)
        chosen = by_id[decision.account_id]
        if decision.probe and not health.admit(chosen.id):
            snapshot = _with(snapshot, chosen.id, health="open")
            continue
        chosen_used = used.get(chosen.id, 0) if chosen.daily_cap is not None else None
        shared_cap = chosen.daily_cap is not None and chosen.merchant_id is None
        # the payment is written with the account's own fields: load it (locked when its cap is shared, so
        # that the cap holds while we write)
        account = accounts_repository.get_account(session, chosen.id, lock=shared_cap)
        assert account is not None  # read in this transaction; accounts are never deleted
        if shared_cap:
            chosen_used = repository.used_today(session, [chosen.id], day).get(chosen.id, 0)
            if account.daily_cap is not None and chosen_used + amount > account.daily_cap:  # the locked row's
                snapshot = _with(snapshot, chosen.id, used_today=chosen_used)
                continue
        return Chosen(account, chosen_used)
    raise ChannelUnavailable("no channel account could take the payment now; try again",
                             code="channel_unavailable", details={"channel": channel, "environment": environment})


def record_outcome(health: HealthRegistry, account_id: str, outcome: str) -> None:
    """Feed one channel call's outcome (ok | rejected | retryable | unknown) to the account's breaker."""
    health.record(account_id, outcome)


def _snapshot(account: repository.RoutableAccount, availability: str, used_today: int) -> rules.AccountSnapshot:
    role = account.role if account.role in ("primary", "backup") else "backup"
    return rules.AccountSnapshot(
        id=account.id, channel=account.channel, environment=account.environment,
        methods=METHODS_BY_CHANNEL.get(account.channel, frozenset()), role=role,  # type: ignore[arg-type]
        weight=account.weight, enabled=account.status == "active", health=availability,  # type: ignore[arg-type]
        daily_cap=account.daily_cap, used_today=used_today)


def _with(snapshot: list[rules.AccountSnapshot], account_id: str, **changes: object) -> list[rules.AccountSnapshot]:
    return [replace(account, **changes) if account.id == account_id else account  # type: ignore[arg-type]
            for account in snapshot]


def _refusal(decision: rules.RouteDecision, request: rules.RouteRequest,
             merchant_id: str | None) -> Unprocessable | ChannelUnavailable:
    whose = "merchant" if merchant_id is not None else "platform"
    where = {"channel": request.channel, "environment": request.environment}
    if decision.refusal == rules.OVER_DAILY_CAP:
        if merchant_id is None:  # the platform's cap is shared: its figures are every merchant's volume
            return Unprocessable(f"a payment of {request.amount} fen would pass the daily cap of the platform's "
                                 f"{request.channel} accounts, which every merchant collecting through the platform "
                                 "shares", code="limit_exceeded",
                                 details={"limit": "account_daily", "amount": request.amount})
        usage = max(decision.caps.values(), key=lambda cap: cap.remaining)
        return Unprocessable(
            f"a payment of {request.amount} fen would pass the channel account's daily cap of {usage.daily_cap} "
            f"fen ({usage.remaining} fen remain)", code="limit_exceeded",
            details={"limit": "account_daily", "value": usage.daily_cap, "used": usage.used_today,
                     "remaining": usage.remaining, "amount": request.amount})
    if decision.refusal == rules.DISABLED:
        return Unprocessable(f"payments are paused: the {whose}'s {request.channel} accounts are suspended",
                             code="account_suspended", details=where)
    if decision.refusal == rules.CIRCUIT_OPEN:
        return ChannelUnavailable(f"the {whose}'s {request.channel} accounts are failing; try again shortly",
                                  code="channel_unavailable", details=where)
    return Unprocessable(f"no active {request.environment} {request.channel} account of the {whose}",
                         code="no_channel_account", details={**where, "reason": decision.refusal or "no_account"})
