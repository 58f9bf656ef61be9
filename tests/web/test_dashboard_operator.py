"""The operator's dashboard pages over real loopback HTTP: one merchant in full (no secret on it), its profile
edited as ``PATCH /v1/merchants/{id}`` would (limits in yuan, an empty one back to the default, bad input
refused with its code and nothing written), the account kill switch from the page (payments on the account
refused until it is resumed), the audit log with its chain check, and the guards (operator only, CSRF)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support.platform import PlatformUnderTest
from tests.web.test_bad_input_everywhere import ODD_BODIES, ODD_IDS
from tests.web.test_dashboard import csrf, key_of, signed_in

ROUTES = (("GET", "/dashboard/merchants/{m}"), ("POST", "/dashboard/merchants/{m}/profile"),
          ("POST", "/dashboard/merchants/{m}/accounts/{a}/suspend"),
          ("POST", "/dashboard/merchants/{m}/accounts/{a}/resume"), ("GET", "/dashboard/audit"),
          ("POST", "/dashboard/merchants/{m}/api_keys"))


def operator(platform: PlatformUnderTest) -> httpx.Client:
    return signed_in(platform, platform.settings.admin_key or "")


def merchant_row(platform: PlatformUnderTest, merchant_id: str) -> dict[str, Any]:
    body = platform.admin.get(f"/v1/merchants/{merchant_id}")
    assert body.status_code == 200, body.text
    return dict(body.json())


def test_the_operator_sees_a_merchant_in_full_and_no_secret(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Full View Tea")
    account, credentials = merchant.own_sandbox_account("wechatpay")
    admin = operator(platform)
    front = admin.get("/dashboard").text
    assert f'href="/dashboard/merchants/{merchant.id}"' in front
    page = admin.get(f"/dashboard/merchants/{merchant.id}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = page.text
    assert 'id="fact-short-name">Full View Tea' in text and 'id="fact-subject-type">enterprise' in text
    assert 'id="fact-kyc">pending' in text and 'id="fact-platform-fee">0.40 %' in text
    assert 'id="fact-single-limit">default' in text and 'id="fact-daily-limit">default' in text
    assert f'id="account-{account["id"]}"' in text and "wechatpay" in text and "sandbox" in text
    for view in account["credentials"].values():  # fingerprints and last four, as the API shows them
        assert view["fingerprint"] in text and f"····{view['last4']}" in text
    for name, value in credentials.items():
        if len(value) > 8 and name not in ("mchid", "appid"):
            assert value not in text and value[:24] not in text, name
    assert f'id="suspend-{account["id"]}"' in text
    assert 'id="owed">¥0.00' in text and 'id="settlements"' in text and 'id="mode-changes"' in text
    advice = platform.admin.get("/v1/advisor", params={"merchant_id": merchant.id})  # the operator's: live data
    assert advice.status_code == 200 and f'id="advice-stage">{advice.json()["stage"]}' in text
    assert admin.get("/dashboard/merchants/mch_nobody").status_code == 404


def test_the_operator_edits_the_profile_as_the_api_would(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Edit Me")
    merchant.sandbox_account("wechatpay")
    admin = operator(platform)
    token = csrf(admin.get(f"/dashboard/merchants/{merchant.id}").text)
    done = admin.post(f"/dashboard/merchants/{merchant.id}/profile",
                      data={"csrf": token, "kyc_status": "complete", "platform_fee_bps": "55"})
    assert done.status_code == 303 and done.headers["location"] == f"/dashboard/merchants/{merchant.id}?done=profile"
    after = merchant_row(platform, merchant.id)
    assert after["kyc_status"] == "complete" and after["platform_fee_bps"] == 55
    assert after["name"] == "Edit Me Ltd." and after["tech_fee_bps"] == 0  # fields not sent do not change
    page = admin.get(done.headers["location"]).text
    assert 'id="notice"' in page and 'id="fact-kyc">complete' in page and 'id="fact-platform-fee">0.55 %' in page
    changes = platform.sql("SELECT details FROM audit_events WHERE action = 'merchant.updated' AND target_id = :m",
                           m=merchant.id)
    assert len(changes) == 1 and '"kyc_status"' in str(changes[0][0]) and '"platform_fee_bps"' in str(changes[0][0])

    # a single-payment limit of ¥5.00 is 500 fen: a ¥10 payment is then refused; cleared, the default applies
    limited = admin.post(f"/dashboard/merchants/{merchant.id}/profile",
                         data={"csrf": token, "single_limit": "5.00", "daily_limit": ""})
    assert limited.status_code == 303
    assert (merchant_row(platform, merchant.id)["single_limit"], merchant_row(platform, merchant.id)["daily_limit"]) \
        == (500, None)
    assert 'id="fact-single-limit">¥5.00' in admin.get(f"/dashboard/merchants/{merchant.id}").text
    refused = merchant.create_payment(amount=1_000)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "limit_exceeded"
    cleared = admin.post(f"/dashboard/merchants/{merchant.id}/profile", data={"csrf": token, "single_limit": " "})
    assert cleared.status_code == 303 and merchant_row(platform, merchant.id)["single_limit"] is None
    assert merchant.create_payment(amount=1_000).status_code == 201
    assert 'id="fact-single-limit">default' in admin.get(f"/dashboard/merchants/{merchant.id}").text


def test_bad_profile_input_is_refused_with_its_code_and_changes_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Strict Shop", subject_type="individual")
    admin = operator(platform)
    token = csrf(admin.get(f"/dashboard/merchants/{merchant.id}").text)
    before = merchant_row(platform, merchant.id)
    audited = platform.sql("SELECT count(*) FROM audit_events")
    for field, value, code in (("platform_fee_bps", "-1", "invalid_fee"), ("platform_fee_bps", "abc", "invalid_fee"),
                               ("tech_fee_bps", "10001", "invalid_fee"), ("tech_fee_bps", "", "invalid_fee"),
                               ("single_limit", "1.234", "invalid_amount"), ("single_limit", "0", "invalid_amount"),
                               ("daily_limit", "-5", "invalid_amount"), ("daily_limit", "1e999999", "invalid_amount"),
                               ("daily_limit", "NaN", "invalid_amount"),
                               ("daily_limit", "200000.01", "limit_too_high"),  # over an individual's ceiling
                               ("kyc_status", "approved", "invalid_kyc_status"),
                               ("subject_type", "company", "invalid_subject_type"),
                               ("name", "  ", "invalid_name"), ("short_name", "Tea\x01Shop", "invalid_name")):
        # each with a valid change beside it: a refused form writes nothing at all
        refused = admin.post(f"/dashboard/merchants/{merchant.id}/profile",
                             data={"csrf": token, "kyc_status": "complete", "platform_fee_bps": "77", field: value})
        assert refused.status_code == 400 and f"({code})" in refused.text, (field, value, refused.text[-600:])
        assert 'id="profile-form"' in refused.text  # the merchant's page again, with the reason on it
    assert merchant_row(platform, merchant.id) == before
    assert platform.sql("SELECT count(*) FROM audit_events") == audited


def test_the_account_kill_switch_from_the_page(platform: PlatformUnderTest) -> None:
    merchant, other = platform.merchant("Switch Shop"), platform.merchant("Other Shop")
    account = merchant.sandbox_account("wechatpay")
    foreign = other.sandbox_account("wechatpay")
    admin = operator(platform)
    page = admin.get(f"/dashboard/merchants/{merchant.id}").text
    path = f"/dashboard/merchants/{merchant.id}/accounts/{account['id']}"
    no_reason = admin.post(f"{path}/suspend", data={"csrf": csrf(page), "reason": " "})
    assert no_reason.status_code == 400 and "(reason_required)" in no_reason.text
    done = admin.post(f"{path}/suspend", data={"csrf": csrf(page), "reason": "key leak"})
    assert done.status_code == 303 and done.headers["location"] == f"/dashboard/merchants/{merchant.id}?done=suspend"
    refused = merchant.create_payment()
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "account_suspended"
    page = admin.get(done.headers["location"]).text
    assert f'id="resume-{account["id"]}"' in page and "The account is suspended." in page
    assert admin.post(f"{path}/delete", data={"csrf": csrf(page), "reason": "x"}).status_code == 404
    elsewhere = admin.post(f"/dashboard/merchants/{merchant.id}/accounts/{foreign['id']}/suspend",
                           data={"csrf": csrf(page), "reason": "wrong merchant"})
    assert elsewhere.status_code == 404 and "account_not_found" in elsewhere.text
    assert platform.sql("SELECT status FROM channel_accounts WHERE id = :a", a=foreign["id"]) == [("active",)]
    assert admin.post(f"{path}/resume", data={"csrf": csrf(page), "reason": "new keys"}).status_code == 303
    assert merchant.create_payment().status_code == 201


def test_the_audit_page_lists_the_operators_actions_and_checks_the_chain(platform: PlatformUnderTest) -> None:
    merchant, other = platform.merchant("Audited"), platform.merchant("Bystander")
    account = merchant.sandbox_account("alipay")
    admin = operator(platform)
    token = csrf(admin.get(f"/dashboard/merchants/{merchant.id}").text)
    path = f"/dashboard/merchants/{merchant.id}"
    assert admin.post(f"{path}/profile", data={"csrf": token, "kyc_status": "complete"}).status_code == 303
    assert admin.post(f"{path}/accounts/{account['id']}/suspend", data={"csrf": token, "reason": "odd refunds"}) \
        .status_code == 303
    assert admin.post(f"{path}/accounts/{account['id']}/resume", data={"csrf": token, "reason": "explained"}) \
        .status_code == 303
    other.sandbox_account("wechatpay")
    log = admin.get("/dashboard/audit")
    assert log.status_code == 200 and 'id="verify"' in log.text and "Chain intact" not in log.text  # on request
    assert "Chain intact" in admin.get("/dashboard/audit", params={"verify": "1"}).text
    resumed, suspended, updated = (log.text.index(f">{action}</a>") for action in
                                   ("account.resumed", "account.suspended", "merchant.updated"))
    assert resumed < suspended < updated  # newest first
    assert '"reason": "odd refunds"' in log.text and '"to": "complete"' in log.text
    mine = admin.get("/dashboard/audit", params={"merchant_id": merchant.id}).text
    assert ">account.suspended</a>" in mine and other.id not in mine.split('id="events"')[1]
    only = admin.get("/dashboard/audit", params={"action": "account.suspended"}).text.split('id="events"')[1]
    assert ">account.suspended</a>" in only and ">account.resumed</a>" not in only
    for bad in ("\x01", "'; DROP TABLE audit_events", "x" * 65):
        refused = admin.get("/dashboard/audit", params={"action": bad})
        assert refused.status_code == 400 and "invalid_filter" in refused.text

    # a rewritten event (its append-only trigger dropped first, as an attacker with the database would)
    platform.sql("DROP TRIGGER audit_events_refuse_update")
    platform.sql("UPDATE audit_events SET details = '{\"reason\": \"nothing to see\"}' "
                 "WHERE action = 'account.suspended'")
    sequence = platform.sql("SELECT sequence FROM audit_events WHERE action = 'account.suspended'")[0][0]
    broken = admin.get("/dashboard/audit", params={"verify": "1"}).text
    assert "Chain intact" not in broken and f"Chain broken at sequence {sequence}" in broken


def test_a_merchants_session_gets_none_of_the_operators_pages(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Nosy Shop")
    account = merchant.sandbox_account("wechatpay")
    client = signed_in(platform, key_of(merchant.api))
    token = csrf(client.get("/dashboard").text)
    before = merchant_row(platform, merchant.id)
    for method, template in ROUTES:
        path = template.format(m=merchant.id, a=account["id"])
        data = {"csrf": token, "kyc_status": "complete", "platform_fee_bps": "0", "reason": "mine"}
        answer = client.get(path) if method == "GET" else client.post(path, data=data)
        assert answer.status_code == 403 and "(admin_required)" in answer.text, (method, path)
        assert 'id="profile-form"' not in answer.text and 'id="events"' not in answer.text
        stranger = httpx.Client(base_url=platform.base_url, timeout=60, follow_redirects=False)
        platform.clients.append(stranger)
        away = stranger.get(path) if method == "GET" else stranger.post(path, data=data)
        assert away.status_code == 303 and away.headers["location"] == "/dashboard/login"
    assert merchant_row(platform, merchant.id) == before
    assert platform.sql("SELECT status FROM channel_accounts WHERE id = :a", a=account["id"]) == [("active",)]


def test_operator_forms_without_the_session_token_change_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Forged")
    account = merchant.sandbox_account("wechatpay")
    admin = operator(platform)
    before = merchant_row(platform, merchant.id)
    for data in ({}, {"csrf": "guessed"}):
        profile = admin.post(f"/dashboard/merchants/{merchant.id}/profile", data={**data, "kyc_status": "complete"})
        assert profile.status_code == 403 and "(csrf_failed)" in profile.text
        switch = admin.post(f"/dashboard/merchants/{merchant.id}/accounts/{account['id']}/suspend",
                            data={**data, "reason": "forged"})
        assert switch.status_code == 403 and "(csrf_failed)" in switch.text
    assert merchant_row(platform, merchant.id) == before
    assert platform.sql("SELECT status FROM channel_accounts WHERE id = :a", a=account["id"]) == [("active",)]


def test_bad_input_on_the_operators_pages_is_never_a_server_error(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Odd Input")
    account = merchant.sandbox_account("wechatpay")
    admin = operator(platform)
    token = csrf(admin.get(f"/dashboard/merchants/{merchant.id}").text)
    garbage = {"csrf": token, "name": "\x00", "short_name": "x" * 5000, "subject_type": "[]", "kyc_status": "'",
               "platform_fee_bps": "1e999", "tech_fee_bps": "٣", "single_limit": "1e999999", "daily_limit": "inf",
               "reason": ""}
    tables = [name for (name,) in platform.sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                               "AND name NOT LIKE 'sqlite_%'")]
    before = {name: platform.sql(f'SELECT count(*) FROM "{name}"') for name in tables}
    for method, template in ROUTES:
        for merchant_id, account_id in [(merchant.id, account["id"]), *((odd, odd) for odd in ODD_IDS)]:
            path = template.format(m=merchant_id, a=account_id)
            if method == "GET":
                answers = [admin.get(path, params={"merchant_id": odd, "action": odd, "done": odd})
                           for odd in ("", "\x00", "[]", "x" * 500)]
            else:
                answers = [admin.post(path, data=garbage)]
                answers += [admin.request("POST", path, content=body, headers={"Content-Type": kind})
                            for body, kind in ODD_BODIES]
            for answer in answers:
                assert answer.status_code < 500, (method, path, answer.status_code, answer.text[-300:])
    assert {name: platform.sql(f'SELECT count(*) FROM "{name}"') for name in tables} == before
    assert merchant_row(platform, merchant.id)["status"] == "active"


def test_the_operator_finds_a_merchants_live_payment_by_its_order_number(platform: PlatformUnderTest) -> None:
    """Support: a buyer quotes an order number; the operator finds the payment on the merchant's page (live
    payments only — test payments are the merchant's own business)."""
    merchant = platform.merchant("Findable")
    merchant.live_account("wechatpay")
    merchant.sandbox_account("wechatpay")
    live = [merchant.create_payment("wechat_native", amount=100 + n, live=True).json() for n in range(2)]
    test = merchant.create_payment("wechat_native", amount=999).json()
    admin = operator(platform)
    page = admin.get(f"/dashboard/merchants/{merchant.id}").text
    table = page.split('id="payments"', 1)[1].split("</table>", 1)[0]
    assert all(p["out_trade_no"] in table for p in live) and test["out_trade_no"] not in table
    assert "/dashboard/payments/" not in table  # the merchant's own pages are not the operator's
    found = admin.get(f"/dashboard/merchants/{merchant.id}", params={"out_trade_no": live[0]["out_trade_no"]}).text
    found_table = found.split('id="payments"', 1)[1].split("</table>", 1)[0]
    assert live[0]["id"] in found_table and live[1]["out_trade_no"] not in found_table
    none = admin.get(f"/dashboard/merchants/{merchant.id}", params={"out_trade_no": test["out_trade_no"]}).text
    assert "No payment with that order number." in none


