"""The kill switch over real HTTP: a suspended merchant creates no payment and its checkout says payments
are paused, refunds still work, a suspended account is skipped by routing; every change has a reason and
is kept."""

from __future__ import annotations

from tests.support.platform import PlatformUnderTest


def test_suspending_a_merchant_stops_new_payments_but_not_refunds(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    merchant.sandbox_account("wechatpay")
    paid = merchant.create_payment(amount=3000).json()
    merchant.pay(paid)
    merchant.wait_status(f"/v1/payments/{paid['id']}", "succeeded")
    waiting = merchant.create_payment(amount=500).json()

    assert merchant.api.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "fraud"}).status_code in (
        401, 403)
    no_reason = platform.admin.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "  "})
    assert no_reason.status_code in (400, 422)
    suspended = platform.admin.post(f"/v1/merchants/{merchant.id}/suspend",
                                    json={"reason": "chargeback spike under review"})
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"

    refused = merchant.create_payment(amount=100)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "merchant_suspended"
    page = platform.admin.get(f"/pay/{waiting['id']}")
    assert page.status_code == 200 and "paused" in page.text.lower()
    refund = merchant.api.post("/v1/refunds", json={"payment_id": paid["id"], "amount": 1000})
    assert refund.status_code == 201, refund.text
    merchant.wait_status(f"/v1/refunds/{refund.json()['id']}", "succeeded")

    again = platform.admin.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "twice"})
    assert len(again.json()["history"]) == 1  # already suspended: nothing recorded twice
    resumed = platform.admin.post(f"/v1/merchants/{merchant.id}/resume", json={"reason": "review cleared"})
    assert resumed.json()["status"] == "active"
    assert [(h["action"], h["reason"]) for h in resumed.json()["history"]] == [
        ("suspend", "chargeback spike under review"), ("resume", "review cleared")]
    assert merchant.create_payment(amount=100).status_code == 201
    assert platform.admin.post("/v1/merchants/mch_nobody/suspend", json={"reason": "x"}).status_code == 404


def test_a_suspended_account_is_skipped_by_routing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Shoes")
    primary = merchant.sandbox_account("wechatpay")
    backup = merchant.sandbox_account("wechatpay", role="backup")
    assert merchant.create_payment().json()["channel_account_id"] == primary["id"]
    response = platform.admin.post(f"/v1/channel_accounts/{primary['id']}/suspend", json={"reason": "key leak"})
    assert response.status_code == 200 and response.json()["status"] == "suspended"
    assert merchant.create_payment().json()["channel_account_id"] == backup["id"]
    platform.admin.post(f"/v1/channel_accounts/{backup['id']}/suspend", json={"reason": "bank frozen"})
    none_left = merchant.create_payment()
    assert none_left.status_code == 422 and none_left.json()["error"]["code"] == "account_suspended"
    # the merchant may pause its own account, but not lift the operator's suspension
    assert merchant.api.post(f"/v1/channel_accounts/{primary['id']}/resume",
                             json={"reason": "mine"}).status_code == 403
    assert platform.platform_account("alipay")  # an account of someone else's: 404 for the merchant
    other = platform.merchant("Other")
    assert other.api.post(f"/v1/channel_accounts/{primary['id']}/suspend", json={"reason": "x"}).status_code == 404
    platform.admin.post(f"/v1/channel_accounts/{primary['id']}/resume", json={"reason": "keys rotated"})
    assert merchant.create_payment().json()["channel_account_id"] == primary["id"]
    own = merchant.api.post(f"/v1/channel_accounts/{primary['id']}/suspend", json={"reason": "closing the shop"})
    assert own.status_code == 200 and own.json()["history"][-1]["actor"] == f"merchant:{merchant.id}"
    assert merchant.api.post(f"/v1/channel_accounts/{primary['id']}/resume",
                             json={"reason": "reopened"}).json()["status"] == "active"


def test_limits_refuse_before_the_channel_and_say_what_remains(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tiny", subject_type="individual")
    account = merchant.sandbox_account("wechatpay")
    too_big = merchant.create_payment(amount=1_000_001)  # individual default: ¥10,000 a payment
    assert too_big.status_code == 422
    assert too_big.json()["error"]["code"] == "limit_exceeded"
    assert too_big.json()["error"]["details"]["limit"] == "single_payment"

    assert platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"daily_limit": 30_000_000}).status_code == 400
    assert platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"daily_limit": 5_000}).status_code == 200
    assert merchant.create_payment(amount=3_000).status_code == 201
    over = merchant.create_payment(amount=2_001)
    assert over.status_code == 422
    assert over.json()["error"]["details"] == {"limit": "merchant_daily", "value": 5_000, "used": 3_000,
                                               "remaining": 2_000, "amount": 2_001}
    assert merchant.create_payment(amount=2_000).status_code == 201

    cleared = platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"daily_limit": None})
    assert cleared.status_code == 200 and cleared.json()["daily_limit"] is None
    capped = platform.admin.patch(f"/v1/channel_accounts/{account['id']}", json={"daily_cap": 6_000})
    assert capped.status_code == 200 and capped.json()["daily_cap"] == 6_000
    refused = merchant.create_payment(amount=1_001)
    assert refused.json()["error"]["details"]["limit"] == "account_daily"
    assert refused.json()["error"]["details"]["remaining"] == 1_000
    with platform.runtime.ctx.db.read() as session:
        from sqlalchemy import func, select

        from indiepay.payments.models import Payment
        assert session.scalar(select(func.count()).select_from(Payment).where(
            Payment.merchant_id == merchant.id)) == 2  # refused payments left no row and made no channel call


