"""Helpers for the profit-sharing tests: a paid payment opened for sharing, receivers, waiting on jobs."""

from __future__ import annotations

import secrets
import time
from typing import Any

from tests.support.platform import MerchantClient

METHODS = {"wechatpay": "wechat_native", "alipay": "alipay_qr"}


def paid_payment(merchant: MerchantClient, channel: str, amount: int = 10_000, **extra: Any) -> dict[str, Any]:
    created = merchant.create_payment(METHODS[channel], amount=amount, profit_sharing=True, **extra)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["profit_sharing"] is True and payment["shared_amount"] == 0
    assert merchant.pay(payment).status_code < 300
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def wechat_receiver(merchant: MerchantClient, account_id: str, **extra: Any) -> dict[str, Any]:
    body = {"channel_account_id": account_id, "type": "wechat_merchant",
            "account": "19" + "".join(secrets.choice("0123456789") for _ in range(8)),
            "name": "深圳市分销有限公司", "relation": "distributor", **extra}
    response = merchant.api.post("/v1/profit_sharing/receivers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def alipay_receiver(merchant: MerchantClient, account_id: str) -> dict[str, Any]:
    body = {"channel_account_id": account_id, "type": "alipay_user_id",
            "account": "2088" + "".join(secrets.choice("0123456789") for _ in range(12)), "relation": "distributor"}
    response = merchant.api.post("/v1/profit_sharing/receivers", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def share(merchant: MerchantClient, payment_id: str, lines: list[tuple[str, int]], *, finish: bool = False,
          **extra: Any) -> Any:
    return merchant.api.post("/v1/profit_sharing/orders", json={
        "payment_id": payment_id, "receivers": [{"receiver_id": r, "amount": a} for r, a in lines],
        "finish": finish, **extra})


def wait_settled(merchant: MerchantClient, path: str, wanted: str, job: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll ``path`` until its status is ``wanted``, making the sync jobs due each round (their first run is
    15 s away: a test does not wait for it)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = merchant.api.get(path).json()
        if body.get("status") == wanted:
            return body
        merchant.platform.run_jobs_now(job)
        time.sleep(0.1)
    raise AssertionError(f"{path} stayed {body.get('status')!r}, wanted {wanted!r}: {body}\n"
                         + merchant.platform.what_it_heard())
