"""The risk rules on real payments and refunds over HTTP: a block leaves no payment and makes no channel
call but keeps its decision; a review creates the payment, its decision and one alert; shadow mode records
and never blocks; the decisions and rules are listed through the API."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from indiepay.alerts.service import KNOWN_INCIDENTS
from indiepay.core.ids import new_id
from indiepay.payments.models import Payment
from indiepay.risk import rules, screening
from tests.support.platform import MerchantClient, PlatformUnderTest, start_platform

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def decisions(platform: PlatformUnderTest, merchant: MerchantClient) -> list[dict[str, Any]]:
    response = platform.admin.get("/v1/risk/decisions", params={"merchant_id": merchant.id, "limit": 100})
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first


def alerts(platform: PlatformUnderTest, merchant: MerchantClient) -> list[tuple[str, str]]:
    """(kind, dedupe key without its hour): a review alert is one per merchant, object type, rule and hour.
    Read once the worker has run every queued ``risk.review_alert`` job (review alerts are raised there)."""
    deadline = time.monotonic() + 20
    while platform.sql("SELECT count(*) FROM jobs WHERE kind = :k AND status IN ('queued', 'running')",
                       k=screening.REVIEW_ALERT_JOB)[0][0]:
        assert time.monotonic() < deadline, "review alert jobs still queued"
        platform.runtime.worker.wake()
        time.sleep(0.02)
    rows = platform.sql("SELECT kind, dedupe_key FROM alerts WHERE merchant_id = :m ORDER BY created_at", m=merchant.id)
    return [(str(kind), str(key).rsplit(":", 1)[0]) for kind, key in rows]


def payments_of(platform: PlatformUnderTest, merchant: MerchantClient) -> int:
    return int(platform.sql("SELECT count(*) FROM payments WHERE merchant_id = :m", m=merchant.id)[0][0])


def age(platform: PlatformUnderTest, merchant: MerchantClient, days: int) -> None:
    """Make the merchant ``days`` old (the new-account rule looks at its age)."""
    platform.sql("UPDATE merchants SET created_at = :at WHERE id = :id",
                 at=platform.clock.now() - timedelta(days=days), id=merchant.id)


def test_payer_velocity_blocks_before_the_channel_and_keeps_the_decision(any_platform: PlatformUnderTest) -> None:
    platform = any_platform
    merchant = platform.merchant("Kiosk")
    _, credentials = merchant.own_sandbox_account("wechatpay")
    for _ in range(5):  # at most 5 payments by one openid in 10 minutes
        assert merchant.create_payment(payer={"openid": OPENID}).status_code == 201
    assert decisions(platform, merchant) == []  # no hit, nothing stored
    calls_before = platform.sql("SELECT count(*) FROM channel_calls")[0][0]

    sixth = merchant.create_payment(payer={"openid": OPENID}, out_trade_no="BLOCKED6")
    assert sixth.status_code == 422, sixth.text
    error = sixth.json()["error"]
    assert error["code"] == "risk_blocked"
    assert error["details"]["rule"] == "payer_velocity_openid" and error["details"]["version"] == 1
    assert "6 payments by the same openid in 10 minutes" in error["details"]["reason"]
    assert payments_of(platform, merchant) == 5
    assert platform.sql("SELECT count(*) FROM channel_calls")[0][0] == calls_before
    order = httpx.get(f"{platform.sandbox}/wechatpay/_orders/{credentials['mchid']}/BLOCKED6", timeout=10)
    assert order.status_code == 404  # the channel never heard of it

    [decision] = decisions(platform, merchant)
    assert decision["id"] == error["details"]["decision_id"]
    assert (decision["object_type"], decision["object_id"], decision["reference"]) == ("payment", None, "BLOCKED6")
    assert (decision["outcome"], decision["shadow_outcome"], decision["rule_id"], decision["rule_version"]) == (
        "block", "block", "payer_velocity_openid", 1)
    assert decision["ruleset_version"] == "v1" and decision["payer"] == {"openid": OPENID}
    assert decision["amount"] == 1000 and decision["livemode"] is False
    assert [h["rule_id"] for h in decision["hits"]] == ["payer_velocity_openid"]

    again = merchant.create_payment(payer={"openid": OPENID})
    assert again.json()["error"]["code"] == "risk_blocked"
    assert len(decisions(platform, merchant)) == 2
    assert [kind for kind, _ in alerts(platform, merchant)] == ["risk_blocked"]  # one incident, one alert
    assert merchant.create_payment(payer={"openid": "someone_else"}).status_code == 201


def test_client_ip_velocity_blocks_the_twenty_first(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Arcade")
    merchant.sandbox_account("wechatpay")
    for _ in range(20):
        assert merchant.create_payment("wechat_h5", payer={"client_ip": "203.0.113.7"}).status_code == 201
    blocked = merchant.create_payment("wechat_h5", payer={"client_ip": "203.0.113.7"})
    assert blocked.status_code == 422 and blocked.json()["error"]["details"]["rule"] == "payer_velocity_client_ip"
    assert payments_of(platform, merchant) == 20
    assert merchant.create_payment("wechat_h5", payer={"client_ip": "203.0.113.8"}).status_code == 201


def test_repeated_failures_block_the_payer(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Bakery")
    merchant.sandbox_account("wechatpay")
    for _ in range(5):
        payment = merchant.create_payment(payer={"openid": OPENID}).json()
        assert merchant.api.post(f"/v1/payments/{payment['id']}/close").json()["status"] == "closed"
    # 20 minutes ago: out of the velocity window, inside the hour the failures are counted over
    platform.sql("UPDATE payments SET created_at = :at WHERE merchant_id = :m",
                 at=platform.clock.now() - timedelta(minutes=20), m=merchant.id)
    blocked = merchant.create_payment(payer={"openid": OPENID})
    assert blocked.status_code == 422, blocked.text
    assert blocked.json()["error"]["details"]["rule"] == "repeated_failures_openid"
    assert "5 failed or closed payments" in blocked.json()["error"]["details"]["reason"]
    assert payments_of(platform, merchant) == 5


def test_a_new_account_taking_a_large_payment_is_created_and_reviewed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Fresh")
    merchant.sandbox_account("wechatpay")
    assert merchant.create_payment(amount=199_999).status_code == 201
    assert decisions(platform, merchant) == []
    response = merchant.create_payment(amount=200_000)
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["status"] == "pending" and payment["action"]["type"] == "qr_code"  # the channel was called
    [decision] = decisions(platform, merchant)
    assert (decision["object_id"], decision["reference"], decision["outcome"], decision["rule_id"]) == (
        payment["id"], payment["out_trade_no"], "review", "new_account_large_payment")
    assert alerts(platform, merchant) == [
        ("risk_review", f"risk_review:{merchant.id}:test:payment:new_account_large_payment")]
    [(message, details)] = platform.sql("SELECT message, details FROM alerts WHERE merchant_id = :m", m=merchant.id)
    assert message.startswith(f"payment {payment['id']} needs review: ")
    assert (json.loads(details) if isinstance(details, str) else details) == {
        "decision_id": decision["id"], "object_type": "payment", "object_id": payment["id"],
        "reference": payment["out_trade_no"], "rule": "new_account_large_payment", "version": 1,
        "rules": ["new_account_large_payment"]}
    merchant.create_payment(amount=200_001)  # the same rule again within the hour: a decision, no new alert
    assert len(decisions(platform, merchant)) == 2 and len(alerts(platform, merchant)) == 1
    # and no second job either: this process knows the incident is stored
    assert platform.sql("SELECT count(*) FROM jobs WHERE kind = :k", k=screening.REVIEW_ALERT_JOB)[0][0] == 1
    own = merchant.api.get("/v1/risk/decisions", params={"object_id": payment["id"]}).json()["data"]
    assert [d["id"] for d in own] == [decision["id"]]
    assert merchant.pay(payment).status_code < 300  # a reviewed payment is a normal payment
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def test_the_review_alert_job_raises_one_alert_however_often_it_runs(platform: PlatformUnderTest) -> None:
    """Two processes may each queue the job for one incident (each knows only what it saw): one alert."""
    merchant = platform.merchant("Twice")
    merchant.sandbox_account("wechatpay")
    merchant.create_payment(amount=200_000)
    [decision] = decisions(platform, merchant)
    assert len(alerts(platform, merchant)) == 1  # raised by the queued job
    ctx = platform.runtime.ctx
    assert screening.raise_review_alert(ctx, decision["id"]) is False  # known stored here: not even tried
    KNOWN_INCIDENTS.of(ctx.db.engine).clear()  # another process, which never saw it stored
    assert screening.raise_review_alert(ctx, decision["id"]) is False  # the insert-or-nothing folds it
    assert len(alerts(platform, merchant)) == 1
    with pytest.raises(LookupError):
        screening.raise_review_alert(ctx, "rdec_missing")


def test_a_large_amount_for_an_individual_is_reviewed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Solo", subject_type="individual")
    merchant.sandbox_account("wechatpay")
    age(platform, merchant, 100)
    large = merchant.create_payment(amount=500_000).json()
    assert merchant.create_payment(amount=499_999).status_code == 201
    [decision] = decisions(platform, merchant)
    assert (decision["object_id"], decision["rule_id"]) == (large["id"], "large_amount")
    assert "(individual)" in decision["hits"][0]["reason"]


def test_reaching_80_percent_of_the_daily_limit_is_reviewed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Capped", subject_type="individual")
    merchant.sandbox_account("wechatpay")
    age(platform, merchant, 100)
    assert platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"daily_limit": 10_000}).status_code == 200
    assert merchant.create_payment(amount=7_999).status_code == 201
    assert decisions(platform, merchant) == []
    reached = merchant.create_payment(amount=1).json()
    [decision] = decisions(platform, merchant)
    assert (decision["object_id"], decision["rule_id"]) == (reached["id"], "daily_cap_80")
    over = merchant.create_payment(amount=2_001)  # the limit itself still refuses
    assert over.json()["error"]["code"] == "limit_exceeded"


def backdated(platform: PlatformUnderTest, merchant: MerchantClient, account_id: str, days: float,
              amount: int) -> None:
    at = platform.clock.now() - timedelta(days=days)
    with platform.runtime.ctx.db.transaction() as session:
        session.add(Payment(id=new_id("pay"), merchant_id=merchant.id, livemode=False, channel_account_id=account_id,
                            channel="wechatpay", method="wechat_native", amount=amount, currency="CNY",
                            out_trade_no=new_id("T")[:32], description="tea", status="succeeded", payer={},
                            action=None, expires_at=at + timedelta(hours=2), paid_at=at, created_at=at,
                            updated_at=at))


def test_volume_far_above_the_merchants_baseline_is_reviewed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Steady")
    account = merchant.sandbox_account("wechatpay")
    age(platform, merchant, 20)
    for days in range(2, 12):  # ¥2,000 a day on 10 of the last 20 days: ¥1,000 a day on average
        backdated(platform, merchant, account["id"], days, 200_000)
    assert merchant.create_payment(amount=199_999).status_code == 201  # under the ¥10,000 minimum
    assert merchant.create_payment(amount=800_000).status_code == 201
    assert decisions(platform, merchant) == []
    spike = merchant.create_payment(amount=1).json()  # ¥10,000 today: at the minimum, > 5 × ¥1,000
    [decision] = decisions(platform, merchant)
    assert (decision["object_id"], decision["rule_id"]) == (spike["id"], "volume_above_baseline")
    assert "20-day daily average of 100000 fen" in decision["hits"][0]["reason"]


def test_merchant_velocity_far_above_normal_is_reviewed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Rush")
    merchant.sandbox_account("wechatpay")
    made = [merchant.create_payment(amount=100).json() for _ in range(30)]
    found = decisions(platform, merchant)
    assert found and found[0]["rule_id"] == "merchant_velocity" and found[0]["object_id"] == made[29]["id"]


def paid_payment(merchant: MerchantClient, amount: int) -> dict[str, Any]:
    payment = merchant.create_payment(amount=amount).json()
    assert merchant.pay(payment).status_code < 300
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def test_a_high_refund_rate_reviews_the_refund_which_goes_ahead(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Returns")
    merchant.sandbox_account("wechatpay")
    paid = [paid_payment(merchant, 1_000) for _ in range(3)]
    refunds = [merchant.api.post("/v1/refunds", json={"payment_id": p["id"], "amount": 400}) for p in paid]
    assert [r.status_code for r in refunds] == [201, 201, 201]
    [decision] = decisions(platform, merchant)  # the third: 1,200 of 3,000 fen is above 30 %
    third = refunds[2].json()
    assert (decision["object_type"], decision["object_id"], decision["reference"], decision["rule_id"]) == (
        "refund", third["id"], third["out_refund_no"], "refund_rate_7d")
    assert alerts(platform, merchant) == [("risk_review", f"risk_review:{merchant.id}:test:refund:refund_rate_7d")]
    merchant.wait_status(f"/v1/refunds/{third['id']}", "succeeded")


def test_a_blocked_refund_reserves_nothing_and_keeps_its_decision(platform: PlatformUnderTest,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    strict = rules.RuleSet("test-strict", (rules.Rule("refund_rate_block", 2, "refund_rate",
                                                      {"max_pct": 10, "min_refunds": 1}, "block",
                                                      applies_to="refund"),))
    monkeypatch.setattr(screening, "active_ruleset", lambda ctx, session=None: strict)
    merchant = platform.merchant("Strict")
    merchant.sandbox_account("wechatpay")
    payment = paid_payment(merchant, 1_000)
    blocked = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 101,
                                                     "out_refund_no": "RF_BLOCKED"})
    assert blocked.status_code == 422, blocked.text
    assert blocked.json()["error"]["details"]["rule"] == "refund_rate_block"
    assert blocked.json()["error"]["details"]["version"] == 2
    assert platform.sql("SELECT count(*) FROM refunds")[0][0] == 0
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 0
    assert platform.sql("SELECT refund_reserved FROM payments WHERE id = :id", id=payment["id"])[0][0] == 0
    [decision] = decisions(platform, merchant)
    assert (decision["object_type"], decision["object_id"], decision["reference"], decision["ruleset_version"]) == (
        "refund", None, "RF_BLOCKED", "test-strict")
    assert merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 100}).status_code == 201


def test_shadow_mode_records_but_never_blocks(tmp_path: Path) -> None:
    with start_platform(tmp_path, f"sqlite:///{tmp_path / 'shadow.db'}", risk_shadow=True) as platform:
        merchant = platform.merchant("Watched")
        merchant.sandbox_account("wechatpay")
        made = [merchant.create_payment(payer={"openid": OPENID}) for _ in range(6)]
        assert [r.status_code for r in made] == [201] * 6
        [decision] = decisions(platform, merchant)
        assert (decision["object_id"], decision["outcome"], decision["shadow_outcome"], decision["rule_id"]) == (
            made[5].json()["id"], "allow", "block", None)
        assert decision["hits"][0]["rule_id"] == "payer_velocity_openid" and decision["hits"][0]["shadow"] is True
        assert alerts(platform, merchant) == []
        shown = platform.admin.get("/v1/risk/rules").json()
        # every rule runs in shadow mode, and each still shows its own flag (sent back, it keeps it)
        assert shown["shadow_mode"] is True and not any(r["shadow"] for r in shown["rules"])


def test_one_rule_in_shadow_mode(platform: PlatformUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    watched = rules.RuleSet("v1-shadow-velocity", tuple(
        rules.Rule(**{**r.__dict__, "shadow": r.id == "payer_velocity_openid"}) for r in rules.RULESET_V1.rules))
    monkeypatch.setattr(screening, "active_ruleset", lambda ctx, session=None: watched)
    merchant = platform.merchant("Half")
    merchant.sandbox_account("wechatpay")
    age(platform, merchant, 100)
    made = [merchant.create_payment(payer={"openid": OPENID}) for _ in range(6)]
    assert [r.status_code for r in made] == [201] * 6
    large = merchant.create_payment(amount=5_000_000, payer={"openid": OPENID})  # shadow block + a real review
    assert large.status_code == 201
    found = decisions(platform, merchant)
    assert [(d["outcome"], d["shadow_outcome"], d["rule_id"]) for d in found] == [
        ("allow", "block", None), ("review", "block", "large_amount")]
    assert [kind for kind, _ in alerts(platform, merchant)] == ["risk_review"]


def test_decisions_and_rules_through_the_api(platform: PlatformUnderTest) -> None:
    first, second = platform.merchant("First"), platform.merchant("Second")
    for merchant in (first, second):
        merchant.sandbox_account("wechatpay")
        merchant.create_payment(amount=300_000)  # a new account: reviewed
        merchant.create_payment(amount=400_000)
    mine = first.api.get("/v1/risk/decisions", params={"merchant_id": second.id}).json()["data"]
    assert len(mine) == 2 and {d["merchant_id"] for d in mine} == {first.id}  # never another merchant's
    assert [d["amount"] for d in mine] == [400_000, 300_000]  # newest first
    assert first.live.get("/v1/risk/decisions").json()["data"] == []  # live key: live decisions only
    everything = platform.admin.get("/v1/risk/decisions").json()
    assert {d["merchant_id"] for d in everything["data"]} == {first.id, second.id}
    page = platform.admin.get("/v1/risk/decisions", params={"merchant_id": second.id, "limit": 1}).json()
    assert page["has_more"] is True and page["data"][0]["amount"] == 400_000
    rest = platform.admin.get("/v1/risk/decisions", params={"merchant_id": second.id, "limit": 1,
                                                             "starting_after": page["data"][0]["id"]}).json()
    assert rest["has_more"] is False and rest["data"][0]["amount"] == 300_000
    assert platform.admin.get("/v1/risk/decisions", params={"outcome": "block"}).json()["data"] == []
    assert platform.admin.get("/v1/risk/decisions", params={"outcome": "nope"}).status_code == 400
    foreign = first.api.get("/v1/risk/decisions", params={"starting_after": page["data"][0]["id"]})
    assert foreign.status_code == 400

    shown = platform.admin.get("/v1/risk/rules")
    assert shown.status_code == 200
    body = shown.json()
    assert body["version"] == "v1" and body["shadow_mode"] is False
    assert [r["id"] for r in body["rules"]] == [r.id for r in rules.RULESET_V1.rules]
    assert body["rules"][0] == {"id": "payer_velocity_openid", "version": 1, "kind": "payer_velocity",
                                "params": {"by": "openid", "window_minutes": 10, "max_payments": 5},
                                "outcome": "block", "shadow": False, "applies_to": "payment"}
    assert first.api.get("/v1/risk/rules").status_code == 403
