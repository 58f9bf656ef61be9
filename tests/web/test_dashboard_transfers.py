"""The dashboard's bank transfers over real loopback HTTP: a transfer confirmed from its payment's page (the
amount checked), a statement file uploaded from the bank-transfer page (each credit recorded once, matched
by the reference code in its memo; a malformed file refused whole), a refund sent back confirmed or
cancelled from the payment's page — and the usual guards: read-only keys, forms without the session's
token, another merchant's objects, garbage in the fields."""

from __future__ import annotations

from typing import Any

import httpx

from indiepay.transfers.rules import MAX_BYTES
from tests.support.platform import MerchantClient, PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, paid_payment, signed_in

HEADER = "交易时间,交易流水号,金额,对方户名,附言\n"
STATEMENTS = "/dashboard/bank_transfers/statements"


def transfer_payment(merchant: MerchantClient, amount: int) -> dict[str, Any]:
    created = merchant.create_payment("bank_transfer", amount=amount)
    assert created.status_code == 201, created.text
    return dict(created.json())


def paid_transfer(merchant: MerchantClient, amount: int, txn: str = "IN-1") -> dict[str, Any]:
    """A bank-transfer payment whose transfer the merchant confirmed through the API."""
    payment = transfer_payment(merchant, amount)
    confirmed = merchant.api.post(f"/v1/payments/{payment['id']}/confirm_transfer",
                                  json={"bank_txn_id": txn, "amount": amount})
    assert confirmed.status_code == 200, confirmed.text
    return payment


def upload(client: httpx.Client, token: str, account_id: str, content: bytes) -> httpx.Response:
    return client.post(STATEMENTS, data={"csrf": token, "account_id": account_id},
                       files={"file": ("statement.csv", content, "text/csv")})


def lines(platform: PlatformUnderTest) -> int:
    return int(platform.sql("SELECT count(*) FROM bank_statement_lines")[0][0])


def status_of(merchant: MerchantClient, path: str) -> str:
    return str(merchant.api.get(path).json()["status"])