def test_the_operator_issues_a_key_from_the_merchants_page_once(platform: PlatformUnderTest) -> None:
    """The page shows the new key once; the old key of that mode stops at once; the same form sent again
    (a double click, a reload) issues nothing more and shows no key."""
    merchant = platform.merchant("Lost Keys Tea")
    admin = operator(platform)
    page = admin.get(f"/dashboard/merchants/{merchant.id}").text
    form = {"csrf": csrf(page), "form_no": re.search(r'name="form_no" value="(key[0-9a-f]+)"', page)[1],  # type: ignore[index]
            "mode": "live", "revoke_existing": "1"}
    answer = admin.post(f"/dashboard/merchants/{merchant.id}/api_keys", data=form)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    key = re.search(r'id="issued-key-value">(sk_live_[^<]+)<', answer.text)
    assert key is not None
    fresh = httpx.get(f"{platform.base_url}/v1/merchants/{merchant.id}", timeout=30,
                      headers={"Authorization": f"Bearer {key[1]}"})
    assert fresh.status_code == 200
    assert merchant.live.get(f"/v1/merchants/{merchant.id}").status_code == 401
    again = admin.post(f"/dashboard/merchants/{merchant.id}/api_keys", data=form)
    assert again.status_code == 200 and "issued-key-value" not in again.text and "already issued" in again.text
    assert fresh.status_code == 200 and httpx.get(
        f"{platform.base_url}/v1/merchants/{merchant.id}", timeout=30,
        headers={"Authorization": f"Bearer {key[1]}"}).status_code == 200  # the shown key was not revoked
    wrong = admin.post(f"/dashboard/merchants/{merchant.id}/api_keys", data={**form, "form_no": "", "mode": "root"})
    assert wrong.status_code == 400 and "choose the key" in wrong.text
