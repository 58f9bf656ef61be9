"""GET /v1/advisor over real HTTP: the merchant's own advice, the admin naming a merchant, test keys on
test data, and the CLI over the same database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from indiepay.cli.main import app
from tests.advisor.conftest import add_account, add_payment
from tests.support.platform import PlatformUnderTest


def test_advisor_api(platform: PlatformUnderTest) -> None:
    merchant, stranger = platform.merchant("Tea Shop"), platform.merchant("Stranger", subject_type="individual")
    db, now = platform.runtime.ctx.db, platform.clock.now()
    account = add_account(db, merchant.id, fee_rate_bps=60, settlement_bank="ICBC", verified_at=now)
    add_payment(db, merchant.id, account, 6_000_000, now - timedelta(days=2))  # ¥60,000 this month: growth

    mine = merchant.live.get("/v1/advisor")
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert (body["stage"], body["recommended_mode"], body["monthly_volume"]) == ("growth", "independent", 6_000_000)
    # ¥720,000 a year: platform 0.60 % + 0.40 % = ¥7,200; independent 0.60 % = ¥4,320
    assert (body["yearly_fee_platform"], body["yearly_fee_independent"], body["yearly_fee_difference"]) == (
        720_000, 432_000, 288_000)
    assert any("¥2,880.00" in reason for reason in body["reasons"])
    assert [c["item"] for c in body["checklist"]] == ["kyc_complete", "production_account_verified",
                                                      "backup_account_other_bank", "keys_not_near_expiry"]
    assert {c["item"]: c["done"] for c in body["checklist"]}["production_account_verified"] is True
    assert body["ready"] is False and body["livemode"] is True and body["current_mode"] == "independent"

    test_mode = merchant.api.get("/v1/advisor").json()  # a test key: test payments, sandbox accounts
    assert test_mode["livemode"] is False and test_mode["monthly_volume"] == 0 and test_mode["stage"] == "startup"
    assert {c["item"]: c["done"] for c in test_mode["checklist"]}["production_account_verified"] is False

    by_admin = platform.admin.get("/v1/advisor", params={"merchant_id": merchant.id})
    assert by_admin.status_code == 200 and by_admin.json()["yearly_fee_difference"] == 288_000
    missing = platform.admin.get("/v1/advisor")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "merchant_id_required"
    nobody = platform.admin.get("/v1/advisor", params={"merchant_id": "mch_nobody"})
    assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "merchant_not_found"
    snooping = stranger.live.get("/v1/advisor", params={"merchant_id": merchant.id})
    assert snooping.status_code == 404 and snooping.json()["error"]["code"] == "merchant_not_found"
    assert stranger.live.get("/v1/advisor").json()["monthly_volume"] == 0


def test_advisor_cli(platform: PlatformUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = platform.merchant("Tea Shop")
    db, now = platform.runtime.ctx.db, platform.clock.now()
    account = add_account(db, merchant.id)
    add_payment(db, merchant.id, account, 60_000_100, now - timedelta(days=1))  # ¥600,001: mature
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", platform.settings.database_url)
    runner = CliRunner()
    as_json = runner.invoke(app, ["advisor", "--merchant", merchant.id, "--json"])
    assert as_json.exit_code == 0, as_json.output
    advice = json.loads(as_json.stdout)
    assert (advice["stage"], advice["recommended_mode"], advice["monthly_volume"]) == ("mature", "independent",
                                                                                       60_000_100)
    text = runner.invoke(app, ["advisor", "--merchant", merchant.id])
    assert text.exit_code == 0 and "mature stage" in text.stdout and "[ ] kyc_complete" in text.stdout
    unknown = runner.invoke(app, ["advisor", "--merchant", "mch_nobody"])
    assert unknown.exit_code == 1 and "merchant_not_found" in unknown.stderr
