"""The hosted checkout in real headless Chromium (Debian's, driven by Playwright): the merchant's
short_name, the amount and a QR code render; after the sandbox buyer pays, the page turns to success and
links to the e-receipt, which renders too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.platform import PlatformUnderTest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.parametrize("channel,method", [("wechatpay", "wechat_native"), ("alipay", "alipay_qr"),
                                            ("unionpay", "unionpay_qr")])
def test_checkout_shows_brand_qr_and_success(platform: PlatformUnderTest, tmp_path: Path, channel: str,
                                             method: str) -> None:
    from playwright.sync_api import sync_playwright

    merchant = platform.merchant(short_name="小王的茶铺 Wang's Tea")
    merchant.sandbox_account(channel)
    payment = merchant.create_payment(method, amount=12345).json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(payment["checkout_url"])
        assert page.locator("#merchant-name").inner_text() == "小王的茶铺 Wang's Tea"
        assert page.locator("#amount").inner_text() == "¥123.45"
        qr = page.locator("#qr svg")
        assert qr.count() == 1 and qr.bounding_box() is not None
        assert qr.bounding_box()["width"] > 100  # type: ignore[index]
        page.screenshot(path=str(tmp_path / f"checkout-{channel}.png"))
        merchant.pay(payment)
        page.wait_for_selector("#paid", timeout=20_000)
        assert "Payment received" in page.locator("#paid").inner_text()
        page.click("#receipt-link")  # the buyer keeps an e-receipt
        page.wait_for_selector("#receipt", timeout=20_000)
        assert page.locator("#merchant-name").inner_text() == "小王的茶铺 Wang's Tea"
        assert page.locator("#merchant-legal-name").inner_text() == "小王的茶铺 Wang's Tea Ltd."
        assert page.locator("#amount").inner_text() == "¥123.45 CNY"
        assert page.locator("#out-trade-no").inner_text() == payment["out_trade_no"]
        assert page.locator("#sandbox").count() == 1
        page.screenshot(path=str(tmp_path / f"receipt-{channel}.png"))
        browser.close()


def test_redirect_methods_show_a_pay_button(platform: PlatformUnderTest) -> None:
    from playwright.sync_api import sync_playwright

    merchant = platform.merchant(short_name="Page Shop")
    merchant.sandbox_account("alipay")
    payment = merchant.create_payment("alipay_page", amount=500).json()
    assert payment["action"]["type"] == "redirect"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(payment["checkout_url"])
        link = page.locator("#pay-link")
        assert link.get_attribute("href") == payment["action"]["url"]
        assert page.locator("#merchant-name").inner_text() == "Page Shop"
        browser.close()


def test_unionpay_gateway_page_round_trip_in_the_browser(platform: PlatformUnderTest, tmp_path: Path) -> None:
    """The form action end to end in Chromium: our checkout posts the signed fields to UnionPay's page, the
    buyer pays there, the gateway's page posts the buyer back to our checkout, which shows success once the
    back notify has arrived."""
    from playwright.sync_api import sync_playwright

    merchant = platform.merchant(short_name="银联小店 Union Shop")
    merchant.sandbox_account("unionpay")
    payment = merchant.create_payment("unionpay_page", amount=2468).json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(payment["checkout_url"])
        assert page.locator("#merchant-name").inner_text() == "银联小店 Union Shop"
        page.click("#pay-link")  # submits the signed form to the gateway's page
        page.wait_for_selector("#pay", timeout=20_000)
        assert page.locator("#amount").inner_text() == "¥24.68"
        page.click("#pay")  # the buyer pays on UnionPay's page, which posts them back to the checkout
        page.wait_for_selector("#paid", timeout=20_000)
        assert page.url.endswith(f"/pay/{payment['id']}") or page.url.endswith(f"/pay/{payment['id']}/return")
        page.screenshot(path=str(tmp_path / "checkout-unionpay-page.png"))
        browser.close()
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def test_bank_transfer_checkout_shows_the_account_and_reference(platform: PlatformUnderTest) -> None:
    """The buyer sees where to send the money and what to write in the memo; once the merchant's statement
    shows the transfer, the open page turns to success."""
    import httpx
    from playwright.sync_api import sync_playwright

    merchant = platform.merchant(short_name="茶具铺 Teaware")
    account = merchant.sandbox_account("bank_transfer")
    payment = merchant.create_payment("bank_transfer", amount=52000).json()
    action = payment["action"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(payment["checkout_url"])
        assert page.locator("#amount").inner_text() == "¥520.00"
        assert page.locator("#bt-account-number").inner_text() == action["account_number"]
        assert page.locator("#bt-account-name").inner_text() == action["account_name"]
        assert page.locator("#bt-reference").inner_text() == action["reference"]
        bank = f"{platform.sandbox}/bank"
        httpx.post(f"{bank}/_buyer/transfer", json={"account_number": action["account_number"], "amount": 52000,
                                                    "memo": action["reference"]}, timeout=10).raise_for_status()
        statement = httpx.get(f"{bank}/statement", params={"account_number": action["account_number"]}, timeout=10)
        merchant.api.post("/v1/bank_transfers/statements", params={"account_id": account["id"]},
                          content=statement.content, headers={"Content-Type": "text/csv"}).raise_for_status()
        page.wait_for_selector("#paid", timeout=20_000)
        browser.close()


def test_unknown_payment_page_is_404(platform: PlatformUnderTest) -> None:
    import httpx

    response = httpx.get(f"{platform.base_url}/pay/pay_doesnotexist")
    assert response.status_code == 404
