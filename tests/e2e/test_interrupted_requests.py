"""A request killed mid-way under an Idempotency-Key: the client's retry with the same key finishes it.

A killed process runs no cleanup, so its claim on the key stays ``in_progress``. Here the kill is
emulated by an exception at the chosen point with the key's release switched off (what a ``kill -9``
leaves behind: the claim, and whatever the request had committed). Once the claim's lease has run out
(the claim is aged in the database, so the platform's clock stays true for signed callbacks), the
retry takes the key over and completes the *same* payment or refund — never a second one."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from indiepay.idempotency import service as idempotency
from indiepay.idempotency.models import IdempotencyRecord
from indiepay.merchants import service as merchants
from indiepay.payments import service as payments
from indiepay.refunds import service as refunds
from indiepay.refunds.sync import run_sync_job
from tests.support.platform import MerchantClient, PlatformUnderTest


class Killed(Exception):
    """The process dies here."""


def kill_at(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
    def die(*_: object, **__: object) -> None:
        raise Killed(name)

    monkeypatch.setattr(module, name, die)
    monkeypatch.setattr(idempotency, "_let_go", lambda *_, **__: None)  # a killed process lets go of nothing


def revive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()


def age_claim(platform: PlatformUnderTest, key: str, by: timedelta = idempotency.CLAIM_LEASE,
              status: str = "in_progress") -> None:
    with platform.runtime.ctx.db.transaction() as session:
        record = session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == key)).one()
        assert record.status == status
        session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record.id)
                        .values(created_at=record.created_at - by - timedelta(seconds=1)))


def order(out_trade_no: str, method: str = "wechat_native") -> dict[str, Any]:
    return {"amount": 2_000, "currency": "CNY", "out_trade_no": out_trade_no, "description": "Oolong",
            "method": method}


def post(client: httpx.Client, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return client.post(path, json=body, headers={"Idempotency-Key": key})


def post_and_die(client: httpx.Client, path: str, body: dict[str, Any], key: str) -> None:
    """The request during which the process dies: the client gets no answer (its own connection, as the
    server drops it)."""
    with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=60) as doomed:
        try:
            answer = doomed.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError:
            return
    assert answer.status_code == 500, answer.text


@pytest.mark.parametrize("channel,method", [("wechatpay", "wechat_native"), ("alipay", "alipay_qr")])
def test_a_create_killed_after_writing_the_payment_is_finished_by_the_retry(
        any_platform: PlatformUnderTest, monkeypatch: pytest.MonkeyPatch, channel: str, method: str) -> None:
    platform = any_platform
    merchant = platform.merchant()
    merchant.own_sandbox_account(channel)
    key, body = secrets.token_hex(8), order(f"K{secrets.token_hex(6)}", method)
    kill_at(monkeypatch, payments, "call_channel")  # the pending payment is committed, the channel not asked
    post_and_die(merchant.api, "/v1/payments", body, key)
    revive(monkeypatch)
    written = merchant.api.get("/v1/payments", params={"out_trade_no": body["out_trade_no"]}).json()["data"]
    assert [p["status"] for p in written] == ["pending"] and written[0]["action"] is None

    still = post(merchant.api, "/v1/payments", body, key)  # within the lease: it may still be running
    assert still.status_code == 409 and still.json()["error"]["code"] == "idempotency_key_in_use"
    age_claim(platform, key)
    retried = post(merchant.api, "/v1/payments", body, key)
    assert retried.status_code == 201, retried.text
    payment = retried.json()
    assert payment["id"] == written[0]["id"] and payment["status"] == "pending"
    assert payment["action"]["type"] == "qr_code"
    assert post(merchant.api, "/v1/payments", body, key).json() == payment  # stored now, replayed
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    listed = merchant.api.get("/v1/payments", params={"out_trade_no": body["out_trade_no"]}).json()["data"]
    assert len(listed) == 1


def killed_before_writing(platform: PlatformUnderTest,
                          monkeypatch: pytest.MonkeyPatch) -> tuple[MerchantClient, str, dict[str, Any]]:
    """A create whose process died before it wrote anything; returns the merchant, its key and body."""
    merchant = platform.merchant()
    merchant.own_sandbox_account("wechatpay")
    key, body = secrets.token_hex(8), order(f"K{secrets.token_hex(6)}")
    kill_at(monkeypatch, payments, "_insert_pending")
    post_and_die(merchant.api, "/v1/payments", body, key)
    revive(monkeypatch)
    return merchant, key, body


def test_a_create_killed_before_writing_anything_is_run_by_the_retry(
        platform: PlatformUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant, key, body = killed_before_writing(platform, monkeypatch)
    age_claim(platform, key)
    retried = post(merchant.api, "/v1/payments", body, key)
    assert retried.status_code == 201 and retried.json()["action"]["type"] == "qr_code"
    assert len(merchant.api.get("/v1/payments", params={"out_trade_no": body["out_trade_no"]}).json()["data"]) == 1


def test_a_retry_does_not_adopt_another_requests_payment(platform: PlatformUnderTest,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The killed request wrote nothing; meanwhile a different request took its out_trade_no."""
    merchant, key, body = killed_before_writing(platform, monkeypatch)
    assert merchant.api.post("/v1/payments", json={**body, "amount": 999}).status_code == 201
    age_claim(platform, key)
    retried = post(merchant.api, "/v1/payments", body, key)
    assert retried.status_code == 409 and retried.json()["error"]["code"] == "duplicate_out_trade_no"


