"""Forged or replayed callbacks change nothing; 50 concurrent copies of a genuine one make one transition.

A genuine callback is captured from the sandbox gateway (its delivery is dropped, and the log keeps the
signed request it would have sent), then replayed as-is or tampered with.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from indiepay.channels.wechatpay import signing
from tests.support.platform import MerchantClient, PlatformUnderTest


def capture_wechat_callback(platform: PlatformUnderTest, merchant: MerchantClient,
                            creds: dict[str, str]) -> tuple[dict[str, Any], dict[str, str], bytes]:
    """Create a payment, let the buyer pay with every delivery dropped, return the signed callback."""
    mchid = creds["mchid"]
    httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": mchid, "drop_callbacks": 1000})
    payment = merchant.create_payment("wechat_native", amount=4321).json()
    assert merchant.pay(payment).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = httpx.get(f"{platform.sandbox}/wechatpay/_callbacks", params={"mchid": mchid}).json()
        entries = log if isinstance(log, list) else log.get("deliveries", [])
        dropped = [e for e in entries if e.get("kind") == "dropped" and e.get("body")]
        if dropped:
            return payment, dict(dropped[0]["headers"]), dropped[0]["body"].encode()
        time.sleep(0.05)
    raise AssertionError("no callback captured")


def post_callback(platform: PlatformUnderTest, account_id: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(f"{platform.base_url}/notify/wechatpay/{account_id}", content=body,
                      headers={**headers, "Content-Type": "application/json"}, timeout=30)


def status_of(merchant: MerchantClient, payment: dict[str, Any]) -> str:
    return str(merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"])


def reencrypt(body: bytes, apiv3_key: str, change: dict[str, Any]) -> bytes:
    """Decrypt the resource, change fields, encrypt again (what an attacker holding the APIv3 key could do;
    they still cannot sign as WeChat Pay)."""
    event = json.loads(body)
    resource = event["resource"]
    plain = json.loads(signing.aead_decrypt(apiv3_key.encode(), resource["nonce"], resource["associated_data"],
                                            resource["ciphertext"]))
    for key, value in change.items():
        if key == "amount":
            plain["amount"]["total"] = value
            plain["amount"]["payer_total"] = value
        else:
            plain[key] = value
    resource["ciphertext"] = signing.aead_encrypt(apiv3_key.encode(), resource["nonce"],
                                                  resource["associated_data"], json.dumps(plain).encode())
    return json.dumps(event).encode()


def test_forged_callbacks_change_nothing_and_the_genuine_one_works(platform: PlatformUnderTest) -> None:
    merchant, other = platform.merchant("A"), platform.merchant("B")
    account, creds = merchant.own_sandbox_account("wechatpay")
    other_account, _ = other.own_sandbox_account("wechatpay")
    payment, headers, body = capture_wechat_callback(platform, merchant, creds)

    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x01
    signature = headers["Wechatpay-Signature"]
    forgeries: list[tuple[str, dict[str, str], bytes, str]] = [
        ("flipped body byte", headers, bytes(flipped), account["id"]),
        ("wrong serial", {**headers, "Wechatpay-Serial": "PUB_KEY_ID_0000000000000000000000000000"}, body,
         account["id"]),
        ("SIGNTEST probe", {**headers, "Wechatpay-Signature": signing.SIGNTEST_MARKER + signature}, body,
         account["id"]),
        ("another merchant's route", headers, body, other_account["id"]),
        ("unknown route", headers, body, "acct_doesnotexist"),
        ("altered amount", headers, reencrypt(body, creds["apiv3_key"], {"amount": 1}), account["id"]),
        ("altered mchid", headers, reencrypt(body, creds["apiv3_key"], {"mchid": "1900000001"}), account["id"]),
        ("altered out_trade_no", headers, reencrypt(body, creds["apiv3_key"], {"out_trade_no": "OTHER0001"}),
         account["id"]),
        ("no signature", {k: v for k, v in headers.items() if k != "Wechatpay-Signature"}, body, account["id"]),
    ]
    for name, forged_headers, forged_body, route in forgeries:
        response = post_callback(platform, route, forged_headers, forged_body)
        assert 400 <= response.status_code < 600, name
        assert status_of(merchant, payment) == "pending", name

    signed_at = int(headers["Wechatpay-Timestamp"])
    # shifting our clock makes the payment's backoff query due; keep it off so only the callback can act
    platform.sql("UPDATE jobs SET run_at = :later WHERE kind = 'payment.query'",
                 later=datetime.now(UTC) + timedelta(days=1))
    for skew in (301, -301):  # our clock 301 s after the signed timestamp (old), or 301 s before it (ahead)
        platform.clock.offset = timedelta(seconds=signed_at + skew - time.time())
        response = post_callback(platform, account["id"], headers, body)
        assert response.status_code >= 400, f"timestamp {skew} s off"
        assert status_of(merchant, payment) == "pending"
    platform.clock.offset = timedelta(0)
    rejected = platform.sql("SELECT count(*) FROM rejected_notifications")[0][0]
    assert rejected >= len(forgeries) - 1  # the unknown route has no account to log against
    assert platform.sql("SELECT count(*) FROM events") == [(0,)]

    genuine = post_callback(platform, account["id"], headers, body)
    assert genuine.status_code in (200, 204), genuine.text
    assert status_of(merchant, payment) == "succeeded"
    again = post_callback(platform, account["id"], headers, body)  # WeChat may resend a handled callback
    assert again.status_code in (200, 204)
    assert platform.sql("SELECT type FROM events") == [("payment.succeeded",)]


@pytest.mark.postgres
def test_fifty_concurrent_identical_callbacks_make_one_transition(pg_platform: PlatformUnderTest) -> None:
    merchant = pg_platform.merchant()
    account, creds = merchant.own_sandbox_account("wechatpay")
    merchant.api.put("/v1/webhook_endpoint", json={"url": "http://127.0.0.1:9/hooks"})
    payment, headers, body = capture_wechat_callback(pg_platform, merchant, creds)
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: post_callback(pg_platform, account["id"], headers, body), range(50)))
    assert all(r.status_code in (200, 204) for r in responses), [r.text for r in responses if r.status_code >= 300]
    assert status_of(merchant, payment) == "succeeded"
    assert pg_platform.sql("SELECT type FROM events") == [("payment.succeeded",)]
    assert pg_platform.sql("SELECT count(*) FROM jobs WHERE kind = 'webhook.deliver'") == [(1,)]
    assert pg_platform.sql("SELECT count(*) FROM received_notifications") == [(1,)]


def capture_alipay_notify(platform: PlatformUnderTest, merchant: MerchantClient,
                          creds: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    app_id = creds["app_id"]
    httpx.post(f"{platform.sandbox}/alipay/_faults", json={"app_id": app_id, "drop_callbacks": 1000})
    payment = merchant.create_payment("alipay_qr", amount=4321).json()
    assert merchant.pay(payment).status_code == 200
    order = httpx.get(f"{platform.sandbox}/alipay/_orders/{app_id}/{payment['out_trade_no']}").json()
    return payment, dict(order["notifies"][0]["form"])


def test_forged_alipay_notifies_change_nothing(platform: PlatformUnderTest) -> None:
    merchant, other = platform.merchant("A"), platform.merchant("B")
    account, creds = merchant.own_sandbox_account("alipay")
    other_account, _ = other.own_sandbox_account("alipay")
    payment, form = capture_alipay_notify(platform, merchant, creds)

    def post(route: str, data: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{platform.base_url}/notify/alipay/{route}", data=data, timeout=30)

    forgeries = [
        ("altered amount", account["id"], {**form, "total_amount": "0.01"}),
        ("altered out_trade_no", account["id"], {**form, "out_trade_no": "OTHER0001"}),
        ("altered seller", account["id"], {**form, "seller_id": "2088000000000001"}),
        ("altered app_id", account["id"], {**form, "app_id": "2021000000000001"}),
        ("flipped signature", account["id"], {**form, "sign": form["sign"][:-6] + "AAAAAA"}),
        ("no signature", account["id"], {k: v for k, v in form.items() if k != "sign"}),
        ("another merchant's route", other_account["id"], form),
    ]
    for name, route, data in forgeries:
        response = post(route, data)
        assert response.text != "success" and response.status_code >= 400, name
        assert status_of(merchant, payment) == "pending", name
    genuine = post(account["id"], form)
    assert genuine.status_code == 200 and genuine.text == "success"
    assert status_of(merchant, payment) == "succeeded"
    assert post(account["id"], form).text == "success"  # a resend is acknowledged, changes nothing
    assert platform.sql("SELECT type FROM events") == [("payment.succeeded",)]
