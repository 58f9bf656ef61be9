"""The dashboard's refunds list: the merchant's refunds in the key's mode, newest first, filtered by status
or refund number, each linked to its payment; another merchant's never, a status that is none a 400."""

from __future__ import annotations

from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import key_of, paid_payment, signed_in


def test_refunds_are_listed_and_filtered(platform: PlatformUnderTest) -> None:
    merchant, other = platform.merchant(), platform.merchant("Other")
    paid = paid_payment(merchant, amount=5_000)
    made = [merchant.api.post("/v1/refunds", json={"payment_id": paid["id"], "amount": amount}).json()
            for amount in (1_000, 2_000)]
    for refund in made:
        merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
    foreign = paid_payment(other, amount=700)
    other.api.post("/v1/refunds", json={"payment_id": foreign["id"], "amount": 100})
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/refunds")
    assert page.status_code == 200 and 'href="/dashboard/refunds"' in page.text
    table = page.text.split('id="refunds"', 1)[1]
    assert table.index(made[1]["out_refund_no"]) < table.index(made[0]["out_refund_no"])  # newest first
    assert f'href="/dashboard/payments/{paid["id"]}"' in table and foreign["id"] not in table
    one = client.get("/dashboard/refunds", params={"out_refund_no": made[0]["out_refund_no"]}).text
    assert made[0]["out_refund_no"] in one and made[1]["out_refund_no"] not in one
    failed = client.get("/dashboard/refunds", params={"status": "failed"}).text
    assert "No refund matches." in failed
    bad = client.get("/dashboard/refunds", params={"status": "lost"})
    assert bad.status_code == 400 and "invalid_status" in bad.text
    live = signed_in(platform, key_of(merchant.live)).get("/dashboard/refunds").text
    assert "No refunds yet." in live  # the live key: live refunds only
