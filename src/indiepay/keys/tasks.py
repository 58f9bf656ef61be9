"""The daily ``keys.check`` job, kept in the job table (no second scheduler).

Each Beijing calendar day ``D`` has one ``keys.check`` job (unique key per date) due at ``D 09:00``
Beijing time. The job first queues ``D+1``'s job, so the chain renews itself, then walks the active
channel accounts and raises the rotation reminders and expiry alerts that are due
(:func:`indiepay.keys.expiry.reminders_due`), and forgets credentials a rotation replaced whose grace
window has ended (:func:`indiepay.accounts.rotation.drop_expired_previous`). Alerts carry the dedupe keys
``key_expiry:<account>:<days>@<expiry date>`` / ``key_rotation:<account>:<days>@<issue time>``, so each
fires once however often the job runs, and starts over for new credentials.
``CHAIN.seed`` (:class:`~indiepay.db.jobs.daily.DailyChain`) starts the chain when a worker starts; safe from
every worker at once.

The keys' issue time is when the account's current credentials were entered: its creation or its last
rotation (``updated_at``, which nothing else moves).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.rotation import drop_expired_previous
from indiepay.alerts.models import Alert
from indiepay.alerts.service import raise_alert
from indiepay.core.clock import BUSINESS_TZ, Clock, as_utc, business_day
from indiepay.db.engine import Database
from indiepay.db.jobs.daily import DailyChain
from indiepay.db.jobs.worker import RetryLater
from indiepay.keys.expiry import EXPIRY, ROTATION, Reminder, reminders_due

log = logging.getLogger(__name__)
CHECK_JOB = "keys.check"
RUN_HOUR = 9  # Beijing time


def run_at(day: date) -> datetime:
    """When ``day``'s check runs: 09:00 Beijing time that day, as aware UTC."""
    return datetime.combine(day, time(RUN_HOUR), tzinfo=BUSINESS_TZ).astimezone(UTC)


def generation(kind: str, issued_at: datetime, expires_at: datetime | None) -> str:
    """Which keys a reminder is about: a rotation reminder counts from when the current credentials were
    entered, an expiry alert concerns one expiry date — so after a rotation (new keys, a new certificate)
    the 90/180-day reminders and the 30/7/1-day alerts start over instead of being taken as already sent."""
    if kind == EXPIRY and expires_at is not None:
        return f"{expires_at:%Y%m%d}"
    return f"{issued_at:%Y%m%dT%H%M%S}"


def dedupe_key(kind: str, account_id: str, days: int, gen: str) -> str:
    return f"{kind}:{account_id}:{days}@{gen}"


CHAIN = DailyChain(CHECK_JOB, run_at, business_day)  # seeded with today's check: checking twice changes nothing


def run_check_job(db: Database, clock: Clock, args: dict[str, Any]) -> RetryLater | None:
    """Job: queue tomorrow's check, then raise the reminders due now for every active account."""
    day = CHAIN.start_day(db, clock, args)
    if isinstance(day, RetryLater):
        return day
    with db.transaction() as session:
        raised = check_accounts(session, clock)
    with db.transaction() as session:
        dropped = drop_expired_previous(session, clock)
    log.info("key check of %s: %d reminder(s) raised, %d expired previous credential set(s) dropped",
             day, raised, dropped)
    return None


def check_accounts(session: Session, clock: Clock) -> int:
    """Raise the reminders due now for every active account; returns how many were raised."""
    now = clock.now()
    accounts = session.scalars(select(ChannelAccount).where(ChannelAccount.status == "active")
                               .order_by(ChannelAccount.id)).all()
    sent = _sent(session)
    raised = 0
    for account in accounts:
        expires_at = as_utc(account.credentials_expire_at) if account.credentials_expire_at else None
        issued_at = as_utc(account.updated_at)  # set when the account is created and when its credentials rotate
        current = {(kind, days) for kind, days, gen in sent.get(account.id, set())
                   if gen == generation(kind, issued_at, expires_at)}
        for reminder in reminders_due(now, issued_at, expires_at, current):
            _raise(session, clock, account, reminder, issued_at, expires_at)
            raised += 1
    return raised


def _sent(session: Session) -> dict[str, set[tuple[str, int, str]]]:
    """Per account, the (kind, days, generation) slots already alerted, read back from the dedupe keys."""
    keys = session.scalars(select(Alert.dedupe_key).where(Alert.kind.in_((EXPIRY, ROTATION))))
    sent: dict[str, set[tuple[str, int, str]]] = {}
    for key in keys:
        kind, account_id, slot = [*key.split(":"), "", ""][:3]
        days, _, gen = slot.partition("@")
        if kind in (EXPIRY, ROTATION) and days.isdigit():
            sent.setdefault(account_id, set()).add((kind, int(days), gen))
    return sent


def _raise(session: Session, clock: Clock, account: ChannelAccount, reminder: Reminder, issued_at: datetime,
           expires_at: datetime | None) -> None:
    where = f"{account.channel} account {account.id} ({account.environment})"
    if reminder.kind == EXPIRY:
        assert expires_at is not None
        message = (f"a certificate of {where} expires on {expires_at.date().isoformat()} "
                   f"(in {reminder.days} day{'s' if reminder.days != 1 else ''} or less): renew it and update "
                   "the account's credentials")
    else:
        message = (f"the keys of {where} were issued {reminder.days} days ago: rotate them "
                   "(DESIGN §8: every 3–6 months)")
    details: dict[str, Any] = {"account_id": account.id, "channel": account.channel,
                               "environment": account.environment, "days": reminder.days}
    if expires_at is not None:
        details["expires_at"] = expires_at.isoformat()
    raise_alert(session, clock, kind=reminder.kind, severity=reminder.severity, message=message,
                dedupe_key=dedupe_key(reminder.kind, account.id, reminder.days,
                                      generation(reminder.kind, issued_at, expires_at)),
                merchant_id=account.merchant_id, details=details, livemode=account.environment == "production")
