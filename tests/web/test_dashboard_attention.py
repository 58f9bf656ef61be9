"""The merchant's overview says what waits for it — each item counted in the key's mode and linked to the
page that settles it — and says nothing when nothing does."""

from __future__ import annotations

from datetime import timedelta

from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import key_of, paid_payment, signed_in


def test_the_overview_lists_what_needs_attention(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.api))
    assert 'id="attention"' not in client.get("/dashboard").text  # nothing waits
    paid = paid_payment(merchant, amount=3_000)
    refund = merchant.api.post("/v1/refunds", json={"payment_id": paid["id"], "amount": 1_000}).json()
    merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
    platform.sql("UPDATE refunds SET status = 'failed' WHERE id = :r", r=refund["id"])  # as a channel refusal
    soon = platform.clock.now() + timedelta(days=10)
    platform.sql("UPDATE channel_accounts SET credentials_expire_at = :at WHERE merchant_id = :m", at=soon,
                 m=merchant.id)
    panel = client.get("/dashboard").text.split('id="attention"', 1)[1].split("</div>", 1)[0]
    assert '<a href="/dashboard/refunds?status=failed"><strong>1</strong> refunds failed' in panel
    assert '<a href="/dashboard/accounts"><strong>1</strong> accounts whose keys' in panel
    assert "reconciliation" not in panel and "bank credits" not in panel
    live = signed_in(platform, key_of(merchant.live)).get("/dashboard").text
    assert 'id="attention"' not in live  # the test account and refund are not the live key's business
