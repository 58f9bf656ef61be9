"""The dashboard over real loopback HTTP: sign-in with an API key (never stored, never in the cookie), the
merchant's pages scoped like the API (mode, tenancy), CSRF on every form, refunds and reconciliation
resolved from it, the operator's kill switch, and no secret on any page."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from indiepay.dashboard.service import COOKIE
from tests.e2e.test_reconciliation_round_trip import DAY, reconcile, trade_day
from tests.support.platform import MerchantClient, PlatformUnderTest


def browser(platform: PlatformUnderTest) -> httpx.Client:
    client = httpx.Client(base_url=platform.base_url, timeout=60, follow_redirects=False)
    platform.clients.append(client)
    return client


def key_of(client: httpx.Client) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


def signed_in(platform: PlatformUnderTest, key: str) -> httpx.Client:
    client = browser(platform)
    response = client.post("/dashboard/login", data={"api_key": key})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard", response.text
    return client


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no {name} on the page"
    return found.group(1)


def paid_payment(merchant: MerchantClient, amount: int = 1_000) -> dict[str, Any]:
    merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native", amount=amount).json()
    merchant.pay(payment)
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def test_sign_in_sets_a_strict_http_only_cookie_that_holds_no_key(any_platform: PlatformUnderTest) -> None:
    platform = any_platform  # SQLite and PostgreSQL
    merchant = platform.merchant("Dash Tea")
    key = key_of(merchant.api)
    assert browser(platform).get("/dashboard").headers["location"] == "/dashboard/login"
    client = browser(platform)
    response = client.post("/dashboard/login", data={"api_key": key})
    cookie = response.headers["set-cookie"]
    assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert key not in cookie
    stored = platform.sql("SELECT key_hash, token_hash FROM dashboard_sessions")
    assert stored and all(key not in value for row in stored for value in row)
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Dash Tea" in page.text and 'id="mode">test data' in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'dashboard.signed_in'") == [(1,)]


def test_a_wrong_key_is_refused_and_audited(platform: PlatformUnderTest) -> None:
    response = browser(platform).post("/dashboard/login", data={"api_key": "sk_test_not_a_key"})
    assert response.status_code == 401 and COOKIE not in response.headers.get("set-cookie", "")
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'auth.failed'") == [(1,)]
    assert browser(platform).post("/dashboard/login", data={}).status_code == 401


def test_signing_out_or_revoking_the_key_ends_the_session(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard").text
    assert client.post("/dashboard/logout", data={"csrf": csrf(page)}).status_code == 303
    stale = browser(platform)
    stale.cookies.set(COOKIE, "made-up-token", domain=httpx.URL(platform.base_url).host)
    assert stale.get("/dashboard").status_code == 303
    again = signed_in(platform, key_of(merchant.api))
    assert again.get("/dashboard").status_code == 200
    rolled = merchant.api.post("/v1/api_keys/roll", json={"expires_in_seconds": 0})
    assert rolled.status_code < 300, rolled.text
    assert again.get("/dashboard").status_code == 303  # the key it signed in with no longer works


def test_pages_are_scoped_to_the_merchant_and_mode(platform: PlatformUnderTest) -> None:
    owner, other = platform.merchant("Owner"), platform.merchant("Other")
    payment = paid_payment(owner)
    mine = signed_in(platform, key_of(owner.api))
    listing = mine.get("/dashboard/payments")
    assert listing.status_code == 200 and payment["out_trade_no"] in listing.text
    assert mine.get(f"/dashboard/payments/{payment['id']}").status_code == 200
    assert signed_in(platform, key_of(other.api)).get(f"/dashboard/payments/{payment['id']}").status_code == 404
    live = signed_in(platform, key_of(owner.live))
    assert payment["out_trade_no"] not in live.get("/dashboard/payments").text
    assert live.get(f"/dashboard/payments/{payment['id']}").status_code == 404
    assert mine.get("/dashboard/payments?status=nonsense").status_code == 400


def test_a_refund_from_the_dashboard_is_asked_for_once(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    payment = paid_payment(merchant, 2_000)
    client = signed_in(platform, key_of(merchant.api))
    page = client.get(f"/dashboard/payments/{payment['id']}").text
    form = {"csrf": csrf(page), "form_no": field(page, "form_no"), "amount": "5.00", "reason": "broken cup"}
    first = client.post(f"/dashboard/payments/{payment['id']}/refunds", data=form)
    assert first.status_code == 200 and 'id="notice"' in first.text
    again = client.post(f"/dashboard/payments/{payment['id']}/refunds", data=form)  # the same form, resent
    assert "already asked for" in again.text
    refunds = merchant.api.get("/v1/refunds", params={"payment_id": payment["id"]}).json()["data"]
    assert [r["amount"] for r in refunds] == [500]
    for bad, code in (("0", "invalid_amount"), ("1.001", "invalid_amount"), ("abc", "invalid_amount"),
                      ("99", "refund_exceeds_refundable")):
        refused = client.post(f"/dashboard/payments/{payment['id']}/refunds",
                              data={**form, "form_no": f"dash{code[:4]}{len(bad)}x", "amount": bad})
        assert 400 <= refused.status_code < 500 and code in refused.text, (bad, refused.text)
    assert len(merchant.api.get("/v1/refunds", params={"payment_id": payment["id"]}).json()["data"]) == 1


def test_forms_without_the_session_token_change_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    payment = paid_payment(merchant)
    client = signed_in(platform, key_of(merchant.api))
    page = client.get(f"/dashboard/payments/{payment['id']}").text
    forged = client.post(f"/dashboard/payments/{payment['id']}/refunds",
                         data={"csrf": "guessed", "form_no": field(page, "form_no"), "amount": "1.00"})
    assert forged.status_code == 403 and "csrf_failed" in forged.text
    assert merchant.api.get("/v1/refunds", params={"payment_id": payment["id"]}).json()["data"] == []


def test_a_read_only_key_can_look_but_not_refund(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    payment = paid_payment(merchant)
    made = merchant.api.post("/v1/api_keys", json={"mode": "test", "read_only": True})
    assert made.status_code == 201, made.text
    client = signed_in(platform, made.json()["key"])
    page = client.get(f"/dashboard/payments/{payment['id']}").text
    assert 'id="refund-form"' not in page
    refused = client.post(f"/dashboard/payments/{payment['id']}/refunds",
                          data={"csrf": csrf(page), "form_no": "dashreadonly1", "amount": "1.00"})
    assert refused.status_code == 403 and "read_only_key" in refused.text


def test_accounts_show_no_secret(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    _, credentials = merchant.own_sandbox_account("wechatpay")
    page = signed_in(platform, key_of(merchant.api)).get("/dashboard/accounts").text
    assert "wechatpay" in page
    for name, value in credentials.items():
        if len(value) > 8 and name not in ("mchid", "appid"):
            assert value not in page and value[:24] not in page, name


def test_the_operator_suspends_and_resumes_a_merchant(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Switch Me")
    admin = signed_in(platform, platform.settings.admin_key or "")
    page = admin.get("/dashboard")
    assert page.status_code == 200 and "Switch Me" in page.text and 'id="mode">operator' in page.text
    no_reason = admin.post(f"/dashboard/merchants/{merchant.id}/suspend", data={"csrf": csrf(page.text)})
    assert no_reason.status_code == 400
    done = admin.post(f"/dashboard/merchants/{merchant.id}/suspend", data={"csrf": csrf(page.text), "reason": "fraud"})
    assert done.status_code == 303
    assert platform.admin.get(f"/v1/merchants/{merchant.id}").json()["status"] == "suspended"
    assert admin.post(f"/dashboard/merchants/{merchant.id}/resume",
                      data={"csrf": csrf(page.text), "reason": "cleared"}).status_code == 303
    assert platform.admin.get(f"/v1/merchants/{merchant.id}").json()["status"] == "active"
    merchant_client = signed_in(platform, key_of(merchant.api))
    forbidden = merchant_client.post(f"/dashboard/merchants/{merchant.id}/suspend",
                                     data={"csrf": csrf(merchant_client.get("/dashboard").text), "reason": "x"})
    assert forbidden.status_code == 403 and 'id="merchants"' not in forbidden.text  # no merchant list for a merchant


def test_a_reconciliation_difference_is_resolved_from_the_dashboard(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("alipay")
    payments = trade_day(platform, merchant, "alipay")
    knob = httpx.post(f"{platform.sandbox}/alipay/_faults", timeout=30, json={
        "app_id": credentials["app_id"], "bill_fault": {"fault": "drop_row", "bill_date": DAY.isoformat(),
                                                        "out_trade_no": payments[0]["out_trade_no"]}})
    assert knob.status_code < 300, knob.text
    run = reconcile(platform, account["id"]).run
    client = signed_in(platform, key_of(merchant.api))
    assert run.id in client.get("/dashboard/reconciliation").text
    page = client.get(f"/dashboard/reconciliation/{run.id}").text
    assert "missing_in_channel" in page and payments[0]["out_trade_no"] in page
    action = re.search(r'action="(/dashboard/reconciliation/[^"]+/differences/[^"]+)"', page)
    assert action is not None
    no_note = client.post(action.group(1), data={"csrf": csrf(page), "action": "ignore", "note": ""})
    assert no_note.status_code == 400 and "note_required" in no_note.text
    done = client.post(action.group(1), data={"csrf": csrf(page), "action": "ignore", "note": "refunded by phone"})
    assert done.status_code == 303
    assert platform.sql("SELECT status, resolved_by, note FROM reconciliation_differences WHERE run_id = :run",
                        run=run.id) == [("ignored", f"merchant:{merchant.id}", "refunded by phone")]
    other = signed_in(platform, key_of(platform.merchant("Nosy").api))
    assert other.get(f"/dashboard/reconciliation/{run.id}").status_code == 404
    assert run.id not in other.get("/dashboard/reconciliation").text


@pytest.mark.parametrize("path", ["/dashboard/payments/nope", "/dashboard/reconciliation/nope"])
def test_unknown_objects_are_404_pages(platform: PlatformUnderTest, path: str) -> None:
    client = signed_in(platform, key_of(platform.merchant().api))
    response = client.get(path)
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]


def test_alerts_are_listed_and_acknowledged_from_the_dashboard(platform: PlatformUnderTest) -> None:
    from indiepay.alerts.service import raise_alert

    merchant, other = platform.merchant(), platform.merchant("Other")
    ctx = platform.runtime.ctx
    with ctx.db.transaction() as session:
        alert = raise_alert(session, ctx.clock, kind="late_payment", severity="high", merchant_id=merchant.id,
                            dedupe_key="dash:late", message="money arrived after close", details={}, livemode=False)
        alert_id = alert.id
    client = signed_in(platform, key_of(merchant.api))
    assert "money arrived after close" in client.get("/dashboard").text  # on the overview while open
    page = client.get("/dashboard/alerts").text
    assert "late_payment" in page
    nosy = signed_in(platform, key_of(other.api))
    assert "money arrived after close" not in nosy.get("/dashboard/alerts").text
    refused = nosy.post(f"/dashboard/alerts/{alert_id}/acknowledge", data={"csrf": csrf(nosy.get("/dashboard").text)})
    assert refused.status_code == 404
    assert client.post(f"/dashboard/alerts/{alert_id}/acknowledge", data={"csrf": csrf(page)}).status_code == 303
    acknowledged = platform.sql("SELECT acknowledged_by FROM alerts WHERE id = :id", id=alert_id)
    assert acknowledged == [(f"merchant:{merchant.id}",)]
    assert "money arrived after close" not in client.get("/dashboard").text


def test_statements_download_with_the_live_key_only(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    test_mode = signed_in(platform, key_of(merchant.api))
    assert 'id="live-only"' in test_mode.get("/dashboard/statements").text
    assert test_mode.get("/dashboard/statements/2026-10/statement.csv").status_code == 403
    live = signed_in(platform, key_of(merchant.live))
    page = live.get("/dashboard/statements").text
    link = re.search(r'href="(/dashboard/statements/\d{4}-\d{2}/statement\.csv)"', page)
    assert link is not None
    csv_file = live.get(link.group(1))
    assert csv_file.status_code == 200 and csv_file.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_file.headers["content-disposition"]
    xlsx = live.get("/dashboard/statements/2026-10/tax.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert live.get("/dashboard/statements/2026-13/statement.csv").status_code == 400
    assert live.get("/dashboard/statements/2026-10/other.pdf").status_code == 400


def test_settlements_are_shown_to_the_live_key_and_the_operator(platform: PlatformUnderTest) -> None:
    from indiepay.core.money import fen_to_yuan
    from indiepay.ledger.accounts import merchant_payable
    from tests.settlements.books import natural, owed
    from tests.settlements.test_api import _settle_yesterday

    tea, cake = platform.merchant("Tea"), platform.merchant("Cake")
    day = _settle_yesterday(platform, tea, cake)
    live = signed_in(platform, key_of(tea.live)).get("/dashboard/settlements").text
    assert day.isoformat() in live and f"¥{owed(10_000) / 100:.2f}" in live and cake.id not in live
    # the merchant's account with the platform: the day's takings owed, then settled out of what is owed
    now_owed = natural(platform.runtime.ctx.db, merchant_payable(tea.id).code)
    assert f'id="owed">¥{fen_to_yuan(now_owed)}<' in live
    account = live.split('id="account-lines"')[1].split("</table>")[0]
    assert f"+¥{fen_to_yuan(owed(10_000))}" in account and f"¥-{fen_to_yuan(owed(10_000))}" in account
    assert 'id="live-only"' in signed_in(platform, key_of(tea.api)).get("/dashboard/settlements").text
    operator = signed_in(platform, platform.settings.admin_key or "").get("/dashboard/settlements").text
    assert tea.id in operator and cake.id in operator


def test_the_webhook_endpoint_is_set_from_the_dashboard_and_events_sent_again(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/webhooks").text
    assert "not set" in page
    bad = client.post("/dashboard/webhooks", data={"csrf": csrf(page), "url": "ftp://nowhere"})
    assert bad.status_code == 400 and "invalid_url" in bad.text
    done = client.post("/dashboard/webhooks", data={"csrf": csrf(page), "url": "http://127.0.0.1:9/hooks"})
    secret = re.search(r'id="secret">(whsec_[^<]+)<', done.text)
    assert done.status_code == 200 and secret is not None
    assert merchant.api.get("/v1/webhook_endpoint").json()["url"] == "http://127.0.0.1:9/hooks"
    later = client.get("/dashboard/webhooks").text
    assert secret.group(1) not in later and "http://127.0.0.1:9/hooks" in later  # shown once
    paid_payment(merchant)
    platform.run_jobs_now("webhook.deliver")
    events = merchant.api.get("/v1/events").json()["data"]
    assert events and not events[0]["delivered"]  # nobody listens on port 9
    page = client.get("/dashboard/webhooks").text
    assert events[0]["id"] in page
    again = client.post(f"/dashboard/webhooks/events/{events[0]['id']}/redeliver", data={"csrf": csrf(page)})
    assert again.status_code == 303
    assert client.post("/dashboard/webhooks/events/evt_nope/redeliver", data={"csrf": csrf(page)}).status_code == 404


def test_accounts_are_connected_from_the_dashboard_and_secrets_never_echoed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/accounts").text
    one_click = client.post("/dashboard/accounts", data={"csrf": csrf(page), "channel": "alipay", "sandbox": "1"})
    assert one_click.status_code == 303
    [account] = merchant.api.get("/v1/channel_accounts").json()
    assert (account["channel"], account["environment"]) == ("alipay", "sandbox")
    form = client.get("/dashboard/accounts?connect=wechatpay").text
    assert 'id="connect-form"' in form and 'type="password"' in form and "textarea" in form
    secret = "-----BEGIN PRIVATE KEY-----\nMIIEdGVzdCBub3QgYSByZWFsIGtleQ==\n-----END PRIVATE KEY-----"
    refused = client.post("/dashboard/accounts", data={  # a private key that is no key: refused, not echoed
        "csrf": csrf(form), "channel": "wechatpay", "mchid": "1900000109", "appid": "wx8888888888888888",
        "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "merchant_private_key": secret,
        "apiv3_key": "0123456789abcdef0123456789abcdef"})
    assert 400 <= refused.status_code < 500 and 'id="error"' in refused.text
    assert "MIIEdGVzdCBub3QgYSByZWFsIGtleQ" not in refused.text and "0123456789abcdef0123" not in refused.text
    assert len(merchant.api.get("/v1/channel_accounts").json()) == 1  # nothing half-stored
    credentials = httpx.post(f"{platform.sandbox}/wechatpay/_provision", json={}, timeout=30).json()["credentials"]
    typed = client.post("/dashboard/accounts", data={"csrf": csrf(form), "channel": "wechatpay", **credentials})
    assert typed.status_code == 303, typed.text
    shown = client.get("/dashboard/accounts").text
    assert "wechatpay" in shown and all(value not in shown for name, value in credentials.items()
                                        if len(value) > 12 and name not in ("mchid", "appid"))
    live = signed_in(platform, key_of(merchant.live))
    assert 'id="sandbox-alipay"' not in live.get("/dashboard/accounts").text  # no one-click sandbox for live keys
    nope = live.post("/dashboard/accounts", data={"csrf": csrf(live.get("/dashboard").text), "channel": "alipay",
                                                  "sandbox": "1"})
    assert 400 <= nope.status_code < 500


def test_keys_are_made_and_rolled_from_the_dashboard(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    key = key_of(merchant.api)
    client = signed_in(platform, key)
    page = client.get("/dashboard/keys").text
    assert key[-4:] in page and "signed in with this one" in page and key not in page
    made = client.post("/dashboard/keys", data={"csrf": csrf(page), "action": "read_only"})
    shown = re.search(r'id="key">(sk_test_[^<]+)<', made.text)
    assert made.status_code == 200 and shown is not None and "read-only" in made.text
    assert shown.group(1) not in client.get("/dashboard/keys").text  # once
    reader = signed_in(platform, shown.group(1))
    assert 'id="make-read-only"' not in reader.get("/dashboard/keys").text  # a read-only key makes none
    rolled = client.post("/dashboard/keys", data={"csrf": csrf(page), "action": "roll"})
    new = re.search(r'id="key">(sk_test_[^<]+)<', rolled.text)
    assert rolled.status_code == 200 and new is not None and "works until" in rolled.text
    assert client.get("/dashboard").status_code == 200  # the old key still works for a day
    assert signed_in(platform, new.group(1)).get("/dashboard").status_code == 200
    assert merchant.api.get("/v1/payments").status_code == 200


def test_a_pending_payment_is_closed_from_the_dashboard(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native", amount=700).json()
    client = signed_in(platform, key_of(merchant.api))
    page = client.get(f"/dashboard/payments/{payment['id']}").text
    assert 'id="close-form"' in page and 'id="refund-form"' not in page
    closed = client.post(f"/dashboard/payments/{payment['id']}/close", data={"csrf": csrf(page)})
    assert closed.status_code == 200 and "Payment closed." in closed.text and 'id="close-form"' not in closed.text
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "closed"
    again = client.post(f"/dashboard/payments/{payment['id']}/close", data={"csrf": csrf(page)})
    assert again.status_code < 500


def test_a_payment_link_is_made_from_the_dashboard_once_per_form(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.api))
    assert 'id="link-form"' not in client.get("/dashboard/payments").text  # no channel connected yet
    merchant.sandbox_account("alipay")
    page = client.get("/dashboard/payments").text
    assert 'value="alipay_qr"' in page and 'value="wechat_native"' not in page
    form = {"csrf": csrf(page), "form_no": field(page, "form_no"), "amount": "18.80", "description": "花茶",
            "method": "alipay_qr"}
    made = client.post("/dashboard/payments", data=form)
    assert made.status_code == 303 and made.headers["location"].startswith("/dashboard/payments/pay_")
    again = client.post("/dashboard/payments", data=form)  # the same form, resent
    assert again.headers["location"] == made.headers["location"]
    [payment] = merchant.api.get("/v1/payments").json()["data"]
    assert (payment["amount"], payment["description"], payment["status"]) == (1_880, "花茶", "pending")
    shown = client.get(made.headers["location"]).text
    assert payment["checkout_url"] in shown and 'id="close-form"' in shown
    bad = client.post("/dashboard/payments", data={**form, "form_no": "dashnew1", "amount": "-1"})
    assert bad.status_code == 400 and len(merchant.api.get("/v1/payments").json()["data"]) == 1


def test_an_account_is_verified_from_the_dashboard(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/accounts").text
    started = client.post(f"/dashboard/accounts/{account['id']}/verification", data={"csrf": csrf(page)})
    assert started.status_code == 303 and started.headers["location"].startswith("/dashboard/payments/")
    payment = merchant.api.get(f"/v1/payments/{started.headers['location'].rsplit('/', 1)[1]}").json()
    assert payment["amount"] == 1 and payment["purpose"] == "account_verification"
    merchant.pay(payment)
    deadline = time.monotonic() + 20
    while merchant.api.get(f"/v1/channel_accounts/{account['id']}").json()["verified_at"] is None:
        platform.run_jobs_now("account.verification")
        assert time.monotonic() < deadline, "the account was not verified"
        time.sleep(0.1)
    assert client.post("/dashboard/accounts/acct_nope/verification", data={"csrf": csrf(page)}).status_code == 404


def test_the_operator_onboards_a_merchant_once_per_form(platform: PlatformUnderTest) -> None:
    admin = signed_in(platform, platform.settings.admin_key or "")
    page = admin.get("/dashboard").text
    form = {"csrf": csrf(page), "form_no": field(page, "form_no"), "name": "Hua Tea Ltd.", "short_name": "花茶铺",
            "subject_type": "individual", "collection_mode": "platform", "contact_email": "boss@hua.example"}
    made = admin.post("/dashboard/merchants", data=form)
    test_key = re.search(r'id="test-key">(sk_test_[^<]+)<', made.text)
    assert made.status_code == 200 and test_key is not None and 'id="live-key">sk_live_' in made.text
    again = admin.post("/dashboard/merchants", data=form)  # the same form, resent
    assert "already created" in again.text and "sk_test_" not in again.text
    listed = platform.admin.get("/v1/merchants", params={"limit": 100}).json()["data"]
    assert [m["short_name"] for m in listed].count("花茶铺") == 1
    assert signed_in(platform, test_key.group(1)).get("/dashboard").status_code == 200  # the keys work
    bad = admin.post("/dashboard/merchants", data={**form, "form_no": "onboardbad1", "subject_type": "robot"})
    assert bad.status_code == 400 and "invalid_merchant" in bad.text
    shop = signed_in(platform, key_of(platform.merchant().api))
    refused = shop.post("/dashboard/merchants", data={**form, "form_no": "onboardx2",
                                                      "csrf": csrf(shop.get("/dashboard").text)})
    assert refused.status_code == 403 and "admin_required" in refused.text and "Hua Tea Ltd." not in refused.text
