"""Profit sharing end to end over real loopback HTTP against the sandbox gateways: receivers declared to
the channel, shares carried out asynchronously (WeChat Pay) or at once (Alipay), the money they hold kept
out of refunds, returns, unfreezing the rest, and the channel's refusals giving the money back."""

from __future__ import annotations

import httpx

from tests.sharing.sharing_support import alipay_receiver, paid_payment, share, wait_settled, wechat_receiver
from tests.support.platform import PlatformUnderTest
from tests.support.webhooks import webhook_inbox


def test_wechat_shares_hold_money_back_from_refunds_until_returned(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    with webhook_inbox() as (inbox, hook_url):
        inbox.secret = merchant.api.put("/v1/webhook_endpoint", json={"url": hook_url}).json()["secret"]
        payment = paid_payment(merchant, "wechatpay", amount=10_000)
        partner = wechat_receiver(merchant, account["id"])
        assert partner["name_hint"] == "*司" and "深圳" not in str(partner)
        person = merchant.api.post("/v1/profit_sharing/receivers", json={
            "channel_account_id": account["id"], "type": "wechat_openid", "account": "o" + "x" * 27}).json()

        created = share(merchant, payment["id"], [(partner["id"], 1_000), (person["id"], 500)])
        assert created.status_code == 201, created.text
        order = created.json()
        assert order["status"] == "processing" and order["amount"] == 1_500
        assert [line["result"] for line in order["receivers"]] == ["pending", "pending"]
        assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 1_500

        done = wait_settled(merchant, f"/v1/profit_sharing/orders/{order['id']}", "finished", "sharing.sync")
        assert [line["result"] for line in done["receivers"]] == ["succeeded", "succeeded"]
        assert done["channel_order_id"]  # WeChat Pay's order_id
        event = inbox.wait_for("sharing_order.finished", order["id"])
        assert event["data"]["object"]["amount"] == 1_500

        too_much = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 8_501})
        assert too_much.status_code == 409
        assert too_much.json()["error"]["details"]["refundable"] == 8_500

        returned = merchant.api.post("/v1/profit_sharing/returns", json={
            "order_id": order["id"], "receiver_id": partner["id"], "amount": 600})
        assert returned.status_code == 201, returned.text
        back = wait_settled(merchant, f"/v1/profit_sharing/returns/{returned.json()['id']}", "succeeded",
                            "sharing.return_sync")
        assert back["amount"] == 600
        inbox.wait_for("sharing_return.succeeded", back["id"])
        assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 900
        over = merchant.api.post("/v1/profit_sharing/returns", json={
            "order_id": order["id"], "receiver_id": partner["id"], "amount": 401})
        assert over.status_code == 409 and over.json()["error"]["code"] == "return_exceeds_share"
        listed_returns = merchant.api.get("/v1/profit_sharing/returns", params={"order_id": order["id"]}).json()
        assert [r["id"] for r in listed_returns["data"]] == [back["id"]] and not listed_returns["has_more"]
        assert merchant.api.get("/v1/profit_sharing/returns", params={"order_id": "pso_nope"}).status_code == 404
        openid_return = merchant.api.post("/v1/profit_sharing/returns", json={
            "order_id": order["id"], "receiver_id": person["id"], "amount": 1})
        assert openid_return.json()["error"]["code"] == "return_not_supported"

        finish = share(merchant, payment["id"], [], finish=True)
        assert finish.status_code == 201, finish.text
        finished = wait_settled(merchant, f"/v1/profit_sharing/orders/{finish.json()['id']}", "finished",
                                "sharing.sync")
        assert finished["unfrozen_amount"] == 9_100
        again = share(merchant, payment["id"], [(partner["id"], 1)])
        assert again.status_code == 409 and again.json()["error"]["code"] == "profit_sharing_finished"

        refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 9_100})
        assert refund.status_code == 201, refund.text
        listed = merchant.api.get("/v1/profit_sharing/orders", params={"payment_id": payment["id"]}).json()
        assert [o["id"] for o in listed["data"]] == [finish.json()["id"], order["id"]]