def test_a_transfer_is_confirmed_from_its_payment_page_and_the_amount_is_checked(
        platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("bank_transfer")
    payment = transfer_payment(merchant, 12_800)
    client = signed_in(platform, key_of(merchant.api))
    page = client.get(f"/dashboard/payments/{payment['id']}").text
    assert 'id="transfer-form"' in page and 'id="transfer-amount" inputmode="decimal" size="10" value="128.00"' in page
    confirm = f"/dashboard/payments/{payment['id']}/confirm_transfer"
    form = {"csrf": csrf(page), "bank_txn_id": "B-77", "amount": "128.00", "payer_name": "张三", "memo": "货款"}

    wrong = client.post(confirm, data={**form, "amount": "127.00"})
    assert wrong.status_code == 422 and "transfer_amount_mismatch" in wrong.text and 'id="transfer-form"' in wrong.text
    for name, value, code in (("amount", "abc", "invalid_amount"), ("amount", "0", "invalid_amount"),
                              ("amount", "1.001", "invalid_amount"), ("amount", "1e999999", "invalid_amount"),
                              ("bank_txn_id", "", "invalid_transfer"), ("bank_txn_id", "x" * 65, "invalid_transfer"),
                              ("memo", "m" * 201, "invalid_transfer")):
        refused = client.post(confirm, data={**form, name: value})
        assert refused.status_code == 400 and code in refused.text, (name, value, refused.text[:300])
    assert status_of(merchant, f"/v1/payments/{payment['id']}") == "pending" and lines(platform) == 0

    done = client.post(confirm, data=form)
    assert done.status_code == 200 and 'id="notice"' in done.text and 'id="status">succeeded' in done.text
    assert 'id="transfer-form"' not in done.text
    paid = merchant.api.get(f"/v1/payments/{payment['id']}").json()
    assert paid["status"] == "succeeded" and paid["channel_trade_no"] == "B-77"
    again = client.post(confirm, data={**form, "bank_txn_id": "B-78"})
    assert again.status_code == 409 and "payment_not_pending" in again.text

    listed = client.get("/dashboard/bank_transfers").text
    assert "B-77" in listed and "张三" in listed and "by hand" in listed
    assert f'href="/dashboard/payments/{payment["id"]}"' in listed

    wechat = paid_payment(merchant)  # a payment the channel carries: no transfer to confirm
    not_transfer = client.post(f"/dashboard/payments/{wechat['id']}/confirm_transfer", data=form)
    assert not_transfer.status_code == 400 and "not_a_bank_transfer" in not_transfer.text


def test_a_statement_uploaded_from_the_page_pays_the_payment_its_memo_names(any_platform: PlatformUnderTest) -> None:
    platform = any_platform  # SQLite and PostgreSQL
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    payment = transfer_payment(merchant, 128_800)
    reference = payment["action"]["reference"]
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/bank_transfers")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'id="statement-form"' in page.text and f'<option value="{account["id"]}">' in page.text
    assert 'href="/dashboard/bank_transfers">Bank transfers</a>' in page.text  # in the merchant's menu
    statement = (HEADER + f"2026-11-27 10:00:00,B001,\"1,288.00\",张三,货款 {reference.lower()}\n"
                 "2026-11-27 10:05:00,B002,50.00,李四,没有编号\n2026-11-27 10:06:00,B003,-20.00,房东,房租\n")

    imported = upload(client, csrf(page.text), account["id"], statement.encode("gbk"))
    assert imported.status_code == 200, imported.text
    assert "2 credits, 2 lines recorded — 1 matched, 1 unmatched." in imported.text
    paid = merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    assert paid["channel_trade_no"] == "B001"
    assert f'href="/dashboard/payments/{payment["id"]}"' in imported.text and "1288.00" in imported.text

    matched = client.get("/dashboard/bank_transfers", params={"status": "matched"}).text
    assert "B001" in matched and "B002" not in matched
    unmatched = client.get("/dashboard/bank_transfers", params={"status": "unmatched"}).text
    assert "B002" in unmatched and "no_reference" in unmatched and "B001" not in unmatched and "B003" not in unmatched
    odd = client.get("/dashboard/bank_transfers", params={"status": "paid"})
    assert odd.status_code == 400 and "invalid_status" in odd.text

    again = upload(client, csrf(page.text), account["id"], statement.encode("gbk"))
    assert again.status_code == 200 and "0 lines recorded" in again.text and "2 imported before" in again.text
    assert lines(platform) == 2
    assert platform.sql("SELECT count(*) FROM events WHERE type = 'payment.succeeded'") == [(1,)]

    # a multipart form's fields pass the NUL guard: the page refuses a NUL itself (PostgreSQL cannot store one)
    nul = upload(client, csrf(page.text), account["id"] + "\x00", statement.encode("gbk"))
    assert nul.status_code == 400 and "invalid_characters" in nul.text
    nul_file = upload(client, csrf(page.text), account["id"], HEADER.encode() + b"2026-11-27,N1,1.00,a,b\x00\n")
    assert nul_file.status_code == 400 and "invalid_statement" in nul_file.text
    assert lines(platform) == 2


def test_a_bad_statement_is_refused_whole_and_nothing_is_stored(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    wechat = merchant.sandbox_account("wechatpay")
    payment = transfer_payment(merchant, 1_000)
    client = signed_in(platform, key_of(merchant.api))
    token = csrf(client.get("/dashboard/bank_transfers").text)
    reference = payment["action"]["reference"]

    bad = upload(client, token, account["id"],
                 (HEADER + f"2026-11-27,G1,10.00,a,{reference}\n2026-11-27,G2,1.5x,c,d\n").encode())
    assert bad.status_code == 400 and "invalid_statement" in bad.text
    assert 'id="error-line">line 3, field amount' in bad.text
    huge = upload(client, token, account["id"], b"x" * (MAX_BYTES + 1))
    assert huge.status_code == 400 and "invalid_statement" in huge.text and "at most 10 MB" in huge.text
    no_file = client.post(STATEMENTS, data={"csrf": token, "account_id": account["id"]})
    assert no_file.status_code == 400 and "invalid_statement" in no_file.text
    empty = upload(client, token, account["id"], b"")
    assert empty.status_code == 400 and "invalid_statement" in empty.text
    no_account = upload(client, token, "", HEADER.encode())
    assert no_account.status_code == 400 and "invalid_form" in no_account.text
    not_bank = upload(client, token, wechat["id"], HEADER.encode())
    assert not_bank.status_code == 400 and "not_a_bank_account" in not_bank.text
    assert lines(platform) == 0 and status_of(merchant, f"/v1/payments/{payment['id']}") == "pending"


def test_a_refund_sent_back_is_confirmed_or_cancelled_from_the_payment_page(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("bank_transfer")
    payment = paid_transfer(merchant, 5_000)
    first = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 3_000}).json()
    second = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 2_000}).json()
    assert first["status"] == second["status"] == "processing"
    client = signed_in(platform, key_of(merchant.api))
    page = client.get(f"/dashboard/payments/{payment['id']}").text
    for refund in (first, second):
        assert f'id="refund-confirm-{refund["id"]}"' in page and f'id="refund-cancel-{refund["id"]}"' in page
    assert 'id="refund-form"' not in page  # all of it is held by the two refunds
    token = csrf(page)

    blank = client.post(f"/dashboard/refunds/{first['id']}/confirm_transfer", data={"csrf": token})
    assert blank.status_code == 400 and "invalid_transfer" in blank.text
    done = client.post(f"/dashboard/refunds/{first['id']}/confirm_transfer",
                       data={"csrf": token, "bank_txn_id": "OUT-1"})
    assert done.status_code == 200 and 'id="notice"' in done.text
    assert f'id="refund-confirm-{first["id"]}"' not in done.text
    confirmed = merchant.api.get(f"/v1/refunds/{first['id']}").json()
    assert confirmed["status"] == "succeeded" and confirmed["channel_refund_no"] == "OUT-1"
    late = client.post(f"/dashboard/refunds/{first['id']}/cancel", data={"csrf": token})
    assert late.status_code == 409 and "refund_not_processing" in late.text

    cancelled = client.post(f"/dashboard/refunds/{second['id']}/cancel", data={"csrf": token})
    assert cancelled.status_code == 200 and "refundable again" in cancelled.text
    assert status_of(merchant, f"/v1/refunds/{second['id']}") == "failed"
    assert 'id="refund-form"' in cancelled.text and 'value="20.00"' in cancelled.text  # the 20.00 is free again
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 3_000
    assert merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 2_000}).status_code == 201


