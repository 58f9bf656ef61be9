"""Acceptance: a WeChat Pay platform-certificate rotation, and the migration to public-key mode, reject no
valid callback — payments paid before, during and after each step all succeed by callback, nothing lands
in ``rejected_notifications``, and the gateway is asked for its certificates once per new serial."""

from __future__ import annotations

from typing import Any

import httpx

from tests.accounts.support import capture_wechat, post_wechat
from tests.support.platform import MerchantClient, PlatformUnderTest


def _knobs(platform: PlatformUnderTest, mchid: str, **knobs: Any) -> dict[str, Any]:
    response = httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": mchid, **knobs}, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _paid(merchant: MerchantClient, payment: dict[str, Any]) -> None:
    assert merchant.pay(payment).status_code == 200
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def test_certificate_rotation_and_public_key_switch_reject_no_callback(platform: PlatformUnderTest) -> None:
    fetches: list[str] = []
    http = platform.runtime.ctx.adapters.http

    def count(request: httpx.Request) -> None:
        if request.url.path.endswith("/v3/certificates"):
            fetches.append(str(request.url))

    hooks = http.event_hooks
    http.event_hooks = {**hooks, "request": [*hooks["request"], count]}
    merchant = platform.merchant()
    creds = httpx.post(f"{platform.sandbox}/wechatpay/_provision", json={"key_mode": "platform_certificate"},
                       timeout=30).json()["credentials"]
    created = merchant.api.post("/v1/channel_accounts", json={"channel": "wechatpay", "environment": "sandbox",
                                                              "credentials": creds})
    assert created.status_code == 201, created.text
    account, mchid = created.json(), creds["mchid"]

    before = merchant.create_payment(amount=101).json()
    _paid(merchant, before)
    assert len(fetches) == 1  # the first serial
    _, headers, body = capture_wechat(platform, merchant, mchid, amount=102)  # signed by serial 1
    straddling = merchant.create_payment(amount=103).json()  # created before, paid after the rotation

    view = _knobs(platform, mchid, rotate_platform_certificate=True)
    assert len(view["platform_certificate_serials"]) == 2  # the overlap: both listed
    assert post_wechat(platform, account["id"], headers, body).status_code == 204  # old serial, still trusted
    httpx.delete(f"{platform.sandbox}/wechatpay/_faults", params={"mchid": mchid}, timeout=30)
    _paid(merchant, straddling)  # its callback names the new serial: one re-fetch
    after = merchant.create_payment(amount=104).json()
    _paid(merchant, after)
    assert len(fetches) == 2
    _knobs(platform, mchid, retire_old_platform_certificates=True)

    # public-key migration: the key exists, the account learns it, then the gateway switches to it
    view = _knobs(platform, mchid, create_public_key=True)
    assert view["key_mode"] == "platform_certificate"
    migrating = merchant.create_payment(amount=105).json()
    updated = merchant.api.put(f"/v1/channel_accounts/{account['id']}/credentials", json={"credentials": {
        **creds, "wechatpay_public_key_id": view["wechatpay_public_key_id"],
        "wechatpay_public_key": view["wechatpay_public_key"]}})
    assert updated.status_code == 200, updated.text
    _paid(merchant, migrating)  # still signed with the certificate: carried over, no re-fetch
    view = _knobs(platform, mchid, switch_to_public_key=True)
    assert view["signing_serial"].startswith("PUB_KEY_ID_")
    switched = merchant.create_payment(amount=106).json()
    _paid(merchant, switched)

    assert platform.sql("SELECT count(*) FROM rejected_notifications") == [(0,)]
    deliveries = httpx.get(f"{platform.sandbox}/wechatpay/_callbacks", params={"mchid": mchid},
                           timeout=30).json()["deliveries"]
    sent = [d for d in deliveries if d["kind"] == "delivery"]
    assert sent and all(200 <= (d["status"] or 0) < 300 for d in sent), sent
    assert len(fetches) == 2  # one per new serial; none after the credentials changed
