"""Bill fetching against a scripted gateway: what is signed, what is trusted, how failures are classified."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from datetime import date

import httpx
import pytest
from wechatpay_fakes import adapter_for, reply, rsa_key

from indiepay.channels.base import (
    BillHashMismatch,
    BillKindUnsupported,
    BillNotReady,
    RetryableChannelError,
    TerminalChannelError,
    UnknownOutcomeError,
)
from indiepay.channels.wechatpay import signing

BASE = "http://127.0.0.1:8000/sandbox/wechatpay"
DAY = date(2024, 5, 1)
CSV = "\ufeff交易时间,商户订单号\r\n`2024-05-01 10:00:00,`T1\r\n".encode()
TOKEN_URL = f"{BASE}/v3/billdownload/file?token=abc-123"


def _gateway(file: bytes = gzip.compress(CSV), *, hash_value: str | None = None, hash_type: str = "SHA1",
             download: httpx.Response | None = None) -> Callable[[httpx.Request], httpx.Response]:
    announced = hash_value or hashlib.sha1(CSV).hexdigest()

    def handler(request: httpx.Request) -> httpx.Response:
        if "/v3/billdownload/" in request.url.path:
            return download or httpx.Response(200, content=file)  # unsigned, as the real download
        return reply(200, {"download_url": TOKEN_URL, "hash_type": hash_type, "hash_value": announced})

    return handler


def test_trade_bill_is_applied_for_downloaded_with_a_signature_gunzipped_and_checked() -> None:
    adapter, gateway = adapter_for(_gateway(), base_url=BASE)
    bill = adapter.fetch_bill("trade", DAY)
    assert (bill.channel, bill.kind, bill.bill_date, bill.content) == ("wechatpay", "trade", DAY, CSV)
    assert bill.sha1 == hashlib.sha1(CSV).hexdigest()
    apply, download = gateway.requests
    assert apply.url.raw_path.decode() == \
        "/sandbox/wechatpay/v3/bill/tradebill?bill_date=2024-05-01&bill_type=ALL&tar_type=GZIP"
    auth = signing.parse_authorization(download.headers["authorization"])
    message = signing.request_message("GET", "/v3/billdownload/file?token=abc-123", auth["timestamp"],
                                      auth["nonce_str"], b"")
    assert signing.verify(rsa_key("merchant").public_key(), message, auth["signature"])


def test_fundflow_bill_asks_for_the_basic_account() -> None:
    adapter, gateway = adapter_for(_gateway(), base_url=BASE)
    assert adapter.fetch_bill("fundflow", DAY).kind == "fundflow"
    assert gateway.requests[0].url.params["account_type"] == "BASIC"


def test_hash_is_compared_case_insensitively() -> None:
    adapter, _ = adapter_for(_gateway(hash_value=hashlib.sha1(CSV).hexdigest().upper()), base_url=BASE)
    assert adapter.fetch_bill("trade", DAY).content == CSV


@pytest.mark.parametrize(("kwargs", "channel_code"), [
    ({"hash_value": hashlib.sha1(b"another file").hexdigest()}, "HASH_MISMATCH"),
    ({"file": gzip.compress(CSV + b"`2024-05-01 11:00:00,`T2\r\n")}, "HASH_MISMATCH"),
    ({"file": b"not gzip at all"}, "BAD_GZIP"),
    ({"file": gzip.compress(CSV)[:-12]}, "BAD_GZIP"),
])
def test_a_file_that_is_not_the_announced_one_is_rejected(kwargs: dict[str, object], channel_code: str) -> None:
    adapter, _ = adapter_for(_gateway(**kwargs), base_url=BASE)  # type: ignore[arg-type]
    with pytest.raises(BillHashMismatch) as rejected:
        adapter.fetch_bill("trade", DAY)
    assert rejected.value.channel_code == channel_code and rejected.value.code == "bill_hash_mismatch"
    assert isinstance(rejected.value, TerminalChannelError)


@pytest.mark.parametrize("code", ["NO_STATEMENT_EXIST", "STATEMENT_CREATING"])
def test_not_ready_is_retryable(code: str) -> None:
    adapter, _ = adapter_for(lambda request: reply(400, {"code": code, "message": "账单"}), base_url=BASE)
    with pytest.raises(BillNotReady) as not_ready:
        adapter.fetch_bill("trade", DAY)
    assert not_ready.value.channel_code == code and isinstance(not_ready.value, RetryableChannelError)


def test_other_failures_keep_their_class() -> None:
    adapter, _ = adapter_for(lambda request: reply(400, {"code": "PARAM_ERROR", "message": "日期错误"}))
    with pytest.raises(TerminalChannelError) as terminal:
        adapter.fetch_bill("trade", DAY)
    assert not isinstance(terminal.value, BillNotReady | BillHashMismatch)
    forged = httpx.Response(200, json={"download_url": TOKEN_URL, "hash_type": "SHA1", "hash_value": "00"})
    adapter, _ = adapter_for(lambda request: forged)  # an unsigned announcement is not believed
    with pytest.raises(UnknownOutcomeError):
        adapter.fetch_bill("trade", DAY)
    adapter, _ = adapter_for(_gateway(hash_type="MD5"), base_url=BASE)
    with pytest.raises(UnknownOutcomeError):
        adapter.fetch_bill("trade", DAY)
    expired = reply(400, {"code": "INVALID_REQUEST", "message": "下载链接已失效"})
    adapter, _ = adapter_for(_gateway(download=expired), base_url=BASE)
    with pytest.raises(RetryableChannelError) as retry:  # the next application hands out a fresh link
        adapter.fetch_bill("trade", DAY)
    assert retry.value.channel_code == "INVALID_REQUEST"


def test_unknown_kind_makes_no_call() -> None:
    adapter, gateway = adapter_for(_gateway(), base_url=BASE)
    with pytest.raises(BillKindUnsupported):
        adapter.fetch_bill("monthly", DAY)
    assert gateway.requests == []