def test_alipay_settles_at_once_and_takes_no_separate_returns(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("alipay")
    payment = paid_payment(merchant, "alipay", amount=20_000)
    receiver = alipay_receiver(merchant, account["id"])
    created = share(merchant, payment["id"], [(receiver["id"], 3_000)], finish=True)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["status"] == "finished", order
    assert order["receivers"][0]["result"] == "succeeded" and order["unfrozen_amount"] == 17_000
    assert order["channel_order_id"]  # Alipay's settle_no, from the settle's own answer
    refused = merchant.api.post("/v1/profit_sharing/returns", json={
        "order_id": order["id"], "receiver_id": receiver["id"], "amount": 100})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "return_not_supported"
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 17_001})
    assert refund.status_code == 409 and refund.json()["error"]["code"] == "refund_exceeds_refundable"
    untouched = paid_payment(merchant, "alipay", amount=5_000)
    only_unfreeze = share(merchant, untouched["id"], [], finish=True, out_order_no="UNFREEZE_0001")
    assert only_unfreeze.status_code == 201, only_unfreeze.text
    assert only_unfreeze.json()["status"] == "finished" and only_unfreeze.json()["unfrozen_amount"] == 5_000


def test_the_channel_refusing_or_closing_shares_gives_the_money_back(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay", amount=10_000)

    over_ratio = share(merchant, payment["id"], [(receiver["id"], 3_001)])  # WeChat's 30 % by default
    assert over_ratio.status_code == 201, over_ratio.text
    assert over_ratio.json()["status"] == "failed" and over_ratio.json()["failure_code"] == "INVALID_REQUEST"
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 0

    knob = httpx.post(f"{platform.sandbox}/wechatpay/_faults", timeout=30,
                      json={"mchid": credentials["mchid"], "profitsharing_close_reason": "ACCOUNT_ABNORMAL"})
    assert knob.status_code < 300, knob.text
    closed = share(merchant, payment["id"], [(receiver["id"], 2_000)]).json()
    done = wait_settled(merchant, f"/v1/profit_sharing/orders/{closed['id']}", "finished", "sharing.sync")
    assert done["receivers"][0]["result"] == "closed" and done["receivers"][0]["fail_reason"] == "ACCOUNT_ABNORMAL"
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 0


def test_a_share_the_channel_never_got_is_sent_again_by_its_job(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay")
    httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": credentials["mchid"], "fail_with_500": 1},
               timeout=30)
    order = share(merchant, payment["id"], [(receiver["id"], 1_000)]).json()
    assert order["status"] == "processing"  # the outcome is unknown: kept, and its job asks
    done = wait_settled(merchant, f"/v1/profit_sharing/orders/{order['id']}", "finished", "sharing.sync")
    assert done["receivers"][0]["result"] == "succeeded"
    calls = platform.sql("SELECT operation, outcome FROM channel_calls WHERE payment_id = :id "
                         "AND operation LIKE 'sharing%' ORDER BY created_at", id=payment["id"])
    assert ("sharing", "unknown") in calls and ("sharing", "ok") in calls


def test_bad_requests_write_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    wechat = merchant.sandbox_account("wechatpay")
    alipay = merchant.sandbox_account("alipay")
    receiver = wechat_receiver(merchant, wechat["id"])
    plain = merchant.create_payment("wechat_native").json()
    merchant.pay(plain)
    merchant.wait_status(f"/v1/payments/{plain['id']}", "succeeded")
    pending = merchant.create_payment("wechat_native", profit_sharing=True).json()
    shared = paid_payment(merchant, "wechatpay")

    def code(response: httpx.Response) -> tuple[int, str]:
        return response.status_code, response.json()["error"]["code"]

    assert code(share(merchant, plain["id"], [(receiver["id"], 100)])) == (409, "payment_not_opened_for_sharing")
    assert code(share(merchant, pending["id"], [(receiver["id"], 100)])) == (409, "payment_not_shareable")
    assert code(share(merchant, shared["id"], [(receiver["id"], 100), (receiver["id"], 5)])) == \
        (400, "duplicate_receiver")
    assert code(share(merchant, shared["id"], [])) == (400, "missing_field")
    assert code(share(merchant, shared["id"], [(receiver["id"], 0)]))[0] == 400
    assert code(share(merchant, shared["id"], [("rcv_nope", 10)])) == (404, "receiver_not_found")
    assert code(share(merchant, "pay_nope", [(receiver["id"], 10)])) == (404, "payment_not_found")
    assert code(share(merchant, shared["id"], [(receiver["id"], 10_001)])) == (409, "share_exceeds_shareable")
    mismatch = merchant.api.post("/v1/profit_sharing/receivers", json={
        "channel_account_id": alipay["id"], "type": "wechat_merchant", "account": "1900000109", "name": "X"})
    assert code(mismatch) == (400, "receiver_type_mismatch")
    nameless = merchant.api.post("/v1/profit_sharing/receivers", json={
        "channel_account_id": wechat["id"], "type": "wechat_merchant", "account": "1900000109"})
    assert code(nameless) == (400, "missing_field")
    refused = merchant.api.post("/v1/profit_sharing/receivers", json={
        "channel_account_id": wechat["id"], "type": "wechat_merchant", "account": "abc", "name": "X"})
    assert code(refused) == (422, "channel_rejected")
    ali_receiver = alipay_receiver(merchant, alipay["id"])
    assert code(share(merchant, shared["id"], [(ali_receiver["id"], 10)])) == (409, "receiver_not_on_account")
    removed = merchant.api.delete(f"/v1/profit_sharing/receivers/{receiver['id']}")
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    assert code(share(merchant, shared["id"], [(receiver["id"], 10)])) == (409, "receiver_removed")

    counts = platform.sql("SELECT count(*) FROM sharing_orders")[0][0], platform.sql(
        "SELECT shared_reserved FROM payments WHERE id = :id", id=shared["id"])[0][0]
    assert counts == (0, 0)
    receivers = merchant.api.get("/v1/profit_sharing/receivers").json()["data"]
    assert sorted(r["status"] for r in receivers) == ["active", "removed"]


def test_merchants_see_only_their_own_and_keys_replay(platform: PlatformUnderTest) -> None:
    merchant, other = platform.merchant(), platform.merchant("Other")
    account = merchant.sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay")
    body = {"payment_id": payment["id"], "receivers": [{"receiver_id": receiver["id"], "amount": 700}]}
    first = merchant.api.post("/v1/profit_sharing/orders", json=body, headers={"Idempotency-Key": "share-1"})
    again = merchant.api.post("/v1/profit_sharing/orders", json=body, headers={"Idempotency-Key": "share-1"})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert first.json()["out_order_no"].startswith("ps_")
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 700
    changed = dict(body, receivers=[{"receiver_id": receiver["id"], "amount": 701}])
    reused = merchant.api.post("/v1/profit_sharing/orders", json=changed, headers={"Idempotency-Key": "share-1"})
    assert reused.status_code in (409, 422)
    for path in (f"/v1/profit_sharing/orders/{first.json()['id']}", f"/v1/profit_sharing/receivers/{receiver['id']}"):
        assert other.api.get(path).status_code == 404
        assert merchant.live.get(path).status_code == 404  # test data is not live data
    assert share(other, payment["id"], [(receiver["id"], 10)]).status_code == 404


def test_platform_collected_payments_cannot_be_opened_for_sharing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Small", subject_type="individual")
    platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "platform"})
    platform.platform_account("wechatpay")
    refused = merchant.create_payment("wechat_native", profit_sharing=True)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "profit_sharing_unavailable"
    assert platform.sql("SELECT count(*) FROM payments")[0][0] == 0


