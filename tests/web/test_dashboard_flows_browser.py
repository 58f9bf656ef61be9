"""The dashboard's newer flows in real headless Chromium (Debian's, driven by Playwright), each after signing
in with the merchant's test key: a paid payment shared with a WeChat receiver from the payment's page (one
order, the amount asked for), a bank transfer confirmed from its payment's page (the payment succeeds), and
the transactions export downloaded from the payments page (UTF-8 CSV with a BOM, the payment and the
totals line in it). The pages run no script: plain forms, submitted by clicking their buttons."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.sharing.sharing_support import paid_payment, wechat_receiver
from tests.support.platform import MerchantClient, PlatformUnderTest
from tests.web.test_checkout_browser import ARGS, CHROMIUM

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]


@contextmanager
def signed_in_page(platform: PlatformUnderTest, merchant: MerchantClient) -> Iterator[Page]:
    """A Chromium page signed in to the dashboard through the login page with the merchant's test key."""
    from playwright.sync_api import sync_playwright

    key = merchant.api.headers["Authorization"].removeprefix("Bearer ")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{platform.base_url}/dashboard/login")
            page.fill("#api-key", key)
            page.click("#sign-in")
            page.wait_for_selector("#merchant")
            yield page
        finally:
            browser.close()


def test_a_paid_payment_is_shared_from_its_page(platform: PlatformUnderTest, tmp_path: Path) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay", amount=10_000)
    with signed_in_page(platform, merchant) as page:
        page.goto(f"{platform.base_url}/dashboard/payments/{payment['id']}")
        page.wait_for_selector("#share-form")
        assert page.locator("#shared").inner_text().startswith("¥0.00")
        page.select_option("#share-receiver-1", receiver["id"])
        page.fill("#share-amount-1", "12.34")
        page.click("#share-submit")
        page.wait_for_selector("#notice")
        assert "asked for" in page.locator("#notice").inner_text()
        assert page.locator("#shared").inner_text().startswith("¥12.34")
        assert page.locator("#error").count() == 0
        page.screenshot(path=str(tmp_path / "dashboard-share.png"))
    orders = merchant.api.get("/v1/profit_sharing/orders", params={"payment_id": payment["id"]}).json()["data"]
    assert [o["amount"] for o in orders] == [1_234]
    assert [line["receiver_id"] for line in orders[0]["receivers"]] == [receiver["id"]]
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 1_234


def test_a_bank_transfer_is_confirmed_from_its_payment_page(platform: PlatformUnderTest, tmp_path: Path) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("bank_transfer")
    created = merchant.create_payment("bank_transfer", amount=12_800)
    assert created.status_code == 201, created.text
    payment = created.json()
    with signed_in_page(platform, merchant) as page:
        page.goto(f"{platform.base_url}/dashboard/payments/{payment['id']}")
        page.wait_for_selector("#transfer-form")
        assert page.locator("#status").inner_text() == "pending"
        assert page.locator("#transfer-amount").input_value() == "128.00"  # prefilled with the payment's amount
        page.fill("#transfer-txn", "B-77")
        page.fill("#transfer-form input[name=payer_name]", "张三")
        page.fill("#transfer-form input[name=memo]", "货款")
        page.click("#transfer-submit")
        page.wait_for_selector("#notice")
        assert "B-77" in page.locator("#notice").inner_text()
        assert page.locator("#status").inner_text() == "succeeded"
        assert page.locator("#transfer-form").count() == 0  # nothing left to confirm
        page.screenshot(path=str(tmp_path / "dashboard-transfer.png"))
    paid = merchant.api.get(f"/v1/payments/{payment['id']}").json()
    assert paid["status"] == "succeeded" and paid["channel_trade_no"] == "B-77"


def test_the_transactions_export_downloads_from_the_payments_page(platform: PlatformUnderTest,
                                                                  tmp_path: Path) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native", amount=12_345).json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    with signed_in_page(platform, merchant) as page:
        page.goto(f"{platform.base_url}/dashboard/payments")
        page.wait_for_selector("#export-form")
        assert page.locator("#export-from").input_value() and page.locator("#export-to").input_value()
        with page.expect_download() as info:
            page.click("#export-submit")
        download = info.value
        assert download.suggested_filename.endswith("_test.csv")
        target = tmp_path / download.suggested_filename
        download.save_as(target)
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel on a Chinese Windows needs
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    mine = [row for row in rows if payment["out_trade_no"] in row]
    assert len(mine) == 1 and "123.45" in mine[0]
    assert rows[-1][0] == "合计 Total" and rows[-1][1] == "1 payment, 0 refunds"