def test_a_create_the_channel_did_not_answer_is_finished_by_the_retry(platform: PlatformUnderTest) -> None:
    """Not a crash: the prepay went unanswered (502, the payment stays pending). The retry with the same
    key asks the channel again for the same order — it does not trip over its own out_trade_no."""
    merchant = platform.merchant()
    _, credentials = merchant.own_sandbox_account("wechatpay")
    key, body = secrets.token_hex(8), order(f"K{secrets.token_hex(6)}")
    httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": credentials["mchid"], "fail_with_500": 1},
               timeout=30).raise_for_status()
    unanswered = post(merchant.api, "/v1/payments", body, key)
    assert unanswered.status_code == 502 and unanswered.json()["error"]["code"] == "channel_unavailable"
    payment_id = unanswered.json()["error"]["details"]["payment_id"]
    retried = post(merchant.api, "/v1/payments", body, key)
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == payment_id and retried.json()["action"]["type"] == "qr_code"
    assert post(merchant.api, "/v1/payments", body, key).json() == retried.json()
    assert len(merchant.api.get("/v1/payments", params={"out_trade_no": body["out_trade_no"]}).json()["data"]) == 1
    other = post(merchant.api, "/v1/payments", body, secrets.token_hex(8))  # another key: a new request
    assert other.status_code == 409 and other.json()["error"]["code"] == "duplicate_out_trade_no"


def paid(merchant: MerchantClient) -> dict[str, Any]:
    payment = merchant.create_payment("wechat_native", amount=10_000).json()
    merchant.pay(payment)
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


