"""A dashboard form sent twice (a double click, a reload) does its work once: connecting an account makes
one account, the second sending is told so; a form's number sent again with other contents is refused."""

from __future__ import annotations

import re

from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, signed_in


def test_a_double_click_connects_one_sandbox_account(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/accounts").text
    number = re.search(r'name="form_no" value="([^"]+wechatpay)"', page)
    assert number, "the sandbox button carries no form number"
    form = {"csrf": csrf(page), "channel": "wechatpay", "sandbox": "1", "form_no": number.group(1)}
    first = client.post("/dashboard/accounts", data=form)
    again = client.post("/dashboard/accounts", data=form)
    assert first.status_code == 303 and first.headers["location"] == "/dashboard/accounts"
    assert again.status_code == 303 and again.headers["location"] == "/dashboard/accounts?done=repeated"
    assert "connected once" in client.get(again.headers["location"]).text
    assert len(merchant.api.get("/v1/channel_accounts").json()) == 1
    other = client.post("/dashboard/accounts", data={**form, "channel": "alipay"})  # same number, other form
    assert other.status_code == 422 and "idempotency_key_reused" in other.text
    assert len(merchant.api.get("/v1/channel_accounts").json()) == 1


def test_a_double_click_connects_one_platform_account(platform: PlatformUnderTest) -> None:
    client = signed_in(platform, platform.settings.admin_key)
    before = len(platform.admin.get("/v1/platform/channel_accounts").json())
    page = client.get("/dashboard/platform_accounts").text
    number = re.search(r'name="form_no" value="([^"]+alipay)"', page)
    assert number, "the sandbox button carries no form number"
    form = {"csrf": csrf(page), "channel": "alipay", "sandbox": "1", "form_no": number.group(1)}
    assert client.post("/dashboard/platform_accounts", data=form).headers["location"].endswith("done=created")
    assert client.post("/dashboard/platform_accounts", data=form).headers["location"].endswith("done=repeated")
    assert len(platform.admin.get("/v1/platform/channel_accounts").json()) == before + 1
