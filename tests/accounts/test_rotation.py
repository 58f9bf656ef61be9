"""Credential rotation with payments in flight: the callbacks the channel built under the old keys still
verify during the grace window, forgeries do not, requests use the new keys at once, and a test payment
with the new keys ends the window (the old ones are refused from then on)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from indiepay.accounts.rotation import drop_expired_previous
from indiepay.notify.service import PREVIOUS_CREDENTIALS_NOTE
from tests.accounts.support import capture_alipay, capture_wechat, post_alipay, post_wechat, status_of
from tests.support.platform import MerchantClient, PlatformUnderTest


def _rotate(merchant: MerchantClient, account: dict[str, Any], credentials: dict[str, str]) -> httpx.Response:
    return merchant.api.put(f"/v1/channel_accounts/{account['id']}/credentials", json={"credentials": credentials})


def _notes(platform: PlatformUnderTest, account_id: str) -> list[str | None]:
    rows = platform.sql("SELECT detail FROM received_notifications WHERE account_id = :id ORDER BY received_at",
                        id=account_id)
    return [row[0] for row in rows]


def _actions(platform: PlatformUnderTest, account_id: str) -> list[str]:
    events = platform.admin.get("/v1/audit_events", params={"limit": 1000}).json()
    return [e["action"] for e in events if e["target_id"] == account_id]


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_wechat_rotation_keeps_in_flight_callbacks_until_the_new_keys_are_verified(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, creds = merchant.own_sandbox_account("wechatpay")
    merchant.verify(account)
    mchid = creds["mchid"]
    in_flight, headers, body = capture_wechat(platform, merchant, mchid, amount=2345)

    # the merchant resets its APIv3 key and API certificate at WeChat, then tells IndiePay
    changed = httpx.post(f"{platform.sandbox}/wechatpay/_credentials/rotate",
                         json={"mchid": mchid, "apiv3_key": True, "merchant_key": True},
                         timeout=30).json()["credentials"]
    assert set(changed) == {"apiv3_key", "merchant_serial_no", "merchant_private_key"}
    new_creds = {**creds, **changed}
    rotated = _rotate(merchant, account, new_creds)
    assert rotated.status_code == 200, rotated.text
    out = rotated.json()
    assert out["verified_at"] is None and out["previous_credentials"]["apiv3_key"]["last4"] == creds["apiv3_key"][-4:]
    assert out["credentials"]["apiv3_key"]["last4"] == changed["apiv3_key"][-4:]
    for secret in (creds["apiv3_key"], changed["apiv3_key"], changed["merchant_private_key"].splitlines()[1]):
        assert secret not in rotated.text

    # a forgery is refused inside the window (the old key does not make it genuine)
    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x01
    assert post_wechat(platform, account["id"], headers, bytes(flipped)).status_code == 400
    # the gateway resends the body it built before the change: accepted under the previous APIv3 key
    httpx.delete(f"{platform.sandbox}/wechatpay/_faults", params={"mchid": mchid}, timeout=30)
    merchant.wait_status(f"/v1/payments/{in_flight['id']}", "succeeded", timeout=40)
    assert PREVIOUS_CREDENTIALS_NOTE in _notes(platform, account["id"])

    # requests use the new credentials at once (new API certificate, new APIv3 key for callbacks)
    fresh = merchant.create_payment("wechat_native", amount=700).json()
    assert fresh["status"] == "pending", fresh
    merchant.pay(fresh)
    merchant.wait_status(f"/v1/payments/{fresh['id']}", "succeeded")

    verified = merchant.verify(account)  # a 0.01 test payment with the new keys ends the window
    assert verified["previous_credentials"] is None and verified["previous_credentials_until"] is None
    assert post_wechat(platform, account["id"], headers, body).status_code == 400  # the old key: refused now
    reasons = platform.sql("SELECT reason FROM rejected_notifications WHERE account_id = :id", id=account["id"])
    assert [r[0] for r in reasons] == ["verification_failed", "verification_failed"]
    actions = _actions(platform, account["id"])
    assert actions.index("credentials.rotated") < actions.index("credentials.previous_dropped")
    assert "credentials.viewed" in actions


def test_alipay_rotation_accepts_notifies_signed_with_the_old_key_during_the_window(
        platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, creds = merchant.own_sandbox_account("alipay")
    app_id = creds["app_id"]
    in_flight, form = capture_alipay(platform, merchant, app_id, amount=1500)
    changed = httpx.post(f"{platform.sandbox}/alipay/_credentials/rotate", json={"app_id": app_id},
                         timeout=30).json()["credentials"]
    assert set(changed) == {"app_private_key", "alipay_public_key"}
    assert _rotate(merchant, account, {**creds, **changed}).status_code == 200

    forged = {**form, "total_amount": "0.01"}
    assert post_alipay(platform, account["id"], forged).text == "fail"
    reply = post_alipay(platform, account["id"], form)  # signed once, before the change, resent as is
    assert reply.status_code == 200 and reply.text == "success"
    assert status_of(merchant, in_flight) == "succeeded"
    assert _notes(platform, account["id"]) == [PREVIOUS_CREDENTIALS_NOTE]

    fresh = merchant.create_payment("alipay_qr", amount=800).json()  # requests: the new app key
    assert fresh["status"] == "pending", fresh
    # the window ends (time passes): the old key is refused, and the daily key check forgets it
    platform.sql("UPDATE channel_accounts SET previous_credentials_until = :t WHERE id = :id",
                 t="2000-01-01 00:00:00.000000", id=account["id"])
    assert post_alipay(platform, account["id"], form).text == "fail"
    with platform.runtime.ctx.db.transaction() as session:
        assert drop_expired_previous(session, platform.runtime.ctx.clock) == 1
    assert merchant.api.get(f"/v1/channel_accounts/{account['id']}").json()["previous_credentials"] is None
    assert "credentials.previous_dropped" in _actions(platform, account["id"])
