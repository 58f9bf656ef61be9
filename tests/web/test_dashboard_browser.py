"""The dashboard in real headless Chromium (Debian's, driven by Playwright): a merchant signs in with its
test key, finds a paid payment, refunds part of it from the page, and signs out; the cookie is not
readable by the page's own script."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.platform import PlatformUnderTest
from tests.web.test_checkout_browser import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")]


def test_a_merchant_signs_in_refunds_and_signs_out(platform: PlatformUnderTest, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    merchant = platform.merchant(short_name="小王的茶铺 Wang's Tea")
    merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native", amount=12_345).json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    key = merchant.api.headers["Authorization"].removeprefix("Bearer ")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(f"{platform.base_url}/dashboard")
        page.wait_for_selector("#api-key")  # sent to sign in first
        page.fill("#api-key", key)
        page.click("#sign-in")
        page.wait_for_selector("#merchant")
        assert "小王的茶铺 Wang's Tea" in page.locator("#merchant").inner_text()
        assert page.locator("#paid-total").inner_text() == "¥123.45"
        assert page.locator("#mode").inner_text() == "test data"
        assert page.evaluate("document.cookie") == ""  # HttpOnly: not the page's to read
        page.click(f"text={payment['out_trade_no']}")
        page.wait_for_selector("#refund-form")
        assert page.locator("#amount").inner_text() == "¥123.45 CNY"
        page.fill("#refund-amount", "23.45")
        page.click("#refund-submit")
        page.wait_for_selector("#notice")
        assert "Refund" in page.locator("#notice").inner_text()
        assert "¥23.45" in page.locator("#refunds").inner_text()
        assert page.locator("#refund-amount").input_value() == "100.00"  # what is left, the 23.45 being processed
        page.screenshot(path=str(tmp_path / "dashboard-payment.png"))
        page.click("#sign-out")
        page.wait_for_selector("#api-key")
        page.goto(f"{platform.base_url}/dashboard/payments")
        assert page.locator("#api-key").count() == 1  # signed out: back to the sign-in page
        browser.close()
    refunds = merchant.api.get("/v1/refunds", params={"payment_id": payment["id"]}).json()["data"]
    assert [r["amount"] for r in refunds] == [2_345]


def test_the_operator_corrects_a_merchant_and_checks_the_log(platform: PlatformUnderTest) -> None:
    """The operator's round in Chromium: the merchant's page from the list, KYC set from the profile form,
    then the audit log from the navigation, its chain verified on request."""
    from playwright.sync_api import sync_playwright

    merchant = platform.merchant(short_name="老李 Fruit")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(f"{platform.base_url}/dashboard/login")
        page.fill("#api-key", platform.settings.admin_key)
        page.click("#sign-in")
        page.wait_for_selector("#merchants")
        page.click(f"a[href='/dashboard/merchants/{merchant.id}']")
        page.wait_for_selector("#profile-form")
        assert page.locator("#fact-kyc").inner_text() == "pending"
        page.select_option("#p-kyc", "complete")
        page.click("#profile-submit")
        page.wait_for_selector("#notice")
        assert page.locator("#fact-kyc").inner_text() == "complete"
        page.click("text=Audit log")
        page.wait_for_selector("#verify")
        assert "merchant.updated" in page.locator("#events").inner_text()
        page.click("#verify")
        page.wait_for_selector("#chain.notice")
        assert "Chain intact" in page.locator("#chain").inner_text()
        browser.close()
    assert merchant.api.get(f"/v1/merchants/{merchant.id}").json()["kyc_status"] == "complete"


def test_a_merchant_reads_the_advice_from_the_navigation(platform: PlatformUnderTest) -> None:
    from playwright.sync_api import sync_playwright

    merchant = platform.merchant()
    key = merchant.api.headers["Authorization"].removeprefix("Bearer ")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(f"{platform.base_url}/dashboard/login")
        page.fill("#api-key", key)
        page.click("#sign-in")
        page.wait_for_selector("#merchant")
        page.click("text=Collection")
        page.wait_for_selector("#checklist")
        assert page.locator("#recommended-mode").inner_text().startswith("platform")
        page.click("text=Profit sharing")
        page.wait_for_selector("#receivers")
        browser.close()
