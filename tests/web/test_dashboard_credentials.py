"""Replacing an account's credentials from the dashboard, over real loopback HTTP: the merchant resets its
keys at the (sandbox) channel, types the new set into the page, and payments go on under the new keys —
with the same checks as ``PUT /v1/channel_accounts/{id}/credentials`` (another merchant account is refused,
a missing field named), nothing typed ever written back into a page, and the usual guards."""

from __future__ import annotations

import httpx

from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, signed_in


def test_a_merchant_rotates_its_wechat_keys_from_the_page(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, creds = merchant.own_sandbox_account("wechatpay")
    client = signed_in(platform, key_of(merchant.api))
    accounts = client.get("/dashboard/accounts").text
    assert f'id="rotate-{account["id"]}"' in accounts
    page = client.get(f"/dashboard/accounts/{account['id']}/credentials")
    assert page.status_code == 200 and 'id="rotate-form"' in page.text
    assert creds["apiv3_key"] not in page.text and f"····{creds['apiv3_key'][-4:]}" in page.text
    changed = httpx.post(f"{platform.sandbox}/wechatpay/_credentials/rotate",
                         json={"mchid": creds["mchid"], "apiv3_key": True, "merchant_key": True},
                         timeout=30).json()["credentials"]
    new = {**creds, **changed}

    missing = client.post(f"/dashboard/accounts/{account['id']}/credentials",
                          data={"csrf": csrf(page.text), **{k: v for k, v in new.items() if k != "apiv3_key"}})
    assert missing.status_code == 400 and "invalid_credentials" in missing.text
    other = client.post(f"/dashboard/accounts/{account['id']}/credentials",
                        data={"csrf": csrf(page.text), **new, "mchid": "1900000999"})
    assert other.status_code == 400 and "credentials_identity_changed" in other.text
    for refused in (missing, other):
        assert changed["apiv3_key"] not in refused.text and changed["merchant_private_key"].splitlines()[1] \
            not in refused.text
    before = merchant.api.get(f"/v1/channel_accounts/{account['id']}").json()["credentials"]
    assert before["apiv3_key"]["last4"] == creds["apiv3_key"][-4:]

    done = client.post(f"/dashboard/accounts/{account['id']}/credentials", data={"csrf": csrf(page.text), **new})
    assert done.status_code == 303 and done.headers["location"] == "/dashboard/accounts?done=rotated"
    after = client.get(done.headers["location"]).text
    assert 'id="notice"' in after and f"····{changed['apiv3_key'][-4:]}" in after
    fresh = merchant.create_payment("wechat_native", amount=700).json()  # signed with the new key
    merchant.pay(fresh)
    assert merchant.wait_status(f"/v1/payments/{fresh['id']}", "succeeded")["status"] == "succeeded"
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'credentials.rotated' "
                        "AND target_id = :a", a=account["id"]) == [(1,)]


def test_rotation_from_the_page_is_guarded(platform: PlatformUnderTest) -> None:
    merchant, stranger = platform.merchant(), platform.merchant("Stranger")
    account, creds = merchant.own_sandbox_account("wechatpay")
    client = signed_in(platform, key_of(merchant.api))
    token = csrf(client.get("/dashboard/accounts").text)
    no_token = client.post(f"/dashboard/accounts/{account['id']}/credentials", data=creds)
    assert no_token.status_code == 403 and "csrf_failed" in no_token.text
    foreign = signed_in(platform, key_of(stranger.api))
    assert foreign.get(f"/dashboard/accounts/{account['id']}/credentials").status_code == 404
    foreign_token = csrf(foreign.get("/dashboard/accounts").text)
    assert foreign.post(f"/dashboard/accounts/{account['id']}/credentials",
                        data={"csrf": foreign_token, **creds}).status_code == 404
    made = merchant.api.post("/v1/api_keys", json={"mode": "test", "read_only": True})
    reader = signed_in(platform, made.json()["key"])
    assert f'id="rotate-{account["id"]}"' not in reader.get("/dashboard/accounts").text
    read_token = csrf(reader.get("/dashboard/accounts").text)
    refused = reader.post(f"/dashboard/accounts/{account['id']}/credentials", data={"csrf": read_token, **creds})
    assert refused.status_code == 403 and "read_only_key" in refused.text
    assert client.get("/dashboard/accounts/acct_nope/credentials").status_code == 404
    assert token and platform.sql("SELECT count(*) FROM audit_events WHERE action = 'credentials.rotated'") == [(0,)]