def test_the_kill_switch_stops_shares_but_not_the_merchant_getting_its_money(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay")
    suspended = platform.admin.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "distributor fraud"})
    assert suspended.status_code == 200, suspended.text
    refused = share(merchant, payment["id"], [(receiver["id"], 100)])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "merchant_suspended"
    assert platform.sql("SELECT count(*), sum(shared_reserved) FROM payments WHERE id = :id",
                        id=payment["id"])[0] == (1, 0)
    unfreeze = share(merchant, payment["id"], [], finish=True)
    assert unfreeze.status_code == 201 and unfreeze.json()["status"] == "processing", unfreeze.text
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 500})
    assert refund.status_code == 201, refund.text


def test_an_order_the_channel_never_settles_ends_in_an_alert_with_its_money_held(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay")
    httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": credentials["mchid"],
                                                              "fail_with_500": 1000}, timeout=30)
    order = share(merchant, payment["id"], [(receiver["id"], 1_000)]).json()
    assert order["status"] == "processing"
    platform.sql("UPDATE sharing_orders SET query_attempts = 47 WHERE id = :id", id=order["id"])
    platform.run_jobs_until_one_is_done("sharing.sync")
    alerts = merchant.api.get("/v1/alerts", params={"kind": "sharing_unresolved"}).json()["data"]
    assert len(alerts) == 1 and alerts[0]["details"]["object_id"] == order["id"]
    assert merchant.api.get(f"/v1/profit_sharing/orders/{order['id']}").json()["status"] == "processing"
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 1_000
