"""``GET /v1/refunds``: a merchant's refunds, newest first, by payment, status or number, in pages; never
another merchant's, never the other mode's."""

from __future__ import annotations

from typing import Any

from tests.support.platform import MerchantClient, PlatformUnderTest


def paid(merchant: MerchantClient, amount: int = 10_000) -> dict[str, Any]:
    payment = merchant.create_payment("alipay_qr", amount=amount).json()
    merchant.pay(payment)
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def refund(merchant: MerchantClient, payment: dict[str, Any], amount: int, **extra: Any) -> dict[str, Any]:
    made = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": amount, **extra})
    assert made.status_code == 201, made.text
    return dict(made.json())


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def test_refund_list_filters_and_paginates(any_platform: PlatformUnderTest) -> None:
    merchant = any_platform.merchant()
    merchant.sandbox_account("alipay")
    first, second = paid(merchant), paid(merchant)
    made = [refund(merchant, first, 1_000), refund(merchant, second, 500),
            refund(merchant, first, 2_000, out_refund_no="RFlisted01"), refund(merchant, first, 3_000)]
    newest_first = [r["id"] for r in made][::-1]

    listed = merchant.api.get("/v1/refunds")
    assert ids(listed) == newest_first and listed.json()["object"] == "list" and not listed.json()["has_more"]
    assert listed.json()["data"][-1] == merchant.api.get(f"/v1/refunds/{made[0]['id']}").json()
    page1 = merchant.api.get("/v1/refunds", params={"limit": 3})
    assert ids(page1) == newest_first[:3] and page1.json()["has_more"]
    page2 = merchant.api.get("/v1/refunds", params={"limit": 3, "starting_after": ids(page1)[-1]})
    assert ids(page2) == newest_first[3:] and not page2.json()["has_more"]
    of_first = merchant.api.get("/v1/refunds", params={"payment_id": first["id"]})
    assert ids(of_first) == [made[3]["id"], made[2]["id"], made[0]["id"]]
    assert ids(merchant.api.get("/v1/refunds", params={"out_refund_no": "RFlisted01"})) == [made[2]["id"]]
    for one in made:
        merchant.wait_status(f"/v1/refunds/{one['id']}", "succeeded")
    assert ids(merchant.api.get("/v1/refunds", params={"status": "succeeded"})) == newest_first
    assert ids(merchant.api.get("/v1/refunds", params={"status": "processing"})) == []


def test_refund_list_refuses_bad_input_with_stable_codes(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("alipay")
    mine = refund(merchant, paid(merchant), 100)
    stranger = platform.merchant("Noodle Bar")
    stranger.sandbox_account("alipay")
    theirs = refund(stranger, paid(stranger), 100)
    for params, code in (({"status": "bogus"}, "invalid_status"), ({"starting_after": theirs["id"]}, "invalid_cursor"),
                         ({"starting_after": "re_nosuchrefund"}, "invalid_cursor")):
        answer = merchant.api.get("/v1/refunds", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.text
    for limit in (0, 101, "many"):
        assert merchant.api.get("/v1/refunds", params={"limit": limit}).status_code == 400
    assert ids(merchant.api.get("/v1/refunds")) == [mine["id"]]  # never the other merchant's
    assert ids(merchant.api.get("/v1/refunds", params={"payment_id": theirs["payment_id"]})) == []
    assert ids(merchant.live.get("/v1/refunds")) == []  # test-mode refunds are not in live mode's list
    as_admin = platform.admin.get("/v1/refunds")
    assert as_admin.status_code == 404 and as_admin.json()["error"]["code"] == "merchant_key_required"
