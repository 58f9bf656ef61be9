"""The operator's page of the platform's own channel accounts over real loopback HTTP: a sandbox account in
one click and a production one typed in, both listed as ``GET /v1/platform/channel_accounts`` lists them and
no secret on the page; a typed-in form with a field missing refused with its code and nothing stored; the
account kill switch for the platform's accounts (and only theirs); and the guards (operator only, CSRF)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, signed_in
from tests.web.test_dashboard_operator import operator

PAGE = "/dashboard/platform_accounts"


def platform_accounts(platform: PlatformUnderTest) -> list[dict[str, Any]]:
    answer = platform.admin.get("/v1/platform/channel_accounts")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def provisioned(platform: PlatformUnderTest, channel: str) -> dict[str, str]:
    """A credential set from the sandbox gateway, as an operator would copy one from the channel's portal."""
    answer = httpx.post(f"{platform.sandbox}/{channel}/_provision", json={}, timeout=30)
    assert answer.status_code < 300, answer.text
    return dict(answer.json()["credentials"])


def test_the_operator_connects_platform_accounts_and_no_secret_is_shown(platform: PlatformUnderTest) -> None:
    admin = operator(platform)
    page = admin.get(PAGE)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'id="sandbox-wechatpay"' in page.text and 'id="sandbox-alipay"' in page.text
    one_click = admin.post(PAGE, data={"csrf": csrf(page.text), "channel": "alipay", "sandbox": "1"})
    assert one_click.status_code == 303 and one_click.headers["location"] == f"{PAGE}?done=created"
    [sandbox] = platform_accounts(platform)
    assert (sandbox["channel"], sandbox["environment"], sandbox["owner"], sandbox["merchant_id"]) == \
        ("alipay", "sandbox", "platform", None)

    form = admin.get(PAGE, params={"connect": "wechatpay"}).text
    assert 'id="connect-form"' in form and 'type="password"' in form and "textarea" in form
    credentials = provisioned(platform, "wechatpay")
    typed = admin.post(PAGE, data={"csrf": csrf(form), "channel": "wechatpay", "role": "backup", **credentials})
    assert typed.status_code == 303, typed.text
    listed = platform_accounts(platform)
    assert [(a["channel"], a["environment"], a["role"]) for a in listed] == \
        [("alipay", "sandbox", "primary"), ("wechatpay", "production", "backup")]

    shown = admin.get(typed.headers["location"]).text
    assert 'id="notice"' in shown and "PRIVATE KEY" not in shown
    for account in listed:  # fingerprints and last four, as the API shows them
        assert f'id="account-{account["id"]}"' in shown and f'id="suspend-{account["id"]}"' in shown
        for view in account["credentials"].values():
            assert view["fingerprint"] in shown and f"····{view['last4']}" in shown
    for name, value in credentials.items():
        if len(value) > 8 and name not in ("mchid", "appid"):
            assert value not in shown and value[:24] not in shown, name
    events = platform.sql("SELECT target_id FROM audit_events WHERE action = 'credentials.created'")
    assert sorted(target for (target,) in events) == sorted(a["id"] for a in listed)


def test_a_typed_in_account_with_a_field_missing_is_refused_and_adds_nothing(platform: PlatformUnderTest) -> None:
    admin = operator(platform)
    form = admin.get(PAGE, params={"connect": "wechatpay"}).text
    credentials = provisioned(platform, "wechatpay")
    missing = {name: value for name, value in credentials.items() if name != "apiv3_key"}
    refused = admin.post(PAGE, data={"csrf": csrf(form), "channel": "wechatpay", **missing})
    assert refused.status_code == 400 and "(invalid_credentials)" in refused.text and "apiv3_key" in refused.text
    assert 'id="connect-form"' in refused.text  # the same form again, empty: nothing typed is written back
    assert all(value not in refused.text for name, value in missing.items()
               if len(value) > 8 and name not in ("mchid", "appid"))
    for data, code in (({"channel": "paypal", "sandbox": "1"}, "invalid_channel"), ({}, "invalid_channel"),
                       ({"channel": "wechatpay"}, "invalid_credentials")):
        other = admin.post(PAGE, data={"csrf": csrf(form), **data})
        assert other.status_code == 400 and f"({code})" in other.text, (data, other.text[-400:])
    assert platform_accounts(platform) == []
    assert platform.sql("SELECT count(*) FROM channel_accounts") == [(0,)]


def test_the_platform_account_kill_switch_from_the_page(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Not Platform")
    foreign = merchant.sandbox_account("wechatpay")
    account = platform.platform_account("wechatpay")
    admin = operator(platform)
    page = admin.get(PAGE).text
    path = f"{PAGE}/{account['id']}"
    no_reason = admin.post(f"{path}/suspend", data={"csrf": csrf(page), "reason": " "})
    assert no_reason.status_code == 400 and "(reason_required)" in no_reason.text
    done = admin.post(f"{path}/suspend", data={"csrf": csrf(page), "reason": "key leak"})
    assert done.status_code == 303 and done.headers["location"] == f"{PAGE}?done=suspend"
    assert [a["status"] for a in platform_accounts(platform)] == ["suspended"]
    shown = admin.get(done.headers["location"]).text
    assert f'id="resume-{account["id"]}"' in shown and "The account is suspended." in shown
    assert admin.post(f"{path}/delete", data={"csrf": csrf(page), "reason": "x"}).status_code == 404
    elsewhere = admin.post(f"{PAGE}/{foreign['id']}/suspend", data={"csrf": csrf(page), "reason": "not ours"})
    assert elsewhere.status_code == 404 and "(account_not_found)" in elsewhere.text
    assert platform.sql("SELECT status FROM channel_accounts WHERE id = :a", a=foreign["id"]) == [("active",)]
    assert admin.post(f"{path}/resume", data={"csrf": csrf(page), "reason": "new keys"}).status_code == 303
    assert [a["status"] for a in platform_accounts(platform)] == ["active"]
    assert platform.sql("SELECT action FROM suspensions WHERE target_id = :a ORDER BY created_at",
                        a=account["id"]) == [("suspend",), ("resume",)]


def test_the_platform_accounts_page_is_the_operators_and_its_forms_need_the_token(
        platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Nosy Platform")
    account = platform.platform_account("alipay")
    client = signed_in(platform, key_of(merchant.api))
    token = csrf(client.get("/dashboard").text)
    assert 'href="/dashboard/platform_accounts"' not in client.get("/dashboard").text
    attempts = (("GET", PAGE, {}), ("POST", PAGE, {"channel": "wechatpay", "sandbox": "1"}),
                ("POST", f"{PAGE}/{account['id']}/suspend", {"reason": "mine now"}))
    stranger = httpx.Client(base_url=platform.base_url, timeout=60, follow_redirects=False)
    platform.clients.append(stranger)
    for method, path, data in attempts:
        answer = client.get(path) if method == "GET" else client.post(path, data={"csrf": token, **data})
        assert answer.status_code == 403 and "(admin_required)" in answer.text, (method, path)
        assert 'id="accounts"' not in answer.text
        away = stranger.get(path) if method == "GET" else stranger.post(path, data=data)
        assert away.status_code == 303 and away.headers["location"] == "/dashboard/login"
    admin = operator(platform)
    for forged in ({}, {"csrf": "guessed"}):
        for _, path, data in attempts[1:]:
            answer = admin.post(path, data={**forged, **data})
            assert answer.status_code == 403 and "(csrf_failed)" in answer.text, (path, forged)
    assert [(a["id"], a["status"]) for a in platform_accounts(platform)] == [(account["id"], "active")]