def test_a_channel_refund_is_not_confirmed_by_hand(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    paid = paid_payment(merchant)
    refund = merchant.api.post("/v1/refunds", json={"payment_id": paid["id"], "amount": 1}).json()
    client = signed_in(platform, key_of(merchant.api))
    page = client.get(f"/dashboard/payments/{paid['id']}").text
    assert 'id="refund-confirm-' not in page and 'id="transfer-form"' not in page
    token = csrf(page)
    by_hand = client.post(f"/dashboard/refunds/{refund['id']}/confirm_transfer",
                          data={"csrf": token, "bank_txn_id": "X"})
    assert by_hand.status_code == 400 and "refund_not_manual" in by_hand.text
    cancel = client.post(f"/dashboard/refunds/{refund['id']}/cancel", data={"csrf": token})
    assert cancel.status_code == 400 and "refund_not_manual" in cancel.text
    assert merchant.api.get(f"/v1/refunds/{refund['id']}").json()["channel_refund_no"] != "X"


def _four_posts(client: httpx.Client, token: str, payment: dict[str, Any], refund: dict[str, Any],
                account_id: str) -> list[httpx.Response]:
    statement = (HEADER + f"2026-11-27,R1,10.00,a,{payment['action']['reference']}\n").encode()
    return [client.post(f"/dashboard/payments/{payment['id']}/confirm_transfer",
                        data={"csrf": token, "bank_txn_id": "R1", "amount": "10.00"}),
            upload(client, token, account_id, statement),
            client.post(f"/dashboard/refunds/{refund['id']}/confirm_transfer",
                        data={"csrf": token, "bank_txn_id": "R2"}),
            client.post(f"/dashboard/refunds/{refund['id']}/cancel", data={"csrf": token})]


def test_read_only_keys_and_forms_without_the_token_change_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    pending = transfer_payment(merchant, 1_000)
    refunded = paid_transfer(merchant, 800)
    refund = merchant.api.post("/v1/refunds", json={"payment_id": refunded["id"], "amount": 800}).json()
    before = lines(platform)

    made = merchant.api.post("/v1/api_keys", json={"mode": "test", "read_only": True})
    assert made.status_code == 201, made.text
    reader = signed_in(platform, made.json()["key"])
    assert 'id="statement-form"' not in reader.get("/dashboard/bank_transfers").text
    assert 'id="transfer-form"' not in reader.get(f"/dashboard/payments/{pending['id']}").text
    assert 'id="refund-confirm-' not in reader.get(f"/dashboard/payments/{refunded['id']}").text
    read_token = csrf(reader.get("/dashboard").text)
    for answer in _four_posts(reader, read_token, pending, refund, account["id"]):
        assert answer.status_code == 403 and "read_only_key" in answer.text, answer.text[:300]

    writer = signed_in(platform, key_of(merchant.api))
    for answer in _four_posts(writer, "guessed", pending, refund, account["id"]):
        assert answer.status_code == 403 and "csrf_failed" in answer.text, answer.text[:300]
    for answer in _four_posts(writer, "", pending, refund, account["id"]):
        assert answer.status_code == 403 and "csrf_failed" in answer.text, answer.text[:300]

    assert lines(platform) == before
    assert status_of(merchant, f"/v1/payments/{pending['id']}") == "pending"
    assert status_of(merchant, f"/v1/refunds/{refund['id']}") == "processing"


def test_another_merchants_payments_refunds_and_accounts_are_not_found(platform: PlatformUnderTest) -> None:
    owner = platform.merchant("Owner")
    account = owner.sandbox_account("bank_transfer")
    pending = transfer_payment(owner, 1_000)
    refunded = paid_transfer(owner, 800, txn="OWNER-TXN")
    refund = owner.api.post("/v1/refunds", json={"payment_id": refunded["id"], "amount": 800}).json()
    before = lines(platform)

    stranger = platform.merchant("Stranger")
    stranger.sandbox_account("bank_transfer")
    for key in (key_of(stranger.api), key_of(owner.live)):  # another merchant, and the owner's live mode
        client = signed_in(platform, key)
        page = client.get("/dashboard/bank_transfers").text
        assert account["id"] not in page and "OWNER-TXN" not in page
        for answer in _four_posts(client, csrf(page), pending, refund, account["id"]):
            assert answer.status_code == 404, answer.text[:300]
    assert lines(platform) == before
    assert status_of(owner, f"/v1/payments/{pending['id']}") == "pending"
    assert status_of(owner, f"/v1/refunds/{refund['id']}") == "processing"
