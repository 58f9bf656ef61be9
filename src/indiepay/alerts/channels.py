"""Where alerts go: a merchant's alert channels, and the operator's from the settings.

A merchant's channels (one webhook URL, up to ten e-mail addresses and ten phone numbers, each channel
switchable) are one row that ``PUT /v1/alert_channels`` replaces as a whole, audited as
``alert_channels.changed``. Alerts that concern no merchant (a platform account's certificate, a bill
whose hash does not match) go to the operator's channels, read from ``INDIEPAY_OPERATOR_ALERT_*``.

The row is one per merchant, not one per test/live mode, and carries the merchant's live alerts (amounts,
accounts, memos): so only its live key may change it, and a test key — the one handed to developers — may
read it but is refused with ``livemode_required``.

The alert webhook has its own signing secret rather than reusing the merchant's event-webhook secret: the
two endpoints are configured separately (often different systems: the shop's backend vs. an on-call
tool), event webhooks have a secret per test/live mode while alerts are per merchant, and rolling one
secret must not silently break the other receiver. It is generated when the channels are first set (and
on ``rotate_webhook_secret``), sealed by the vault, and shown only in that response.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.alerts import rules
from indiepay.alerts.models import AlertChannels
from indiepay.audit.service import actor_of, record
from indiepay.config import Settings
from indiepay.core import outbound
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest
from indiepay.core.ids import new_id
from indiepay.merchants.auth import Principal
from indiepay.vault.envelope import SealedSecret
from indiepay.vault.keyring import Vault


def secret_aad(merchant_id: str) -> bytes:
    return f"indiepay/alert-webhook-secret/{merchant_id}".encode()


@dataclass(frozen=True)
class ChannelsInput:
    """A requested configuration, as parsed from the API (not yet validated)."""

    webhook_url: str | None
    webhook_enabled: bool
    emails: list[str]
    email_enabled: bool
    phones: list[str]
    sms_enabled: bool
    rotate_webhook_secret: bool = False


@dataclass(frozen=True)
class Target:
    """One place one alert is to be delivered."""

    channel: str  # webhook | email | sms
    address: str


def validate(request: ChannelsInput) -> ChannelsInput:
    """The request with e-mails lower-cased and duplicates dropped (order kept).

    Raises:
        InvalidRequest: ``invalid_webhook_url``, ``invalid_email``, ``invalid_phone`` (``details.value``
            says which) or ``too_many_recipients``.
    """
    url = request.webhook_url.strip() if request.webhook_url else None
    if url is not None and not rules.is_webhook_url(url):
        raise InvalidRequest("webhook_url must be an http(s) URL with a host and no credentials",
                             code="invalid_webhook_url")
    emails = list(dict.fromkeys(e.strip().lower() for e in request.emails))
    phones = list(dict.fromkeys(p.strip() for p in request.phones))
    for email in emails:
        if not rules.is_email(email):
            raise InvalidRequest(f"not an e-mail address: {email!r}", code="invalid_email", details={"value": email})
    for phone in phones:
        if not rules.is_phone(phone):
            raise InvalidRequest(f"not an E.164 phone number (+ country code, digits only): {phone!r}",
                                 code="invalid_phone", details={"value": phone})
    if len(emails) > rules.MAX_EMAILS or len(phones) > rules.MAX_PHONES:
        raise InvalidRequest(f"at most {rules.MAX_EMAILS} e-mail addresses and {rules.MAX_PHONES} phone numbers",
                             code="too_many_recipients")
    return ChannelsInput(url, request.webhook_enabled, emails, request.email_enabled, phones,
                         request.sms_enabled, request.rotate_webhook_secret)


def get_channels(session: Session, merchant_id: str) -> AlertChannels | None:
    return session.scalars(select(AlertChannels).where(AlertChannels.merchant_id == merchant_id)).first()


def check_webhook_url(policy: str, principal: Principal, url: str | None) -> None:
    """Refuse an alert webhook the platform may not send to (:mod:`indiepay.core.outbound`); alert channels
    carry live alerts, so they are judged as a live endpoint. Called before the transaction (it resolves the
    host); what :func:`set_channels` refuses anyway (a caller that may not set them, a malformed URL) is left
    to it, so that its answers come first.

    Raises:
        InvalidRequest (``webhook_url_not_allowed``): with ``details.reason``.
    """
    url = url.strip() if url else None
    if url and principal.merchant_id is not None and principal.livemode and rules.is_webhook_url(url):
        outbound.check(url, livemode=True, policy=policy)


def set_channels(session: Session, clock: Clock, vault: Vault, *, principal: Principal,
                 request: ChannelsInput) -> tuple[AlertChannels, str | None]:
    """Replace the calling merchant's alert channels; returns the row and the new webhook secret, if one
    was made (first configuration or ``rotate_webhook_secret``), which is the only time it is ever shown.

    Raises:
        NotFound (``merchant_key_required``): the operator (its alerts go where the settings say).
        PermissionDenied (``livemode_required``): a test key (see the module docstring); nothing changes.
        InvalidRequest: see :func:`validate`.
    """
    merchant_id = principal.require_merchant()
    principal.require_livemode("Where the merchant's alerts go")
    actor = actor_of(principal)
    request = validate(request)
    now = clock.now()
    row = get_channels(session, merchant_id)
    new_secret, sealed = None, None
    if row is None or request.rotate_webhook_secret:
        new_secret = "alsec_" + secrets.token_urlsafe(32)
        sealed = vault.seal(new_secret, secret_aad(merchant_id)).as_dict()
    if row is None:
        assert sealed is not None
        row = AlertChannels(id=new_id("alch"), merchant_id=merchant_id, webhook_secret=sealed, created_at=now)
        session.add(row)
    elif sealed is not None:
        row.webhook_secret = sealed
    row.webhook_url, row.webhook_enabled = request.webhook_url, request.webhook_enabled
    row.emails, row.email_enabled = request.emails, request.email_enabled
    row.phones, row.sms_enabled = request.phones, request.sms_enabled
    row.updated_at = now
    session.flush()
    record(session, clock, actor=actor, action="alert_channels.changed", target_type="alert_channels",
           target_id=row.id, merchant_id=merchant_id, details={
               "webhook": rules.mask_url(request.webhook_url) if request.webhook_url else None,
               "webhook_enabled": request.webhook_enabled, "emails": len(request.emails),
               "email_enabled": request.email_enabled, "phones": len(request.phones),
               "sms_enabled": request.sms_enabled, "webhook_secret_issued": new_secret is not None})
    return row, new_secret


def secret_last4(row: AlertChannels) -> str:
    return str(SealedSecret.from_dict(row.webhook_secret).last4)


def merchant_targets(row: AlertChannels | None) -> list[Target]:
    """The enabled targets of a merchant's configuration."""
    if row is None:
        return []
    targets = []
    if row.webhook_enabled and row.webhook_url:
        targets.append(Target("webhook", row.webhook_url))
    if row.email_enabled:
        targets += [Target("email", e) for e in row.emails]
    if row.sms_enabled:
        targets += [Target("sms", p) for p in row.phones]
    return targets


def operator_targets(settings: Settings) -> list[Target]:
    """The operator's targets from the settings (invalid entries are kept: their deliveries fail with
    the reason, which is more visible than a silently dropped address)."""
    targets = []
    if settings.operator_alert_webhook_url:
        targets.append(Target("webhook", settings.operator_alert_webhook_url))
    targets += [Target("email", e) for e in rules.split_list(settings.operator_alert_emails)]
    targets += [Target("sms", p) for p in rules.split_list(settings.operator_alert_phones)]
    return targets


def describe(row: AlertChannels | None) -> dict[str, Any]:
    """The configuration as the API shows it to its owner (never the secret itself)."""
    if row is None:
        return {"webhook_url": None, "webhook_enabled": True, "webhook_secret_last4": None, "emails": [],
                "email_enabled": True, "phones": [], "sms_enabled": True, "updated_at": None}
    return {"webhook_url": row.webhook_url, "webhook_enabled": row.webhook_enabled,
            "webhook_secret_last4": secret_last4(row), "emails": list(row.emails),
            "email_enabled": row.email_enabled, "phones": list(row.phones), "sms_enabled": row.sms_enabled,
            "updated_at": row.updated_at}
