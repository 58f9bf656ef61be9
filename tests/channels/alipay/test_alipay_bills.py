"""Alipay bill fetching against a scripted gateway: the verified URL query, the unsigned download."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime

import httpx
import pytest
from tests.channels.alipay.alipay_fakes import GATEWAY, FakeGateway, Keys

from indiepay.channels.alipay import build_adapter
from indiepay.channels.alipay.adapter import AlipayAdapter
from indiepay.channels.base import (
    BillKindUnsupported,
    BillNotReady,
    RetryableChannelError,
    TerminalChannelError,
    UnknownOutcomeError,
)
from indiepay.core.clock import FixedClock

DAY = date(2024, 5, 1)
URL = "https://dwbillcenter.alipay.test/downloadBillFile.resource?bizType=trade&token=t1"
METHOD = "alipay.data.dataservice.bill.downloadurl.query"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("20880000000000010156_20240501_业务明细.csv", "#支付宝业务明细查询\n".encode("gbk"))
    return buffer.getvalue()


ZIP = _zip()


def _adapter(keys: Keys, gateway: FakeGateway,
             download: Callable[[httpx.Request], httpx.Response]) -> tuple[AlipayAdapter, list[httpx.Request]]:
    downloads: list[httpx.Request] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            downloads.append(request)
            return download(request)
        return gateway(request)

    http = httpx.Client(transport=httpx.MockTransport(route))
    clock = FixedClock(datetime(2025, 3, 1, 4, 0, 0, tzinfo=UTC))
    return build_adapter(keys.credentials(), GATEWAY, http, clock), downloads


def _ok(body: dict[str, str] | None = None) -> dict[str, str]:
    return {"code": "10000", "msg": "Success", **(body or {"bill_download_url": URL})}


def test_queries_the_url_then_downloads_the_zip_unsigned(keys: Keys, gateway: FakeGateway) -> None:
    gateway.reply(_ok())
    adapter, downloads = _adapter(keys, gateway, lambda request: httpx.Response(200, content=ZIP))
    bill = adapter.fetch_bill("trade", DAY)
    assert (bill.channel, bill.kind, bill.bill_date, bill.content) == ("alipay", "trade", DAY, ZIP)
    assert bill.sha1 == hashlib.sha1(ZIP).hexdigest()
    (query,) = gateway.requests
    assert query["method"] == METHOD
    assert json.loads(query["biz_content"]) == {"bill_type": "trade", "bill_date": "2024-05-01"}
    assert str(downloads[0].url) == URL and "authorization" not in downloads[0].headers


def test_not_ready_is_retryable(keys: Keys, gateway: FakeGateway) -> None:
    gateway.reply({"code": "40004", "msg": "Business Failed", "sub_code": "isp.bill_not_exist",
                   "sub_msg": "账单不存在"})
    adapter, downloads = _adapter(keys, gateway, lambda request: httpx.Response(500))
    with pytest.raises(BillNotReady) as not_ready:
        adapter.fetch_bill("trade", DAY)
    assert not_ready.value.channel_code == "isp.bill_not_exist" and downloads == []


def test_answers_that_cannot_be_trusted_or_used(keys: Keys, gateway: FakeGateway) -> None:
    gateway.reply(_ok(), sign=False)
    gateway.reply({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-parameter",
                   "sub_msg": "bill_date"})
    gateway.reply(_ok({"bill_download_url": ""}))
    adapter, _ = _adapter(keys, gateway, lambda request: httpx.Response(200, content=ZIP))
    with pytest.raises(UnknownOutcomeError):
        adapter.fetch_bill("trade", DAY)
    with pytest.raises(TerminalChannelError):
        adapter.fetch_bill("trade", DAY)
    with pytest.raises(UnknownOutcomeError):  # success without a URL
        adapter.fetch_bill("trade", DAY)


@pytest.mark.parametrize("download", [
    lambda request: httpx.Response(404, text="链接已失效"),
    lambda request: httpx.Response(200, text="<html>expired</html>"),
])
def test_a_failed_download_is_retryable(keys: Keys, gateway: FakeGateway,
                                        download: Callable[[httpx.Request], httpx.Response]) -> None:
    gateway.reply(_ok())
    adapter, _ = _adapter(keys, gateway, download)
    with pytest.raises(RetryableChannelError):
        adapter.fetch_bill("trade", DAY)


def test_fundflow_is_not_an_alipay_bill(keys: Keys, gateway: FakeGateway) -> None:
    adapter, downloads = _adapter(keys, gateway, lambda request: httpx.Response(200, content=ZIP))
    with pytest.raises(BillKindUnsupported) as unsupported:
        adapter.fetch_bill("fundflow", DAY)
    assert unsupported.value.code == "bill_kind_unsupported"
    assert gateway.requests == [] and downloads == []
