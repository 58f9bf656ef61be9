"""Browser-facing guards: a sign-in posted by another site's page is refused (login CSRF: it would sign the
victim's browser in as the attacker's merchant), the session cookie is ``Secure`` whenever the platform is
published over HTTPS (TLS usually ends at a proxy in front of it), and the buyer's pages — whose address
grants sight of the payment — are never framed, cached or passed on as a referrer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import PlatformUnderTest, start_platform
from tests.web.test_dashboard import browser, key_of, paid_payment


def test_a_sign_in_posted_from_another_sites_page_is_refused(platform: PlatformUnderTest) -> None:
    key = key_of(platform.merchant("Tea").api)
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "same-site", "Origin": platform.base_url}):
        refused = browser(platform).post("/dashboard/login", data={"api_key": key}, headers=headers)
        assert refused.status_code == 403 and "set-cookie" not in refused.headers, headers
    for headers in ({"Origin": platform.base_url, "Sec-Fetch-Site": "same-origin"}, {}):
        signed = browser(platform).post("/dashboard/login", data={"api_key": key}, headers=headers)
        assert signed.status_code == 303 and "set-cookie" in signed.headers, headers


@pytest.fixture
def published(tmp_path: Path, sqlite_url: str) -> Iterator[PlatformUnderTest]:
    with start_platform(tmp_path, sqlite_url, public_url="https://pay.example.com") as running:
        yield running


def test_the_session_cookie_is_secure_when_the_platform_is_published_over_https(
        published: PlatformUnderTest, platform: PlatformUnderTest) -> None:
    signed = browser(published).post("/dashboard/login", data={"api_key": published.settings.admin_key})
    assert signed.status_code == 303 and "secure" in signed.headers["set-cookie"].lower()
    plain = browser(platform).post("/dashboard/login", data={"api_key": platform.settings.admin_key})
    assert plain.status_code == 303 and "secure" not in plain.headers["set-cookie"].lower()  # local http


def test_the_buyers_pages_are_never_framed_cached_or_referred(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    paid = paid_payment(merchant)
    for path, status in ((f"/pay/{paid['id']}", 200), (f"/pay/{paid['id']}/receipt", 200),
                         ("/pay/pay_nobody", 404)):
        page = httpx.get(f"{platform.base_url}{path}", timeout=30)
        assert page.status_code == status, path
        assert page.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in \
            page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-content-type-options"] == "nosniff"
