"""Accounts record their certificates' expiry when created, and the worker seeds the daily key check."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from indiepay.core.clock import as_utc
from tests.keys.certs import self_signed_pem
from tests.support.platform import PlatformUnderTest


def _expiry(platform: PlatformUnderTest, account_id: str) -> datetime | None:
    rows = platform.sql("SELECT credentials_expire_at FROM channel_accounts WHERE id = :id", id=account_id)
    value = rows[0][0]
    if value is None or isinstance(value, datetime):
        return as_utc(value) if value else None
    return as_utc(datetime.fromisoformat(str(value)))


def test_sandbox_accounts_carry_no_certificate_so_no_expiry(platform: PlatformUnderTest) -> None:
    """What the sandbox provisions: WeChat Pay — a merchant private key and serial, the APIv3 key and (in
    public-key mode) a bare ``PUB_KEY_ID_`` public key; platform certificates are fetched from
    ``/v3/certificates``, not handed over. Alipay — two bare RSA keys. No certificate, hence no expiry."""
    merchant = platform.merchant()
    public_key_mode = merchant.sandbox_account("wechatpay")
    certificate_mode = merchant.sandbox_account("wechatpay", key_mode="platform_certificate")
    alipay = merchant.sandbox_account("alipay")
    for account in (public_key_mode, certificate_mode, alipay):
        assert _expiry(platform, account["id"]) is None


def test_a_certificate_among_the_credentials_sets_the_expiry(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    credentials = httpx.post(f"{platform.sandbox}/wechatpay/_provision", json={}, timeout=30).json()["credentials"]
    expires = datetime(2031, 5, 4, 3, 2, 1, tzinfo=UTC)
    credentials["wechatpay_public_key"] = self_signed_pem(datetime(2026, 1, 1, tzinfo=UTC), expires)
    response = merchant.api.post("/v1/channel_accounts", json={
        "channel": "wechatpay", "environment": "sandbox", "credentials": credentials})
    assert response.status_code == 201, response.text
    assert _expiry(platform, response.json()["id"]) == expires


def test_the_worker_seeds_the_daily_key_check(platform: PlatformUnderTest) -> None:
    rows = platform.sql("SELECT status FROM jobs WHERE kind = 'keys.check'")
    assert rows, "keys.check was not seeded"
    assert "keys.check" in platform.runtime.worker.handlers
