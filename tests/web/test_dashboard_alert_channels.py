"""Where a merchant's alerts go, set from the dashboard's alerts page as ``PUT /v1/alert_channels`` sets it
(the webhook's signing secret shown once, addresses checked the same way; the live key only), and each alert
listed with the channels it was sent to; read-only and test keys look, the operator's page has no such
panel."""

from __future__ import annotations

import time

from indiepay.alerts.service import raise_alert
from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, signed_in


def test_a_merchant_sets_where_its_alerts_go(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.live))
    page = client.get("/dashboard/alerts").text
    assert 'id="alert-channels-form"' in page
    form = {"csrf": csrf(page), "channels_form": "1", "webhook_url": "https://ops.example.com/alerts",
            "webhook_enabled": "1",
            "emails": "Ops@Example.com\nfinance@example.com, ops@example.com", "email_enabled": "1",
            "phones": "+8613800138000", "sms_enabled": "1"}
    bad = client.post("/dashboard/alerts/channels", data={**form, "phones": "13800138000"})
    assert bad.status_code == 400 and "invalid_phone" in bad.text
    assert merchant.live.get("/v1/alert_channels").json()["updated_at"] is None  # nothing stored
    saved = client.post("/dashboard/alerts/channels", data=form)
    assert saved.status_code == 200 and 'id="alert-secret"' in saved.text
    secret = saved.text.split('id="alert-secret">', 1)[1].split("<", 1)[0]
    stored = merchant.live.get("/v1/alert_channels").json()
    assert stored["emails"] == ["ops@example.com", "finance@example.com"] and stored["phones"] == ["+8613800138000"]
    assert stored["webhook_secret_last4"] == secret[-4:] and secret not in client.get("/dashboard/alerts").text
    # unticking a channel turns it off; the rest of the form stands
    client.post("/dashboard/alerts/channels", data={k: v for k, v in form.items() if k != "email_enabled"})
    assert merchant.live.get("/v1/alert_channels").json()["email_enabled"] is False

    with platform.runtime.ctx.db.transaction() as session:
        alert = raise_alert(session, platform.clock, kind="large_amount", severity="warning",
                            message="A payment of ¥50,000.00", dedupe_key=f"dash-{merchant.id}",
                            merchant_id=merchant.id, livemode=True)
        alert_id = alert.id
    deadline = time.monotonic() + 30
    while "+86*******8000" not in (listed := client.get("/dashboard/alerts").text):
        platform.runtime.worker.wake()
        assert time.monotonic() < deadline, "the alert was not sent"
        time.sleep(0.2)
    assert "sms +86*******8000" in listed and "A payment of ¥50,000.00" in listed
    sent = platform.sql("SELECT channel, status FROM alert_deliveries WHERE alert_id = :a ORDER BY channel",
                        a=alert_id)
    assert ("sms", "sent") in sent and not any(channel == "email" for channel, _ in sent)  # e-mail was off


def test_the_panel_is_the_merchants_to_change(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    made = merchant.live.post("/v1/api_keys", json={"mode": "live", "read_only": True})
    reader = signed_in(platform, made.json()["key"])
    look = reader.get("/dashboard/alerts").text
    assert 'id="alert-channels-form"' not in look and "Where alerts go" in look
    refused = reader.post("/dashboard/alerts/channels", data={"csrf": csrf(look), "emails": "a@example.com"})
    assert refused.status_code == 403 and "read_only_key" in refused.text
    client = signed_in(platform, key_of(merchant.live))
    no_token = client.post("/dashboard/alerts/channels", data={"emails": "a@example.com"})
    assert no_token.status_code == 403 and "csrf_failed" in no_token.text
    token = csrf(client.get("/dashboard/alerts").text)
    nothing = client.post("/dashboard/alerts/channels", data={"csrf": token})  # not the page's form
    assert nothing.status_code == 400 and "invalid_form" in nothing.text
    too_many = client.post("/dashboard/alerts/channels", data={
        "csrf": token, "channels_form": "1", "emails": " ".join(f"a{n}@example.com" for n in range(60))})
    assert too_many.status_code == 400 and "invalid_alert_channels" in too_many.text
    assert merchant.live.get("/v1/alert_channels").json()["emails"] == []
    operator = signed_in(platform, platform.settings.admin_key)
    assert "Where alerts go" not in operator.get("/dashboard/alerts").text
    assert operator.post("/dashboard/alerts/channels", data={}).headers["location"] == "/dashboard"


def test_a_test_key_sees_where_alerts_go_but_cannot_redirect_them(platform: PlatformUnderTest) -> None:
    """The channels carry the merchant's live alerts: signed in with a test key the page lists them without
    the form (and without the secret), and a post made anyway is refused before anything is read or stored."""
    merchant = platform.merchant()
    live_set = merchant.live.put("/v1/alert_channels", json={"webhook_url": "https://ops.example.com/live-alerts",
                                                             "emails": ["cfo@example.com"]})
    assert live_set.status_code == 200, live_set.text
    secret = live_set.json()["webhook_secret"]
    before = merchant.live.get("/v1/alert_channels").json()
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/alerts").text
    assert "Where alerts go" in page and "https://ops.example.com/live-alerts" in page and "cfo@example.com" in page
    assert 'id="alert-channels-form"' not in page and 'id="alert-channels-live-only"' in page
    assert secret not in page
    hijack = client.post("/dashboard/alerts/channels", data={
        "csrf": csrf(page), "channels_form": "1", "webhook_url": "https://attacker.example.net/x",
        "webhook_enabled": "1", "emails": "", "rotate_webhook_secret": "1"})
    assert hijack.status_code == 403 and "livemode_required" in hijack.text
    assert 'id="alert-secret"' not in hijack.text
    assert merchant.live.get("/v1/alert_channels").json() == before
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'alert_channels.changed'") == [(1,)]
