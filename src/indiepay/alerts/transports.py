"""How an alert leaves the platform: a signed webhook, an e-mail or a text message.

Each transport is an adapter behind one small port (:class:`Transport`), built per delivery from that
delivery's own credentials (the merchant's alert secret, the SMTP settings), never held globally. Vendor
errors are translated at the boundary into :class:`DeliveryError`, which says whether trying again can
help: a recipient the mail server refuses for good, or a channel that is not configured at all (no SMTP
host, no operator webhook secret), is ``permanent``; a timeout, a 5xx of a webhook receiver, an SMTP
server that is down, misconfigured or refusing our login is not.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import httpx

from indiepay.alerts import rules
from indiepay.alerts.models import Alert
from indiepay.alerts.sms import SmsError, SmsProvider
from indiepay.config import Settings
from indiepay.core import outbound
from indiepay.core.clock import Clock
from indiepay.webhooks import signing
from indiepay.webhooks.deadline import post_within

ALERT_ID_HEADER = "IndiePay-Alert-Id"
DELIVERY_ID_HEADER = "IndiePay-Delivery-Id"


class DeliveryError(Exception):
    """A delivery attempt failed; ``permanent`` means retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message[:500])
        self.permanent = permanent


@dataclass(frozen=True)
class AlertMessage:
    """What every transport renders: the alert, and the delivery id that receivers may deduplicate on."""

    delivery_id: str
    alert_id: str
    merchant_id: str | None
    kind: str
    severity: str
    message: str
    details: dict[str, Any]
    created_at: str

    @classmethod
    def of(cls, alert: Alert, delivery_id: str) -> AlertMessage:
        return cls(delivery_id=delivery_id, alert_id=alert.id, merchant_id=alert.merchant_id, kind=alert.kind,
                   severity=alert.severity, message=alert.message, details=dict(alert.details),
                   created_at=alert.created_at.isoformat())

    def json_body(self) -> bytes:
        return json.dumps({"id": self.alert_id, "object": "alert", "kind": self.kind, "severity": self.severity,
                           "merchant_id": self.merchant_id, "message": self.message, "details": self.details,
                           "created_at": self.created_at}, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def subject(self) -> str:
        return f"[IndiePay {self.severity}] {self.kind}"

    def text(self) -> str:
        lines = [self.message, "", f"kind: {self.kind}", f"severity: {self.severity}", f"alert: {self.alert_id}",
                 f"raised at: {self.created_at} (UTC)"]
        if self.merchant_id:
            lines.append(f"merchant: {self.merchant_id}")
        lines += [f"{key}: {value}" for key, value in sorted(self.details.items())]
        return "\n".join(lines) + "\n"

    def short_text(self) -> str:
        """One SMS segment's worth (a text message is no place for details)."""
        return f"IndiePay {self.severity}: {self.message}"[:160]


class Transport(Protocol):
    def send(self, target: str, message: AlertMessage) -> None:
        """Deliver ``message`` to ``target`` once. Raises :class:`DeliveryError`."""


class WebhookTransport:
    """POSTs the alert as JSON, signed like merchant webhooks (``IndiePay-Signature: t=…,v1=…``, HMAC-SHA256
    over ``"<t>." + body``), so a receiver verifies both with :func:`indiepay.webhooks.signing.verify`.
    Only a 2xx counts as delivered; ``timeout`` is the whole exchange's budget
    (:func:`indiepay.webhooks.deadline.post_within`), and running out of it is a failure worth retrying."""

    def __init__(self, http: httpx.Client, secret: str | None, clock: Clock, timeout: float,
                 outbound_policy: str | None = None) -> None:
        self.http = http
        self.secret = secret
        self.clock = clock
        self.timeout = timeout
        # a merchant's URL is checked again before each send (indiepay.core.outbound: its name may point
        # elsewhere by now); None for the operator's own, from the settings
        self.outbound_policy = outbound_policy

    def send(self, target: str, message: AlertMessage) -> None:
        if not self.secret:
            raise DeliveryError("no signing secret for this alert webhook (operator webhooks need "
                                "INDIEPAY_OPERATOR_ALERT_WEBHOOK_SECRET)", permanent=True)
        private_ok = self.outbound_policy is None or outbound.private_allowed(self.outbound_policy, livemode=True)
        if self.outbound_policy is not None:
            reason = outbound.refusal(target, livemode=True, private_ok=private_ok)
            if reason is not None:
                raise DeliveryError(f"refused: {reason}")
        body = message.json_body()
        headers = {"Content-Type": "application/json", ALERT_ID_HEADER: message.alert_id,
                   DELIVERY_ID_HEADER: message.delivery_id,
                   signing.SIGNATURE_HEADER: signing.header_value(self.secret, int(self.clock.now().timestamp()),
                                                                  body)}
        try:
            answer = post_within(self.http, target, content=body, headers=headers, budget=self.timeout,
                                 public_only=not private_ok)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= answer.status_code < 300:
            raise DeliveryError(f"endpoint answered {answer.status_code}")


class EmailTransport:
    """Sends a plain-text e-mail over SMTP (stdlib ``smtplib``), one connection per message.

    The ``Message-ID`` is derived from the delivery id, so a mail system that deduplicates on it drops the
    copy a crash between sending and recording could cause.

    Only a definitive refusal of the recipient itself is final (:func:`.rules.recipient_refused_for_good`).
    Everything else is retried, 5xx or not: no connection, a timeout, a refusal at the greeting, HELO,
    STARTTLS, login, ``MAIL FROM`` or ``DATA`` — an outage or a configuration of the mail server or of ours,
    which someone fixes, after which the alerts raised meanwhile must still arrive.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, target: str, message: AlertMessage) -> None:
        settings = self.settings
        if not settings.smtp_host:
            raise DeliveryError("e-mail is not configured: INDIEPAY_SMTP_HOST is not set", permanent=True)
        mail = EmailMessage()
        mail["From"] = settings.smtp_from
        mail["To"] = target
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{message.delivery_id}@indiepay.alerts>"
        mail["X-IndiePay-Alert-Id"] = message.alert_id
        mail.set_content(message.text())
        try:
            smtp: smtplib.SMTP
            if settings.smtp_ssl:
                smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds)
            with smtp:
                if settings.smtp_starttls and not settings.smtp_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    smtp.login(settings.smtp_username, settings.smtp_password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            refusals = [(code, _text(reply)) for code, reply in exc.recipients.values()]
            raise DeliveryError(f"recipient refused: {'; '.join(f'{c} {t}' for c, t in refusals)}",
                                permanent=all(rules.recipient_refused_for_good(c, t) for c, t in refusals)) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)} (check "
                                "INDIEPAY_SMTP_USERNAME / INDIEPAY_SMTP_PASSWORD)") from exc
        except smtplib.SMTPResponseException as exc:  # greeting, HELO, STARTTLS, MAIL FROM, DATA
            raise DeliveryError(f"SMTP server answered {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


_ADDRESS = re.compile(r"[^\s<>\"']+@[^\s<>\"']+")


def _text(reply: bytes | str) -> str:
    """An SMTP reply's text, for the delivery's ``last_error`` — which the alert list shows, so the addresses
    servers like to echo are masked as the targets are."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _ADDRESS.sub(lambda found: rules.mask_email(found.group()), " ".join(text.split()))[:200]


class SmsTransport:
    """Adapts an :class:`~indiepay.alerts.sms.SmsProvider` to the transport port."""

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    def send(self, target: str, message: AlertMessage) -> None:
        try:
            self.provider.send(target, message.short_text(), message.delivery_id)
        except SmsError as exc:
            raise DeliveryError(str(exc), permanent=exc.permanent) from exc
