"""The ``alerts.dispatch`` job: rate-limit an alert, fan it out to its targets, deliver each once.

One job per alert (queued with the alert, see :func:`.service.raise_alert`). A run has three steps:

1. **Plan** (one transaction, once per alert): find the targets — the merchant's channels, or the
   operator's for an alert with no merchant; an alert about test data goes to webhooks only (a merchant
   trying its integration in the sandbox should not page anyone); take a slot in the (merchant, kind,
   mode) rate window; create one ``alert_deliveries`` row per target. Over the limit, the alert is
   ``suppressed``: stored and listed, not sent, and an ``alerts.summary`` job is queued for the end of
   the window.
2. **Deliver** each pending delivery: claim it (``pending`` → ``sending``, a conditional UPDATE with a
   lease), send it outside any transaction, record ``sent`` / ``pending`` (retry) / ``dead`` / ``failed``.
   A delivery already ``sent`` is never claimed again, so running the job twice sends nothing twice.
3. If a delivery is still pending, raise :class:`AlertDeliveryIncomplete`: the worker retries the job with
   its exponential backoff (capped at an hour), for :data:`.service.DELIVERY_WINDOW` (two days), so an
   SMTP server or a receiver that is down or misconfigured for hours still gets the alert once it is back;
   a delivery whose last attempt fails is ``dead``. Only a failure no retry can fix (a recipient refused
   for good, a channel not configured at all) is ``failed`` at once.

The only duplicate left possible is a crash between a successful send and its record; receivers can
drop it by the delivery id (``IndiePay-Delivery-Id`` header, e-mail ``Message-ID``, SMS reference).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from indiepay.alerts import repository, rules
from indiepay.alerts.channels import Target, get_channels, merchant_targets, operator_targets, secret_aad
from indiepay.alerts.models import Alert, AlertDelivery
from indiepay.alerts.service import DELIVERY_ATTEMPTS, raise_alert
from indiepay.alerts.sms import provider_for
from indiepay.alerts.transports import (
    AlertMessage,
    DeliveryError,
    EmailTransport,
    SmsTransport,
    Transport,
    WebhookTransport,
)
from indiepay.context import ServiceContext
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import enqueue
from indiepay.db.jobs.worker import RetryLater
from indiepay.vault.envelope import SealedSecret

SUMMARY_JOB = "alerts.summary"
SUPPRESSED_SUMMARY = "alerts_suppressed"
LEASE = timedelta(minutes=5)


class AlertDeliveryIncomplete(Exception):
    """Some delivery failed this time and will be retried (the worker backs the job off)."""


def run_dispatch_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Job handler for ``alerts.dispatch`` (idempotent). Raises AlertDeliveryIncomplete to be retried."""
    alert_id = str(args["alert_id"])
    with ctx.db.transaction() as session:
        if not _plan(session, ctx, alert_id):
            return None
    errors: list[str] = []
    busy_until: datetime | None = None
    with ctx.db.read() as session:
        alert = session.get(Alert, alert_id)
        pending = list(session.scalars(select(AlertDelivery).where(
            AlertDelivery.alert_id == alert_id, AlertDelivery.status.in_(("pending", "sending")))))
    assert alert is not None
    for delivery in pending:
        outcome = _deliver(ctx, alert, delivery)
        if isinstance(outcome, datetime):
            busy_until = outcome if busy_until is None else max(busy_until, outcome)
        elif outcome is not None:
            errors.append(outcome)
    if errors:
        raise AlertDeliveryIncomplete("; ".join(errors)[:1000])
    if busy_until is not None:  # another worker is sending one of them: look again when its lease ends
        return RetryLater(busy_until, "a delivery is being sent by another worker")
    return None


