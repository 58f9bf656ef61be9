"""Delivery end to end, with a real SMTP server (aiosmtpd) and a real webhook receiver on loopback ports:
each incident arrives once per target even when it is raised again and the dispatch job runs again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from indiepay.alerts import service, tasks
from indiepay.alerts.channels import ChannelsInput, set_channels
from indiepay.alerts.models import Alert, AlertDelivery
from indiepay.alerts.sms import SandboxSmsProvider
from indiepay.cli.demo import WebhookInbox
from indiepay.core.clock import FixedClock
from indiepay.db.jobs.models import Job
from indiepay.merchants.auth import Principal
from indiepay.runtime import Runtime
from tests.alerts.conftest import SmtpInbox, add_merchant


def _configure(runtime: Runtime, merchant_id: str, *, url: str | None = None, emails: tuple[str, ...] = (),
               phones: tuple[str, ...] = ()) -> str:
    with runtime.ctx.db.transaction() as session:
        _, secret = set_channels(session, runtime.ctx.clock, runtime.ctx.vault,
                                 principal=Principal(role="merchant", merchant_id=merchant_id, livemode=True),
                                 request=ChannelsInput(url, True, list(emails), True, list(phones), True))
    assert secret is not None and secret.startswith("alsec_")
    return secret


def _raise(runtime: Runtime, incident: str, merchant_id: str | None, kind: str = "late_payment") -> str:
    with runtime.ctx.db.transaction() as session:
        alert = service.raise_alert(session, runtime.ctx.clock, kind=kind, severity="high",
                                    message=f"money arrived for closed payment {incident}",
                                    dedupe_key=f"{kind}:{incident}", merchant_id=merchant_id,
                                    details={"payment_id": incident})
    runtime.ctx.wake_worker()
    return alert.id


def _deliveries(runtime: Runtime, alert_id: str) -> list[tuple[str, str, str, int]]:
    with runtime.ctx.db.read() as session:
        rows = session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)
                               .order_by(AlertDelivery.channel, AlertDelivery.target))
        return [(d.channel, d.target, d.status, d.attempts) for d in rows]


def _state(runtime: Runtime, alert_id: str) -> str | None:
    with runtime.ctx.db.read() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        return alert.delivery_state


def _jobs(runtime: Runtime, kind: str) -> list[tuple[str, int]]:
    with runtime.ctx.db.read() as session:
        return [(j.status, j.attempts) for j in session.scalars(select(Job).where(Job.kind == kind))]


def test_each_incident_arrives_once_by_email_webhook_and_sms(make_runtime: Any, smtp: SmtpInbox,
                                                              inbox: tuple[WebhookInbox, str]) -> None:
    receiver, url = inbox
    runtime = make_runtime(smtp_host=smtp.host, smtp_port=smtp.port)
    merchant_id = add_merchant(runtime)
    receiver.secret = _configure(runtime, merchant_id, url=url, emails=("ops@tea.example.cn", "boss@tea.example.cn"),
                                 phones=("+8613800138000",))

    first = [_raise(runtime, "pay_1", merchant_id) for _ in range(3)]  # the same incident, three times
    second = _raise(runtime, "pay_2", merchant_id)
    assert len(set(first)) == 1
    runtime.worker.drain()
    tasks.run_dispatch_job(runtime.ctx, {"alert_id": first[0]})  # the job runs again (a crash, a lease...)
    tasks.run_dispatch_job(runtime.ctx, {"alert_id": second})
    runtime.worker.drain()

    for address in ("ops@tea.example.cn", "boss@tea.example.cn"):
        mails = smtp.to(address)
        assert sorted(m["X-IndiePay-Alert-Id"] for m in mails) == sorted([first[0], second])
        assert all(m["Subject"] == "[IndiePay high] late_payment" for m in mails)
        assert "money arrived for closed payment pay_1" in next(
            str(m.get_payload()) for m in mails if m["X-IndiePay-Alert-Id"] == first[0])
    assert len({m["Message-ID"] for _, m in smtp.messages}) == 4  # one per delivery
    assert receiver.rejected == 0
    assert sorted(e["id"] for e in receiver.events) == sorted([first[0], second])  # signed, verified, once
    assert {e["object"] for e in receiver.events} == {"alert"}
    texts = SandboxSmsProvider(runtime.ctx.db, runtime.ctx.clock).messages("+8613800138000")
    assert sorted(t.body for t in texts) == ["IndiePay high: money arrived for closed payment pay_1",
                                             "IndiePay high: money arrived for closed payment pay_2"]
    assert [(c, s, a) for c, _, s, a in _deliveries(runtime, first[0])] == [
        ("email", "sent", 1), ("email", "sent", 1), ("sms", "sent", 1), ("webhook", "sent", 1)]
    assert _jobs(runtime, service.DISPATCH_JOB) == [("done", 1), ("done", 1)]


def test_a_failing_webhook_is_retried_with_backoff_then_dead(make_runtime: Any, inbox: tuple[WebhookInbox, str],
                                                             clock: FixedClock) -> None:
    receiver, url = inbox
    runtime = make_runtime()
    merchant_id = add_merchant(runtime)
    secret = _configure(runtime, merchant_id, url=url)
    receiver.secret = "whsec_not_the_right_one"  # the receiver answers 400 until it learns the secret
    alert_id = _raise(runtime, "pay_9", merchant_id)

    runtime.worker.drain()
    assert _deliveries(runtime, alert_id) == [("webhook", url, "pending", 1)]
    assert _jobs(runtime, service.DISPATCH_JOB) == [("queued", 1)]
    clock.advance(timedelta(seconds=6))  # the first backoff is 5 s
    runtime.worker.drain()
    assert _deliveries(runtime, alert_id) == [("webhook", url, "pending", 2)]

    receiver.secret = secret
    clock.advance(timedelta(seconds=11))
    runtime.worker.drain()
    assert _deliveries(runtime, alert_id) == [("webhook", url, "sent", 3)]
    assert [e["id"] for e in receiver.events] == [alert_id]
    assert receiver.rejected == 2

    other = _raise(runtime, "pay_10", merchant_id)
    receiver.secret = "whsec_wrong_again"
    for _ in range(service.DELIVERY_ATTEMPTS + 2):
        runtime.worker.drain()
        clock.advance(timedelta(hours=1))
    assert _deliveries(runtime, other) == [("webhook", url, "dead", service.DELIVERY_ATTEMPTS)]
    assert _jobs(runtime, service.DISPATCH_JOB)[-1] == ("done", service.DELIVERY_ATTEMPTS)


def test_email_without_smtp_settings_fails_once_with_the_reason(make_runtime: Any) -> None:
    runtime = make_runtime(operator_alert_emails="oncall@platform.example.com")
    alert_id = _raise(runtime, "bill_1", None, kind="bill_hash_mismatch")  # a platform alert: the operator's
    runtime.worker.drain()
    with runtime.ctx.db.read() as session:
        delivery = session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)).one()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "e-mail is not configured: INDIEPAY_SMTP_HOST is not set"
    assert _jobs(runtime, service.DISPATCH_JOB) == [("done", 1)]  # no retry loop


def test_operator_webhook_is_signed_with_the_operator_secret(make_runtime: Any,
                                                            inbox: tuple[WebhookInbox, str]) -> None:
    receiver, url = inbox
    receiver.secret = "opsec_test"
    runtime = make_runtime(operator_alert_webhook_url=url, operator_alert_webhook_secret="opsec_test")
    merchant_id = add_merchant(runtime)
    platform_alert = _raise(runtime, "cert_1", None, kind="key_expiry")
    merchant_alert = _raise(runtime, "pay_1", merchant_id)  # this merchant configured nothing
    runtime.worker.drain()
    assert [e["id"] for e in receiver.events] == [platform_alert]
    assert _state(runtime, merchant_alert) == "no_channels"


def test_rate_limit_suppresses_then_summarises_when_the_window_closes(make_runtime: Any, smtp: SmtpInbox,
                                                                      clock: FixedClock) -> None:
    runtime = make_runtime(smtp_host=smtp.host, smtp_port=smtp.port, alert_rate_limit=2,
                           alert_rate_window_seconds=3600)
    merchant_id = add_merchant(runtime)
    _configure(runtime, merchant_id, emails=("ops@tea.example.cn",))
    late = [_raise(runtime, f"pay_{n}", merchant_id) for n in range(5)]
    review = _raise(runtime, "pay_0", merchant_id, kind="risk_review")  # another kind: its own budget
    runtime.worker.drain()

    assert [_state(runtime, a) for a in late] == ["dispatched", "dispatched", "suppressed", "suppressed",
                                                  "suppressed"]
    assert _state(runtime, review) == "dispatched"
    assert len(smtp.to("ops@tea.example.cn")) == 3
    for alert_id in late:  # running every job again changes nothing: the decision is stored
        tasks.run_dispatch_job(runtime.ctx, {"alert_id": alert_id})
    assert len(smtp.to("ops@tea.example.cn")) == 3

    clock.advance(timedelta(hours=1))
    runtime.worker.drain()
    mails = smtp.to("ops@tea.example.cn")
    assert [m["Subject"] for m in mails][-1] == "[IndiePay warning] alerts_suppressed"
    assert "3 more 'late_payment' alerts were raised" in str(mails[-1].get_payload())
    assert len(mails) == 4
    assert _jobs(runtime, tasks.SUMMARY_JOB) == [("done", 1)]


def test_a_delivery_another_worker_is_sending_is_not_sent_again(make_runtime: Any, smtp: SmtpInbox,
                                                                clock: FixedClock) -> None:
    runtime = make_runtime(smtp_host=smtp.host, smtp_port=smtp.port)
    merchant_id = add_merchant(runtime)
    _configure(runtime, merchant_id, emails=("ops@tea.example.cn",))
    alert_id = _raise(runtime, "pay_1", merchant_id)
    with runtime.ctx.db.transaction() as session:  # plan it, then pretend a worker claimed the delivery
        assert tasks._plan(session, runtime.ctx, alert_id)
        session.execute(update(AlertDelivery).values(status="sending", attempts=1,
                                                     claimed_until=clock.now() + timedelta(minutes=5)))
    outcome = tasks.run_dispatch_job(runtime.ctx, {"alert_id": alert_id})
    assert outcome is not None and outcome.at == clock.now() + timedelta(minutes=5)
    assert smtp.to("ops@tea.example.cn") == []
    clock.advance(timedelta(minutes=6))  # that worker died: its lease ran out, the delivery is taken over
    assert tasks.run_dispatch_job(runtime.ctx, {"alert_id": alert_id}) is None
    assert len(smtp.to("ops@tea.example.cn")) == 1
    assert _deliveries(runtime, alert_id) == [("email", "ops@tea.example.cn", "sent", 2)]



def test_a_merchant_webhook_that_goes_dead_raises_one_alert_per_endpoint_and_day(
        make_runtime: Any, inbox: tuple[WebhookInbox, str], clock: FixedClock) -> None:
    from indiepay.merchants.auth import Principal
    from indiepay.webhooks import service as webhooks

    receiver, url = inbox
    runtime = make_runtime()
    merchant_id = add_merchant(runtime)
    with runtime.ctx.db.transaction() as session:
        webhooks.set_endpoint(session, runtime.ctx, Principal("merchant", merchant_id, livemode=True), url)
        for n in range(2):
            webhooks.emit_event(session, runtime.ctx, merchant_id=merchant_id, livemode=True,
                                type_="payment.succeeded", data={"object": {"id": f"pay_{n}"}},
                                dedupe_key=f"payment.succeeded:pay_{n}")
    receiver.secret = "whsec_not_this_one"  # every delivery is refused
    for _ in range(webhooks.DELIVERY_ATTEMPTS + 1):
        runtime.worker.drain()
        clock.advance(timedelta(hours=1, seconds=1))
    assert _jobs(runtime, webhooks.DELIVERY_JOB) == [("dead", webhooks.DELIVERY_ATTEMPTS)] * 2
    with runtime.ctx.db.read() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.kind == "webhook_delivery_failed")))
    assert len(alerts) == 1  # two events missed, one incident
    assert (alerts[0].merchant_id, alerts[0].severity) == (merchant_id, "high")
    assert alerts[0].details["event_id"].startswith("evt_")
    assert "after 12 attempts" in alerts[0].message
