"""Bank transfer through the platform: the buyer is shown the account and a reference code; the payment is
matched when the merchant imports its bank statement (or confirms by hand) — and a transfer that matches
nothing is kept and alerted, never dropped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.support.platform import MerchantClient, PlatformUnderTest
from tests.support.webhooks import webhook_inbox

HEADER = "交易时间,交易流水号,金额,对方户名,附言\n"


def _statement(platform: PlatformUnderTest, merchant: MerchantClient, account_id: str, body: str) -> httpx.Response:
    return merchant.api.post("/v1/bank_transfers/statements", params={"account_id": account_id},
                             content=body.encode("gbk"), headers={"Content-Type": "text/csv"})


def _transfer_payment(merchant: MerchantClient, amount: int, **extra: Any) -> dict[str, Any]:
    created = merchant.create_payment("bank_transfer", amount=amount, **extra)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_a_statement_pays_the_payment_its_memo_names(any_platform: PlatformUnderTest) -> None:
    merchant = any_platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    with webhook_inbox() as (inbox, hook_url):
        inbox.secret = merchant.api.put("/v1/webhook_endpoint", json={"url": hook_url}).json()["secret"]
        payment = _transfer_payment(merchant, 128_800)
        waits = datetime.fromisoformat(payment["expires_at"]) - datetime.fromisoformat(payment["created_at"])
        assert waits == timedelta(days=3)  # a transfer takes longer than a scan: three days by default
        action = payment["action"]
        assert action["type"] == "bank_transfer" and action["amount"] == "128800"
        assert action["reference"].startswith("IP") and action["account_number"].isdigit()
        page = httpx.get(payment["checkout_url"], timeout=10).text
        assert action["reference"] in page and action["account_number"] in page and "1288.00" in page

        statement = (HEADER + f"2026-11-27 10:00:00,B001,\"1,288.00\",张三,货款 {action['reference'].lower()}\n"
                     "2026-11-27 10:05:00,B002,50.00,李四,没有编号\n"
                     "2026-11-27 10:06:00,B003,-20.00,房东,房租\n")
        imported = _statement(any_platform, merchant, account["id"], statement)
        assert imported.status_code == 201, imported.text
        report = imported.json()
        assert (report["credits"], report["matched"], report["unmatched"], report["already_imported"]) == (2, 1, 1, 0)
        by_txn = {line["bank_txn_id"]: line for line in report["lines"]}
        assert by_txn["B001"]["status"] == "matched" and by_txn["B001"]["payment_id"] == payment["id"]
        assert by_txn["B002"]["status"] == "unmatched" and by_txn["B002"]["reason"] == "no_reference"
        paid = merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
        assert paid["channel_trade_no"] == "B001" and paid["paid_at"].startswith("2026-11-27T02:00:00")
        inbox.wait_for("payment.succeeded", payment["id"])

        again = _statement(any_platform, merchant, account["id"], statement).json()
        assert (again["credits"], again["matched"], again["already_imported"]) == (2, 0, 2)
    assert any_platform.sql("SELECT count(*) FROM events WHERE type = 'payment.succeeded'") == [(1,)]
    unmatched = merchant.api.get("/v1/bank_transfers/lines", params={"status": "unmatched"}).json()["data"]
    assert [line["bank_txn_id"] for line in unmatched] == ["B002"]
    assert any_platform.sql("SELECT kind, severity FROM alerts") == [("unmatched_transfer", "high")]


def test_a_wrong_amount_waits_for_a_person_and_confirmation_checks_it(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    payment = _transfer_payment(merchant, 10_000)
    reference = payment["action"]["reference"]
    short = _statement(platform, merchant, account["id"], HEADER + f"2026-11-27 09:00,S1,99.00,王五,{reference}\n")
    assert short.json()["lines"][0]["reason"] == "amount_mismatch"
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"

    confirm = f"/v1/payments/{payment['id']}/confirm_transfer"
    wrong = merchant.api.post(confirm, json={"bank_txn_id": "S1", "amount": 10_000})
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "transfer_amount_mismatch"
    assert wrong.json()["error"]["details"] == {"transferred": 9_900, "amount": 10_000}
    right = merchant.api.post(confirm, json={"bank_txn_id": "S2", "amount": 10_000, "payer_name": "王五"})
    assert right.status_code == 200 and right.json()["status"] == "matched"
    assert right.json()["source"] == "confirmation"
    assert merchant.api.post(confirm, json={"bank_txn_id": "S2", "amount": 10_000}).json() == right.json()
    twice = merchant.api.post(confirm, json={"bank_txn_id": "S3", "amount": 10_000})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "payment_not_pending"
    paid = merchant.api.get(f"/v1/payments/{payment['id']}").json()
    assert paid["status"] == "succeeded" and paid["channel_trade_no"] == "S2"

    other = _transfer_payment(merchant, 10_000)
    taken = merchant.api.post(f"/v1/payments/{other['id']}/confirm_transfer",
                              json={"bank_txn_id": "S2", "amount": 10_000})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "transfer_already_matched"


def test_money_for_a_closed_payment_is_a_late_payment_and_a_second_transfer_is_kept(
        platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    payment = _transfer_payment(merchant, 3_000)
    assert merchant.api.post(f"/v1/payments/{payment['id']}/close").json()["status"] == "closed"
    reference = payment["action"]["reference"]
    body = HEADER + f"2026-11-27 09:00,L1,30.00,赵六,{reference}\n2026-11-27 09:30,L2,30.00,赵六,{reference}\n"
    report = _statement(platform, merchant, account["id"], body).json()
    assert [(line["bank_txn_id"], line["status"], line["reason"]) for line in report["lines"]] == [
        ("L1", "matched", None), ("L2", "unmatched", "already_paid")]
    late = merchant.api.get(f"/v1/payments/{payment['id']}").json()
    assert late["status"] == "succeeded" and late["late_payment"] is True
    assert sorted(platform.sql("SELECT kind FROM alerts")) == [("late_payment",), ("unmatched_transfer",)]


def test_what_a_bank_account_cannot_do_is_refused_up_front(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    sharing = merchant.create_payment("bank_transfer", profit_sharing=True)
    assert sharing.status_code == 422 and sharing.json()["error"]["code"] == "profit_sharing_unavailable"
    verify = merchant.api.post(f"/v1/channel_accounts/{account['id']}/verification")
    assert verify.status_code == 422 and verify.json()["error"]["code"] == "verification_unsupported"


def test_bad_statements_write_nothing_and_accounts_are_the_merchants_own(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    wechat = merchant.sandbox_account("wechatpay")
    bad = _statement(platform, merchant, account["id"], HEADER + "2026-11-27,G1,10.00,a,b\n2026-11-27,G2,1.5x,c,d\n")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_statement"
    assert bad.json()["error"]["details"] == {"line": 3, "field": "amount"}
    assert platform.sql("SELECT count(*) FROM bank_statement_lines") == [(0,)]
    huge = merchant.api.post("/v1/bank_transfers/statements", params={"account_id": account["id"]},
                             content=b"x" * (10 * 1024 * 1024 + 1), headers={"Content-Type": "text/csv"})
    assert huge.status_code == 400 and huge.json()["error"]["details"] == {"max_bytes": 10 * 1024 * 1024}
    not_bank = _statement(platform, merchant, wechat["id"], HEADER)
    assert not_bank.status_code == 400 and not_bank.json()["error"]["code"] == "not_a_bank_account"
    other = platform.merchant("Other Shop")
    assert _statement(platform, other, account["id"], HEADER).status_code == 404
    typed = merchant.api.post("/v1/channel_accounts", json={
        "channel": "bank_transfer", "environment": "sandbox",
        "credentials": {"account_name": "茶馆", "bank_name": "工商银行", "account_number": "6222 00"}})
    assert typed.status_code == 400 and typed.json()["error"]["details"]["field"] == "account_number"


def test_a_refund_is_the_merchants_own_transfer_back_recorded_and_confirmed(any_platform: PlatformUnderTest) -> None:
    """No bank can be asked to return money: the refund is recorded (its amount held at once), the merchant
    sends it and confirms — the books and the webhook follow — or cancels it and the amount is free again."""
    merchant = any_platform.merchant()
    merchant.sandbox_account("bank_transfer")
    with webhook_inbox() as (inbox, hook_url):
        inbox.secret = merchant.api.put("/v1/webhook_endpoint", json={"url": hook_url}).json()["secret"]
        payment = _transfer_payment(merchant, 5_000)
        merchant.api.post(f"/v1/payments/{payment['id']}/confirm_transfer",
                          json={"bank_txn_id": "IN-1", "amount": 5_000})
        first = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 3_000}).json()
        assert first["status"] == "processing"
        too_much = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 2_001})
        assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "refund_exceeds_refundable"
        assert any_platform.sql("SELECT count(*) FROM jobs WHERE kind = 'refund.sync'") == [(0,)]  # no bank to ask

        done = merchant.api.post(f"/v1/refunds/{first['id']}/confirm_transfer",
                                 json={"bank_txn_id": "OUT-1", "booked_at": "2026-11-28T09:00:00+08:00"})
        assert done.status_code == 200 and done.json()["status"] == "succeeded"
        assert done.json()["channel_refund_no"] == "OUT-1"
        again = merchant.api.post(f"/v1/refunds/{first['id']}/confirm_transfer", json={"bank_txn_id": "OUT-1"})
        assert again.status_code == 200 and again.json() == done.json()
        other = merchant.api.post(f"/v1/refunds/{first['id']}/confirm_transfer", json={"bank_txn_id": "OUT-2"})
        assert other.status_code == 409 and other.json()["error"]["code"] == "refund_not_processing"
        assert merchant.api.post(f"/v1/refunds/{first['id']}/cancel").status_code == 409
        inbox.wait_for("refund.succeeded", first["id"])

        second = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 2_000}).json()
        cancelled = merchant.api.post(f"/v1/refunds/{second['id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "failed"
        inbox.wait_for("refund.failed", second["id"])
        final = merchant.api.get(f"/v1/payments/{payment['id']}").json()
        assert final["refunded_amount"] == 3_000
        assert merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 2_000}).status_code == 201

    merchant.sandbox_account("wechatpay")
    paid = merchant.create_payment("wechat_native").json()
    merchant.pay(paid)
    merchant.wait_status(f"/v1/payments/{paid['id']}", "succeeded")
    channel_refund = merchant.api.post("/v1/refunds", json={"payment_id": paid["id"], "amount": 1}).json()
    by_hand = merchant.api.post(f"/v1/refunds/{channel_refund['id']}/confirm_transfer", json={"bank_txn_id": "X"})
    assert by_hand.status_code == 400 and by_hand.json()["error"]["code"] == "refund_not_manual"
    stranger = any_platform.merchant("Other Shop")
    assert stranger.api.post(f"/v1/refunds/{first['id']}/cancel").status_code == 404


def test_a_refund_left_unconfirmed_is_a_reminder_every_three_days(platform: PlatformUnderTest) -> None:
    import time
    from datetime import timedelta as days_later

    merchant = platform.merchant()
    merchant.sandbox_account("bank_transfer")
    payment = _transfer_payment(merchant, 800)
    merchant.api.post(f"/v1/payments/{payment['id']}/confirm_transfer", json={"bank_txn_id": "IN-9", "amount": 800})
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 800}).json()

    def reminders() -> list[tuple[str]]:
        return list(platform.sql("SELECT kind FROM alerts WHERE kind = 'manual_refund_pending'"))

    platform.run_jobs_now("refund.manual_reminder")  # not due: the first reminder comes after three days
    time.sleep(0.5)
    assert reminders() == []
    platform.clock.offset = days_later(days=3, seconds=1)
    platform.run_jobs_now("refund.manual_reminder")
    deadline = time.monotonic() + 10
    while not reminders() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reminders() == [("manual_refund_pending",)]
    merchant.api.post(f"/v1/refunds/{refund['id']}/confirm_transfer", json={"bank_txn_id": "OUT-9"})
    platform.clock.offset = days_later(days=6, seconds=2)
    platform.run_jobs_now("refund.manual_reminder")
    deadline = time.monotonic() + 10
    while platform.sql("SELECT count(*) FROM jobs WHERE kind = 'refund.manual_reminder' AND status = 'queued'") != [
            (0,)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert reminders() == [("manual_refund_pending",)]  # settled: no further reminder, the chain ended
