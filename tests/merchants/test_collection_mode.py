"""Platform collection, the switch to independent collection (readiness, history), and payments in flight
finishing in the mode they started in — over real loopback HTTP with the sandbox gateways."""

from __future__ import annotations

from tests.support.platform import PlatformUnderTest


def test_platform_mode_routes_to_the_platform_accounts(platform: PlatformUnderTest) -> None:
    merchant_body = platform.admin.post("/v1/merchants", json={
        "name": "Small Shop", "short_name": "Small", "subject_type": "individual",
        "collection_mode": "platform"}).json()
    assert merchant_body["collection_mode"] == "platform"
    merchant = platform.merchant("Small", subject_type="individual")
    platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "platform"})
    merchant.sandbox_account("wechatpay")  # its own account exists but platform mode must not use it

    refused = merchant.create_payment("alipay_qr")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "no_channel_account"
    assert refused.json()["error"]["details"]["collection_mode"] == "platform"

    platform_account = platform.platform_account("wechatpay")
    assert platform_account["owner"] == "platform" and platform_account["merchant_id"] is None
    created = merchant.create_payment("wechat_native", amount=3000)
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["channel_account_id"] == platform_account["id"]
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    # the platform's accounts are the operator's: merchants neither list nor read them
    assert platform_account["id"] not in [a["id"] for a in merchant.api.get("/v1/channel_accounts").json()]
    assert merchant.api.get(f"/v1/channel_accounts/{platform_account['id']}").status_code == 404
    assert merchant.api.get("/v1/platform/channel_accounts").status_code in (401, 403)
    listed = platform.admin.get("/v1/platform/channel_accounts").json()
    assert [a["id"] for a in listed] == [platform_account["id"]]


def test_switch_needs_a_verified_account_and_keeps_history(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    assert platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode",
                              json={"mode": "platform"}).status_code == 200
    account = merchant.live_account("wechatpay")
    refused = merchant.live.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "independent"})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "mode_switch_not_ready"
    assert {"production_account_verified", "kyc_complete"} <= set(error["details"]["unmet"])
    assert error["details"]["environment"] == "production"
    assert merchant.live.get(f"/v1/merchants/{merchant.id}").json()["collection_mode"] == "platform"

    verified = merchant.verify(account)
    assert verified["verified_at"]
    test_payments = [p for p in merchant.live.get("/v1/payments").json()["data"] if p["purpose"]]
    assert len(test_payments) == 1 and test_payments[0]["amount"] == 1
    assert test_payments[0]["refunded_amount"] == 1  # refunded automatically

    switched = merchant.live.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "independent"})
    assert switched.status_code == 200, switched.text
    assert switched.json()["collection_mode"] == "independent"
    again = merchant.live.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "independent"})
    assert again.status_code == 200
    history = merchant.live.get(f"/v1/merchants/{merchant.id}/collection_mode_changes").json()
    assert [(h["from_mode"], h["to_mode"], h["actor"]) for h in history] == [
        ("independent", "platform", "admin"), ("platform", "independent", "merchant:live")]

    other = platform.merchant("Other")
    for key in (other.api, other.live):
        assert key.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "platform"}).status_code == 404
    bad = merchant.live.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "sideways"})
    assert bad.status_code == 422 or bad.status_code == 400


def test_a_test_key_cannot_switch_how_live_money_is_collected(platform: PlatformUnderTest) -> None:
    """The mode is one setting per merchant and decides where live money goes: a test key with a verified
    sandbox account must not switch a merchant without a production account to independent collection
    (its live payments would then have no account). The test key still reads the mode, its history and
    the advice; the live key and the operator switch."""
    platform.platform_account("wechatpay", live=True)
    merchant = platform.merchant()
    assert platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode",
                              json={"mode": "platform"}).status_code == 200
    merchant.verify(merchant.sandbox_account("wechatpay"))
    changes = "SELECT count(*) FROM collection_mode_changes WHERE merchant_id = :m"
    before = platform.sql(changes, m=merchant.id)

    for mode in ("independent", "platform"):  # a switch, and asking for the mode in force
        refused = merchant.api.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": mode})
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "livemode_required"
    assert merchant.live.get(f"/v1/merchants/{merchant.id}").json()["collection_mode"] == "platform"
    assert platform.sql(changes, m=merchant.id) == before
    assert merchant.create_payment("wechat_native", live=True).status_code == 201  # live payments unharmed

    assert merchant.api.get(f"/v1/merchants/{merchant.id}").json()["collection_mode"] == "platform"
    assert [h["actor"] for h in merchant.api.get(
        f"/v1/merchants/{merchant.id}/collection_mode_changes").json()] == ["admin"]
    advice = merchant.api.get("/v1/advisor").json()  # the rehearsal over the sandbox accounts
    assert advice["livemode"] is False and advice["current_mode"] == "platform"

    live_refusal = merchant.live.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "independent"})
    assert live_refusal.status_code == 422  # the live key may ask, and is told what is missing
    assert live_refusal.json()["error"]["code"] == "mode_switch_not_ready"
    assert "production_account_verified" in live_refusal.json()["error"]["details"]["unmet"]
    assert not merchant.live.get("/v1/advisor").json()["ready"]
    assert platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode",
                              json={"mode": "independent"}).status_code == 422  # the operator too
    assert merchant.live.put(f"/v1/merchants/{merchant.id}/collection_mode",
                             json={"mode": "platform"}).status_code == 200


def test_payments_in_flight_finish_in_their_mode(platform: PlatformUnderTest) -> None:
    """Live money: the ledger books the in-flight payment as platform collection and the new one as memo."""
    merchant = platform.merchant()
    platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "platform"})
    platform_account = platform.platform_account("wechatpay", live=True)
    own = merchant.live_account("wechatpay")
    merchant.verify(own)

    in_flight = merchant.create_payment("wechat_native", amount=10_000, live=True).json()
    assert in_flight["channel_account_id"] == platform_account["id"]
    assert merchant.live.put(f"/v1/merchants/{merchant.id}/collection_mode",
                             json={"mode": "independent"}).status_code == 200
    new = merchant.create_payment("wechat_native", amount=20_000, live=True).json()
    assert new["channel_account_id"] == own["id"]

    merchant.pay(in_flight)
    merchant.pay(new)
    merchant.wait_status(f"/v1/payments/{in_flight['id']}", "succeeded", live=True)
    merchant.wait_status(f"/v1/payments/{new['id']}", "succeeded", live=True)
    modes = dict(platform.sql("SELECT id, collection_mode FROM payments WHERE id IN (:a, :b)",
                              a=in_flight["id"], b=new["id"]))
    assert modes == {in_flight["id"]: "platform", new["id"]: "independent"}

    balances = {b["account"]: b for b in merchant.live.get("/v1/ledger/balances").json()["data"]}
    # 10_000 through the platform: owed 10_000 − 40 (0.4 % service fee) − 60 (0.6 % channel fee)
    assert balances[f"merchant_payable:{merchant.id}:CNY"]["balance"] == -(10_000 - 40 - 60)
    # 20_000 + the 1-fen test payment (refunded) on the merchant's own account: memo sales
    assert balances[f"memo_sales:{merchant.id}:CNY"]["balance"] == -(20_000 + 1)
