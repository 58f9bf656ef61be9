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


@pytest.mark.parametrize("channel,method", [("wechatpay", "wechat_native"), ("alipay", "alipay_qr")])
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


def test_unknown_payment_page_is_404(platform: PlatformUnderTest) -> None:
    import httpx

    response = httpx.get(f"{platform.base_url}/pay/pay_doesnotexist")
    assert response.status_code == 404
