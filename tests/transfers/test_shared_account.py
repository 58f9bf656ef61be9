"""Bank transfers to the platform's one receiving account, over real loopback HTTP: every merchant collecting
through the platform has its buyers pay into it, so a bank transaction number another merchant already
confirmed is refused — through the API and from the dashboard — without naming that merchant's payment or
telling anything of its transfer, and nothing changes; a merchant's own earlier use is still named. The
account's statement is not a merchant's to import (its answer would list every merchant's credits)."""

from __future__ import annotations

from typing import Any

from tests.support.platform import MerchantClient, PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, signed_in


def _transfer_payment(merchant: MerchantClient, amount: int) -> dict[str, Any]:
    created = merchant.create_payment("bank_transfer", amount=amount)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_another_merchants_bank_number_is_refused_without_naming_its_payment(platform: PlatformUnderTest) -> None:
    shared = platform.platform_account("bank_transfer")
    tea, cake = platform.platform_merchant("Tea"), platform.platform_merchant("Cake")
    teas, cakes = _transfer_payment(tea, 5_000), _transfer_payment(cake, 4_000)
    assert teas["channel_account_id"] == cakes["channel_account_id"] == shared["id"]
    confirmed = tea.api.post(f"/v1/payments/{teas['id']}/confirm_transfer",
                             json={"bank_txn_id": "TXN-778899", "amount": 5_000, "payer_name": "张三"})
    assert confirmed.status_code == 200, confirmed.text

    for amount in (4_000, 5_000):  # whatever amount it claims, nothing of Tea's transfer is told
        probe = cake.api.post(f"/v1/payments/{cakes['id']}/confirm_transfer",
                              json={"bank_txn_id": "TXN-778899", "amount": amount})
        assert probe.status_code == 409, probe.text
        assert probe.json()["error"]["code"] == "transfer_already_matched"
        assert probe.json()["error"]["details"] == {"bank_txn_id": "TXN-778899"}
        assert not any(leak in probe.text for leak in (teas["id"], tea.id, "5000", "张三"))

    client = signed_in(platform, key_of(cake.api))
    page = client.get(f"/dashboard/payments/{cakes['id']}").text
    from_page = client.post(f"/dashboard/payments/{cakes['id']}/confirm_transfer", data={
        "csrf": csrf(page), "bank_txn_id": "TXN-778899", "amount": "40.00"})
    assert from_page.status_code == 409 and "transfer_already_matched" in from_page.text
    assert teas["id"] not in from_page.text and tea.id not in from_page.text

    assert cake.api.get(f"/v1/payments/{cakes['id']}").json()["status"] == "pending"
    assert platform.sql("SELECT merchant_id, payment_id FROM bank_statement_lines") == [(tea.id, teas["id"])]
    assert cake.api.get("/v1/bank_transfers/lines").json()["data"] == []
    statement = "交易时间,交易流水号,金额,对方户名,附言\n2026-11-27 10:00:00,TXN-778899,50.00,张三,货款\n"
    imported = cake.api.post("/v1/bank_transfers/statements", params={"account_id": shared["id"]},
                             content=statement.encode("gbk"), headers={"Content-Type": "text/csv"})
    assert imported.status_code == 404  # the platform's statement is not a merchant's to import (or read back)

    again = _transfer_payment(tea, 5_000)  # the merchant's own earlier use is its own to be told
    own = tea.api.post(f"/v1/payments/{again['id']}/confirm_transfer",
                       json={"bank_txn_id": "TXN-778899", "amount": 5_000})
    assert own.status_code == 409 and own.json()["error"]["details"] == {"payment_id": teas["id"]}