def _plan(session: Session, ctx: ServiceContext, alert_id: str) -> bool:
    """Decide once what happens to the alert; True when it has deliveries to look at."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.delivery_state in ("suppressed", "no_channels"):
        return False
    if alert.delivery_state == "dispatched":
        return True
    settings = ctx.settings
    targets = (merchant_targets(get_channels(session, alert.merchant_id)) if alert.merchant_id
               else operator_targets(settings))
    if alert.livemode is False:  # about test data: to the merchant's systems, never to a person's inbox or phone
        targets = [target for target in targets if target.channel == "webhook"]
    if not targets:
        alert.delivery_state = "no_channels"
        return False
    start = rules.window_start(alert.created_at, settings.alert_rate_window_seconds)
    key = rules.rate_key(alert.merchant_id, alert.kind, start, alert.livemode)
    if not repository.take_rate_slot(session, key, start, settings.alert_rate_limit):
        alert.delivery_state = "suppressed"
        if alert.kind != SUPPRESSED_SUMMARY:
            end = start + timedelta(seconds=settings.alert_rate_window_seconds)
            enqueue(session, SUMMARY_JOB, {"merchant_id": alert.merchant_id, "kind": alert.kind,
                                           "window_start": start.isoformat(), "test": alert.livemode is False},
                    now=ctx.clock.now(), run_at=end, unique_key=f"{SUMMARY_JOB}:{key}")
        return False
    now = ctx.clock.now()
    for target in targets:
        repository.add_delivery(session, {"id": new_id("ald"), "alert_id": alert.id, "channel": target.channel,
                                          "target": target.address, "status": "pending", "attempts": 0,
                                          "created_at": now})
    alert.delivery_state = "dispatched"
    return True


def _deliver(ctx: ServiceContext, alert: Alert, delivery: AlertDelivery) -> str | datetime | None:
    """Claim, send and record one delivery. Returns an error to retry, the lease end of a delivery some
    other worker holds, or None (sent, or finished for good)."""
    now = ctx.clock.now()
    with ctx.db.transaction() as session:
        claimed = repository.claim_delivery(session, delivery.id, now=now, lease_until=now + LEASE)
        current = session.get(AlertDelivery, delivery.id)
        assert current is not None
        attempts, status, held_until = current.attempts, current.status, current.claimed_until
        sealed = None
        if claimed and current.channel == "webhook" and alert.merchant_id:
            row = get_channels(session, alert.merchant_id)
            sealed = row.webhook_secret if row is not None else None
    if not claimed:
        return held_until if status == "sending" and held_until is not None else None
    error: DeliveryError | None = None
    try:
        transport = _transport(ctx, Target(delivery.channel, delivery.target), alert.merchant_id, sealed)
        transport.send(delivery.target, AlertMessage.of(alert, delivery.id))
    except DeliveryError as exc:
        error = exc
    with ctx.db.transaction() as session:
        if error is None:
            repository.finish_delivery(session, delivery.id, attempts, status="sent", error=None,
                                       sent_at=ctx.clock.now())
            return None
        status = "failed" if error.permanent else ("dead" if attempts >= DELIVERY_ATTEMPTS else "pending")
        repository.finish_delivery(session, delivery.id, attempts, status=status, error=str(error), sent_at=None)
    return f"{delivery.channel} {delivery.id}: {error}" if status == "pending" else None


def _transport(ctx: ServiceContext, target: Target, merchant_id: str | None,
               sealed: dict[str, Any] | None) -> Transport:
    """The adapter for one delivery, built with that delivery's own credentials."""
    settings = ctx.settings
    if target.channel == "email":
        return EmailTransport(settings)
    if target.channel == "sms":
        return SmsTransport(provider_for(settings.sms_provider, ctx.db, ctx.clock))
    if merchant_id is None:
        secret = settings.operator_alert_webhook_secret
    elif sealed is None:
        raise DeliveryError("the merchant's alert channels are gone", permanent=True)
    else:
        secret = ctx.vault.open(SealedSecret.from_dict(sealed), secret_aad(merchant_id))
    return WebhookTransport(ctx.adapters.http, secret, ctx.clock, settings.webhook_timeout_seconds,
                            outbound_policy=None if merchant_id is None else settings.outbound_private_targets)


def run_summary_job(ctx: ServiceContext, args: dict[str, Any]) -> None:
    """Job handler for ``alerts.summary``: when a rate window closes, one alert saying how many alerts of
    that kind were suppressed in it (delivered like any alert, rate-limited under its own kind)."""
    merchant_id = args.get("merchant_id")
    kind = str(args["kind"])
    test = bool(args.get("test", False))  # the window of alerts about test data (see rules.rate_key)
    start = datetime.fromisoformat(str(args["window_start"]))
    end = start + timedelta(seconds=ctx.settings.alert_rate_window_seconds)
    with ctx.db.transaction() as session:
        query = select(func.count()).select_from(Alert).where(
            Alert.kind == kind, Alert.delivery_state == "suppressed", Alert.created_at >= start,
            Alert.created_at < end,
            Alert.merchant_id == merchant_id if merchant_id is not None else Alert.merchant_id.is_(None),
            Alert.livemode.is_(False) if test else or_(Alert.livemode.is_(None), Alert.livemode.is_(True)))
        suppressed = int(session.scalar(query) or 0)
        if suppressed == 0:
            return
        raise_alert(session, ctx.clock, kind=SUPPRESSED_SUMMARY, severity="warning", merchant_id=merchant_id,
                    message=(f"{suppressed} more '{kind}' alert{'s were' if suppressed != 1 else ' was'} raised "
                             f"between {start.isoformat()} and {end.isoformat()} but not sent (rate limit "
                             f"{ctx.settings.alert_rate_limit} per window); see GET /v1/alerts?kind={kind}"),
                    dedupe_key=(f"{SUPPRESSED_SUMMARY}:{merchant_id or 'operator'}:{kind}:{int(start.timestamp())}"
                                + (":test" if test else "")),
                    details={"kind": kind, "suppressed": suppressed, "window_start": start.isoformat(),
                             "window_end": end.isoformat()}, livemode=False if test else None)
