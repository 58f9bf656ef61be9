"""``GET /v1/alerts`` and ``PUT /v1/alert_channels`` over real HTTP, and the acceptance: an alert arrives
at a real local SMTP server and at a webhook, once per incident, through a running platform."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from indiepay.alerts import service
from indiepay.cli.demo import WebhookInbox
from tests.alerts.conftest import SmtpInbox
from tests.support.platform import MerchantClient, PlatformUnderTest, start_platform


@pytest.fixture
def running(tmp_path: Path, smtp: SmtpInbox) -> Iterator[PlatformUnderTest]:
    with start_platform(tmp_path, f"sqlite:///{tmp_path / 'indiepay.db'}", mount_sandbox=False,
                        outbound_private_targets="all",
                        smtp_host=smtp.host, smtp_port=smtp.port) as platform:
        yield platform


def _raise(platform: PlatformUnderTest, merchant_id: str | None, incident: str, kind: str = "late_payment",
           severity: str = "high", livemode: bool | None = None) -> str:
    ctx = platform.runtime.ctx
    with ctx.db.transaction() as session:
        alert_id = service.raise_alert(session, ctx.clock, kind=kind, severity=severity, message=f"incident {incident}",
                                       dedupe_key=f"{kind}:{incident}", merchant_id=merchant_id,
                                       livemode=livemode).id
    ctx.wake_worker()
    return alert_id


def _wait(check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_alerts_arrive_by_smtp_and_webhook_once_per_incident(running: PlatformUnderTest, smtp: SmtpInbox,
                                                             inbox: tuple[WebhookInbox, str]) -> None:
    receiver, url = inbox
    merchant = running.merchant()
    response = merchant.live.put("/v1/alert_channels", json={"webhook_url": url, "emails": ["Ops@Tea.example.cn"]})
    assert response.status_code == 200, response.text
    receiver.secret = response.json()["webhook_secret"]

    ids = {_raise(running, merchant.id, "pay_1") for _ in range(5)}  # one incident raised five times
    assert len(ids) == 1
    alert_id = ids.pop()
    _wait(lambda: len(receiver.events) == 1 and len(smtp.to("ops@tea.example.cn")) == 1)
    _wait(lambda: all(d["status"] == "sent" for d in merchant.api.get(f"/v1/alerts/{alert_id}").json()["deliveries"]))
    _raise(running, merchant.id, "pay_1")  # and once more after delivery
    time.sleep(0.5)  # give the worker every chance to send a duplicate
    assert [e["id"] for e in receiver.events] == [alert_id]
    assert [m["X-IndiePay-Alert-Id"] for m in smtp.to("ops@tea.example.cn")] == [alert_id]

    listed = merchant.api.get("/v1/alerts").json()
    assert [a["id"] for a in listed["data"]] == [alert_id]
    deliveries = listed["data"][0]["deliveries"]
    assert [(d["channel"], d["target"], d["status"]) for d in deliveries] == [
        ("email", "o***@tea.example.cn", "sent"), ("webhook", url, "sent")]
    assert listed["data"][0]["delivery_state"] == "dispatched"


def test_put_alert_channels_validates_replaces_and_is_audited(running: PlatformUnderTest) -> None:
    merchant = running.merchant()
    assert merchant.live.get("/v1/alert_channels").json()["emails"] == []
    first = merchant.live.put("/v1/alert_channels", json={
        "webhook_url": "https://hooks.tea.example.cn/alerts", "emails": ["a@tea.example.cn", "A@tea.example.cn"],
        "phones": ["+8613800138000"]})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["webhook_secret"].startswith("alsec_")
    assert body["webhook_secret_last4"] == body["webhook_secret"][-4:]
    assert body["emails"] == ["a@tea.example.cn"]  # lower-cased, de-duplicated

    second = merchant.live.put("/v1/alert_channels", json={"emails": ["b@tea.example.cn"], "sms_enabled": False})
    assert second.status_code == 200
    assert second.json()["webhook_secret"] is None  # shown once; kept until rotated
    stored = merchant.api.get("/v1/alert_channels").json()  # per merchant: the test key reads it too
    assert (stored["webhook_url"], stored["emails"], stored["phones"], stored["sms_enabled"]) == (
        None, ["b@tea.example.cn"], [], False)  # replaced, not merged
    assert stored["webhook_secret_last4"] == body["webhook_secret_last4"]
    rotated = merchant.live.put("/v1/alert_channels", json={"rotate_webhook_secret": True}).json()
    assert rotated["webhook_secret"] and rotated["webhook_secret"] != body["webhook_secret"]

    events = running.admin.get("/v1/audit_events", params={"action": "alert_channels.changed"}).json()
    assert [e["merchant_id"] for e in events] == [merchant.id] * 3
    assert events[0]["details"]["webhook_secret_issued"] is True
    assert "alsec_" not in str(events)


BAD_CHANNELS = [
    ({"webhook_url": "ftp://example.com/x"}, "invalid_webhook_url"),
    ({"webhook_url": "https://user:pw@example.com/x"}, "invalid_webhook_url"),
    ({"emails": ["not-an-address"]}, "invalid_email"),
    ({"phones": ["13800138000"]}, "invalid_phone"),
    ({"emails": [f"u{n}@tea.example.cn" for n in range(11)]}, "too_many_recipients"),
    ({"merchant_id": "mch_other"}, "unknown_field"),
    ({"emails": "a@tea.example.cn"}, "invalid_request"),
]


def test_bad_alert_channels_are_refused_with_stable_codes(running: PlatformUnderTest) -> None:
    merchant = running.merchant()
    for body, code in BAD_CHANNELS:  # one platform for all cases: starting one per case is slow
        response = merchant.live.put("/v1/alert_channels", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == code, body
    assert merchant.live.get("/v1/alert_channels").json()["updated_at"] is None  # nothing written


def test_merchants_see_only_their_own_alerts_and_the_operator_sees_all(running: PlatformUnderTest) -> None:
    a, b = running.merchant("Tea Shop"), running.merchant("Noodle Bar")
    a_alerts = [_raise(running, a.id, f"a{n}", severity="high" if n % 2 else "warning") for n in range(5)]
    b_alert = _raise(running, b.id, "b0", kind="risk_review")
    platform_alert = _raise(running, None, "bill", kind="bill_hash_mismatch", severity="critical")

    def ids(client: MerchantClient | Any, **params: Any) -> list[str]:
        http = client.api if isinstance(client, MerchantClient) else client
        response = http.get("/v1/alerts", params=params)
        assert response.status_code == 200, response.text
        return [alert["id"] for alert in response.json()["data"]]

    assert set(ids(a)) == set(a_alerts)
    assert ids(b) == [b_alert]
    assert b.api.get(f"/v1/alerts/{a_alerts[0]}").status_code == 404
    assert b.api.post(f"/v1/alerts/{a_alerts[0]}/acknowledge").json()["error"]["code"] == "alert_not_found"
    assert b.api.get("/v1/alerts", params={"merchant_id": a.id}).status_code == 400
    assert b.api.get("/v1/alerts", params={"starting_after": a_alerts[0]}).json()["error"]["code"] == "invalid_cursor"

    assert set(ids(running.admin)) == {*a_alerts, b_alert, platform_alert}
    assert ids(running.admin, merchant_id=b.id) == [b_alert]
    assert ids(running.admin, kind="bill_hash_mismatch") == [platform_alert]
    assert set(ids(a, severity="high")) == {a_alerts[1], a_alerts[3]}
    assert ids(a, since="2999-01-01T00:00:00Z") == []
    assert a.api.get("/v1/alerts", params={"since": "2030-01-01T00:00:00"}).json()["error"]["code"] == "invalid_since"

    pages, cursor = [], None
    while True:
        page = a.api.get("/v1/alerts", params={"limit": 2, **({"starting_after": cursor} if cursor else {})}).json()
        pages.append([alert["id"] for alert in page["data"]])
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for page in pages for i in page] == ids(a)  # newest first, no gaps or repeats

    acked = a.api.post(f"/v1/alerts/{a_alerts[0]}/acknowledge").json()
    assert acked["acknowledged_by"] == f"merchant:{a.id}" and acked["acknowledged_at"]
    again = a.api.post(f"/v1/alerts/{a_alerts[0]}/acknowledge").json()
    assert again["acknowledged_at"] == acked["acknowledged_at"]


def test_a_test_key_reads_the_alert_channels_but_cannot_redirect_them(running: PlatformUnderTest) -> None:
    """The channels are one per merchant and carry its live alerts (amounts, accounts, memos): a test key
    replacing the webhook (and rotating its secret) would send the live alerts elsewhere. It is refused
    whatever it asks, nothing changes and nothing is audited as changed; it still reads them, secret-free."""
    merchant = running.merchant()
    live_set = merchant.live.put("/v1/alert_channels", json={
        "webhook_url": "https://ops.tea.example.cn/live-alerts", "emails": ["cfo@tea.example.cn"],
        "phones": ["+8613800138000"]})
    assert live_set.status_code == 200, live_set.text
    secret = live_set.json()["webhook_secret"]
    before = merchant.live.get("/v1/alert_channels").json()
    for body in ({"webhook_url": "https://attacker.example.net/x", "rotate_webhook_secret": True},
                 {"emails": [], "phones": [], "webhook_enabled": False},
                 {"webhook_url": "ftp://not-even-valid"}):
        refused = merchant.api.put("/v1/alert_channels", json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "livemode_required"
    assert merchant.live.get("/v1/alert_channels").json() == before
    seen_by_test = merchant.api.get("/v1/alert_channels")
    assert seen_by_test.status_code == 200 and seen_by_test.json() == before
    assert seen_by_test.json()["webhook_secret"] is None and secret not in seen_by_test.text
    assert seen_by_test.json()["webhook_secret_last4"] == secret[-4:]
    events = running.admin.get("/v1/audit_events", params={"action": "alert_channels.changed"}).json()
    assert len(events) == 1 and events[0]["actor"] == f"merchant:{merchant.id}"


def test_the_operator_has_no_alert_channels_of_its_own_through_the_api(running: PlatformUnderTest) -> None:
    response = running.admin.put("/v1/alert_channels", json={"emails": ["ops@platform.example.com"]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "merchant_key_required"


def test_each_key_sees_its_modes_alerts_and_test_alerts_reach_webhooks_only(
        running: PlatformUnderTest, smtp: SmtpInbox, inbox: tuple[WebhookInbox, str]) -> None:
    receiver, url = inbox
    merchant = running.merchant()
    response = merchant.live.put("/v1/alert_channels", json={"webhook_url": url, "emails": ["ops@tea.example.cn"]})
    assert response.status_code == 200, response.text
    receiver.secret = response.json()["webhook_secret"]
    test_alert = _raise(running, merchant.id, "sandbox_pay", livemode=False)
    live_alert = _raise(running, merchant.id, "live_pay", livemode=True)
    neither = _raise(running, merchant.id, "summary", kind="alerts_suppressed", severity="warning")

    def listed(client: Any) -> set[str]:
        return {alert["id"] for alert in client.get("/v1/alerts").json()["data"]}

    assert listed(merchant.api) == {test_alert, neither}  # the test key
    assert listed(merchant.live) == {live_alert, neither}
    assert listed(running.admin) >= {test_alert, live_alert, neither}
    hidden = merchant.api.get(f"/v1/alerts/{live_alert}")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "alert_not_found"
    assert merchant.api.post(f"/v1/alerts/{live_alert}/acknowledge").status_code == 404
    assert merchant.live.get(f"/v1/alerts/{live_alert}").json()["livemode"] is True

    _wait(lambda: {e["id"] for e in receiver.events} == {test_alert, live_alert, neither}
          and len(smtp.to("ops@tea.example.cn")) == 2)
    time.sleep(0.5)  # every chance to send the test alert by e-mail as well
    assert {m["X-IndiePay-Alert-Id"] for m in smtp.to("ops@tea.example.cn")} == {live_alert, neither}
    channels = [d["channel"] for d in merchant.api.get(f"/v1/alerts/{test_alert}").json()["deliveries"]]
    assert channels == ["webhook"]