@pytest.mark.parametrize("own_number", [False, True])
def test_a_refund_killed_after_its_reservation_is_refunded_once(
        platform: PlatformUnderTest, monkeypatch: pytest.MonkeyPatch, own_number: bool) -> None:
    merchant = platform.merchant()
    _, credentials = merchant.own_sandbox_account("wechatpay")
    payment = paid(merchant)
    key = secrets.token_hex(8)
    body: dict[str, Any] = {"payment_id": payment["id"], "amount": 2_500}
    if own_number:
        body["out_refund_no"] = f"RF{secrets.token_hex(6)}"
    kill_at(monkeypatch, refunds, "send_to_channel")  # reserved and committed, the channel not asked
    post_and_die(merchant.api, "/v1/refunds", body, key)
    revive(monkeypatch)
    age_claim(platform, key)
    retried = post(merchant.api, "/v1/refunds", body, key)
    assert retried.status_code == 201, retried.text
    refund = retried.json()
    assert refund["status"] == "processing"
    if own_number:
        assert refund["out_refund_no"] == body["out_refund_no"]
    reserved = platform.sql("SELECT id FROM refunds WHERE payment_id = :p", p=payment["id"])
    assert [row[0] for row in reserved] == [refund["id"]]  # the reservation the killed run made, no second
    for _ in range(20):  # its sync job sends it under the same number
        if run_sync_job(platform.runtime.ctx, {"refund_id": refund["id"]}) is None:
            break
    merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
    order_at_channel = httpx.get(f"{platform.sandbox}/wechatpay/_orders/{credentials['mchid']}/"
                                 f"{payment['out_trade_no']}", timeout=30).json()
    assert [r["out_refund_no"] for r in order_at_channel["refunds"]] == [refund["out_refund_no"]]
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 2_500


def test_a_key_used_again_after_it_expired_asks_for_a_new_refund(platform: PlatformUnderTest) -> None:
    """A refund without its own number is numbered after its key's claim: the same for the request's
    retries, a new one when the key is used again, a day later, for a new refund of the same payment."""
    merchant = platform.merchant()
    merchant.own_sandbox_account("wechatpay")
    payment = paid(merchant)
    key, body = secrets.token_hex(8), {"payment_id": payment["id"], "amount": 1_000}
    first = post(merchant.api, "/v1/refunds", body, key)
    assert first.status_code == 201, first.text
    assert first.json()["out_refund_no"].startswith("rfidem")
    assert post(merchant.api, "/v1/refunds", body, key).json() == first.json()  # a retry: the stored answer
    age_claim(platform, key, by=idempotency.KEEP_FOR, status="done")
    second = post(merchant.api, "/v1/refunds", body, key)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["out_refund_no"] not in {first.json()["out_refund_no"], ""}
    for refund in (first.json(), second.json()):
        merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 2_000


def test_a_key_of_an_endpoint_that_cannot_resume_says_the_request_was_interrupted(
        platform: PlatformUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    key = secrets.token_hex(8)
    body = {"name": "Kiln Ltd.", "short_name": "Kiln", "subject_type": "enterprise"}
    kill_at(monkeypatch, merchants, "create_merchant")
    post_and_die(platform.admin, "/v1/merchants", body, key)
    revive(monkeypatch)
    age_claim(platform, key)
    for _ in range(2):  # the key stays claimed: what the killed run did is not known
        refused = post(platform.admin, "/v1/merchants", body, key)
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "idempotency_key_interrupted"


def test_one_retry_takes_an_interrupted_claim_over(platform: PlatformUnderTest,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """While a retry finishes the interrupted work, another retry is told it is in progress."""
    ctx = platform.runtime.ctx
    key, seen = secrets.token_hex(8), []

    def interrupted() -> idempotency.StoredResponse:
        raise Killed("run")

    def second_retry() -> idempotency.StoredResponse:
        with pytest.raises(Exception) as refused:
            idempotency.run_idempotent(ctx, scope="s", key=key, fingerprint="f", run=interrupted, resume=interrupted)
        seen.append(getattr(refused.value, "code", None))
        return idempotency.StoredResponse(201, {"resumed": True})

    monkeypatch.setattr(idempotency, "_let_go", lambda *_, **__: None)
    with pytest.raises(Killed):
        idempotency.run_idempotent(ctx, scope="s", key=key, fingerprint="f", run=interrupted)
    revive(monkeypatch)
    age_claim(platform, key)
    answer = idempotency.run_idempotent(ctx, scope="s", key=key, fingerprint="f", run=interrupted,
                                        resume=second_retry)
    assert answer == idempotency.StoredResponse(201, {"resumed": True}) and seen == ["idempotency_key_in_use"]