def test_the_platform_accounts_shared_cap_refuses_without_other_merchants_figures(
        platform: PlatformUnderTest) -> None:
    """Every merchant collecting through the platform shares its account's daily cap, so what the account has
    taken today is other merchants' volume: the refusal says the cap is reached, and no figure of it."""
    shared = platform.platform_account("wechatpay")
    assert platform.admin.patch(f"/v1/channel_accounts/{shared['id']}", json={"daily_cap": 5_000}).status_code == 200
    tea, cake = platform.merchant("Tea"), platform.merchant("Cake")
    for merchant in (tea, cake):
        switched = platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "platform"})
        assert switched.status_code == 200, switched.text
    assert tea.create_payment(amount=3_210).status_code == 201
    refused = cake.create_payment(amount=2_000)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "limit_exceeded", refused.text
    assert refused.json()["error"]["details"] == {"limit": "account_daily", "amount": 2_000}
    assert not any(figure in refused.text for figure in ("3210", "1790", "5000"))
    assert cake.create_payment(amount=1_790).status_code == 201  # the cap still holds exactly


def test_daily_cap_warnings_at_80_and_100_percent_once_each(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Capped")
    account = merchant.live_account("wechatpay")
    assert platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"daily_limit": 10_000}).status_code == 200
    assert platform.admin.patch(f"/v1/channel_accounts/{account['id']}", json={"daily_cap": 20_000}).status_code == 200

    def warnings() -> list[tuple[str, int]]:
        alerts = merchant.live.get("/v1/alerts", params={"kind": "daily_cap_warning"}).json()["data"]
        return sorted((a["details"]["scope"], a["details"]["level"]) for a in alerts)

    for amount in (7_900, 50, 50):  # 79 %, then 80 % exactly, then 81 %: one warning at 80
        assert merchant.create_payment(amount=amount, live=True).status_code == 201
    assert warnings() == [("merchant", 80)]
    assert merchant.create_payment(amount=2_000, live=True).status_code == 201  # exactly 100 %
    assert merchant.create_payment(amount=1, live=True).json()["error"]["code"] == "limit_exceeded"
    assert warnings() == [("merchant", 80), ("merchant", 100)]
    # the account's cap (20,000) is at 50 %: no account warning; test-mode payments never warn
    merchant.sandbox_account("wechatpay")
    assert platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"daily_limit": 100_000}).status_code == 200
    assert merchant.create_payment(amount=6_000, live=True).status_code == 201  # account: 80 %
    assert ("channel_account", 80) in warnings()
    assert merchant.create_payment(amount=90_000).status_code == 201
    assert len(warnings()) == 3


def test_a_key_switches_only_the_accounts_of_its_own_mode(platform: PlatformUnderTest) -> None:
    """A test key cannot suspend or resume the merchant's production account, nor a live key its sandbox
    one: 404 as for any account the key cannot read, and nothing changes or is recorded."""
    merchant = platform.merchant("Tea")
    production, sandbox = merchant.live_account("wechatpay"), merchant.sandbox_account("wechatpay")

    def state(account_id: str) -> tuple[str, int]:
        [(status,)] = platform.sql("SELECT status FROM channel_accounts WHERE id = :a", a=account_id)
        [(changes,)] = platform.sql("SELECT count(*) FROM suspensions WHERE target_id = :a", a=account_id)
        return status, changes

    for key, account in ((merchant.api, production), (merchant.live, sandbox)):
        for verb in ("suspend", "resume"):
            refused = key.post(f"/v1/channel_accounts/{account['id']}/{verb}", json={"reason": "other mode"})
            assert refused.status_code == 404, refused.text
            assert refused.json()["error"]["code"] == "account_not_found"
        assert state(account["id"]) == ("active", 0)
    assert merchant.live.post(f"/v1/channel_accounts/{production['id']}/suspend",
                              json={"reason": "mine"}).status_code == 200
    assert merchant.api.post(f"/v1/channel_accounts/{production['id']}/resume",
                             json={"reason": "from the test key"}).status_code == 404
    assert state(production["id"]) == ("suspended", 1)
    assert merchant.live.post(f"/v1/channel_accounts/{production['id']}/resume",
                              json={"reason": "mine"}).json()["status"] == "active"
    assert merchant.api.post(f"/v1/channel_accounts/{sandbox['id']}/suspend",
                             json={"reason": "mine"}).json()["status"] == "suspended"
