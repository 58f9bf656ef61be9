"""Live shares in the books: what the merchant's own channel account sent to its receivers (and took back)
is posted on its memo accounts, and the month's statement shows it, net of it, still reconciling."""

from __future__ import annotations

from datetime import datetime

from indiepay.core.clock import BUSINESS_TZ
from tests.sharing.sharing_support import wait_settled
from tests.support.platform import PlatformUnderTest


def test_live_shares_and_returns_reach_the_ledger_and_the_statement(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.live_account("wechatpay")
    created = merchant.create_payment("wechat_native", amount=10_000, live=True, profit_sharing=True)
    assert created.status_code == 201, created.text
    payment = created.json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded", live=True)
    receiver = merchant.live.post("/v1/profit_sharing/receivers", json={
        "channel_account_id": account["id"], "type": "wechat_merchant", "account": "1900012345",
        "name": "分销商有限公司"}).json()
    order = merchant.live.post("/v1/profit_sharing/orders", json={
        "payment_id": payment["id"], "receivers": [{"receiver_id": receiver["id"], "amount": 1_500}]}).json()
    live_api = merchant.api
    merchant.api = merchant.live  # the helpers read through merchant.api
    try:
        wait_settled(merchant, f"/v1/profit_sharing/orders/{order['id']}", "finished", "sharing.sync")
        back = merchant.live.post("/v1/profit_sharing/returns", json={
            "order_id": order["id"], "receiver_id": receiver["id"], "amount": 600}).json()
        wait_settled(merchant, f"/v1/profit_sharing/returns/{back['id']}", "succeeded", "sharing.return_sync")
    finally:
        merchant.api = live_api

    entries = platform.sql("SELECT event_type, event_key FROM ledger_entries WHERE event_type LIKE 'share%' "
                           "ORDER BY sequence")
    assert [e[0] for e in entries] == ["share_sent", "share_returned"]
    balances = dict(platform.sql(
        "SELECT a.kind, sum(p.amount) FROM ledger_postings p JOIN ledger_accounts a ON a.id = p.account_id "
        "WHERE a.merchant_id = :m AND a.kind IN ('memo_shared', 'memo_clearing') GROUP BY a.kind", m=merchant.id))
    assert balances["memo_shared"] == 900

    month = datetime.now(BUSINESS_TZ).strftime("%Y-%m")
    statement = merchant.live.get(f"/v1/statements/{month}")
    assert statement.status_code == 200, statement.text
    body = statement.json()["body"]
    line = next(item for item in body["lines"] if item["mode"] == "independent" and item["channel"] == "wechatpay")
    assert (line["gross"], line["shared"], line["shares_returned"]) == (10_000, 1_500, 600)
    assert line["net"] == 10_000 - line["channel_fee"] - line["platform_fee"] - 900
    assert all(check["ok"] for check in body["reconciliation"]["accounts"])
    assert any(check["account"] == "memo_shared" and check["ledger_change"] == 900
               for check in body["reconciliation"]["accounts"])
