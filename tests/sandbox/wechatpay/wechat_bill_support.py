"""A WeChat Pay sandbox of its own (its business clock is moved by the bill tests) on a loopback port,
with helpers to pay, refund, move the clock and read bills back through the real adapter."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from starlette.responses import Response
from tests.support.servers import serve_in_thread

from indiepay.channels.base import ChannelMethod, PrepayRequest, RefundRequest, RefundState
from indiepay.channels.wechatpay import WechatPayAdapter, build_adapter
from indiepay.core.clock import SystemClock
from indiepay.reconciliation.parsers.normalised import NormalisedRow, normalise
from indiepay.reconciliation.parsers.wechat_trade import WechatTradeRow, read_wechat_trade_bill
from indiepay.sandbox.wechatpay import WechatSandboxConfig, create_wechatpay_sandbox

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2024, 5, 1)


def beijing(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SH)


@dataclass
class BillSandbox:
    base_url: str
    notify_url: str
    http: httpx.Client

    def merchant(self) -> tuple[str, WechatPayAdapter]:
        response = self.http.post(f"{self.base_url}/_provision", json={"key_mode": "public_key"})
        assert response.status_code == 201, response.text
        credentials = response.json()["credentials"]
        return credentials["mchid"], build_adapter(credentials, self.base_url, self.http, SystemClock())

    def clock(self, at: datetime, *, frozen: bool = True) -> None:
        response = self.http.post(f"{self.base_url}/_clock", json={"now": at.isoformat(), "frozen": frozen})
        assert response.status_code == 200, response.text

    def pay(self, adapter: WechatPayAdapter, amount: int, out_trade_no: str | None = None) -> str:
        out_trade_no = out_trade_no or f"B{secrets.token_hex(8)}"
        result = adapter.prepay(PrepayRequest(
            method=ChannelMethod.WECHAT_NATIVE, out_trade_no=out_trade_no, amount=amount, currency="CNY",
            description="账单测试商品", notify_url=self.notify_url,
            expires_at=datetime.now(UTC) + timedelta(minutes=30)))
        paid = self.http.post(f"{self.base_url}/_buyer/pay", json={"code_url": result.code_url})
        assert paid.status_code == 200, paid.text
        return out_trade_no

    def refund(self, adapter: WechatPayAdapter, out_trade_no: str, amount: int, total: int) -> str:
        out_refund_no = f"R{secrets.token_hex(8)}"
        adapter.refund(RefundRequest(out_trade_no=out_trade_no, out_refund_no=out_refund_no, refund_amount=amount,
                                     total_amount=total, currency="CNY", reason=None, notify_url=self.notify_url))
        deadline = time.monotonic() + 5
        while adapter.query_refund(out_trade_no, out_refund_no).state is not RefundState.SUCCEEDED:
            assert time.monotonic() < deadline, "refund did not settle"
            time.sleep(0.02)
        return out_refund_no

    def bill_fault(self, mchid: str, **fault: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.base_url}/_faults", json={"mchid": mchid, "bill_fault": fault})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def trade_rows(adapter: WechatPayAdapter, day: date = DAY) -> list[WechatTradeRow]:
    """Fetch and parse the trade bill (the parser checks the rows against the bill's own summary)."""
    rows, _ = read_wechat_trade_bill(adapter.fetch_bill("trade", day).content)
    return rows


def neutral(rows: list[WechatTradeRow]) -> Counter[NormalisedRow]:
    """Rows as channel-neutral tuples without their line numbers, as a multiset."""
    return Counter(normalise(row)._replace(line_no=0) for row in rows)


@pytest.fixture(scope="module")
def bills() -> Iterator[BillSandbox]:
    parent = FastAPI()
    parent.mount("/sandbox/wechatpay", create_wechatpay_sandbox(WechatSandboxConfig(time_factor=1000)))

    @parent.post("/notify")
    async def notify() -> Response:
        return Response(status_code=204)

    with serve_in_thread(parent) as url, httpx.Client(timeout=10) as http:
        yield BillSandbox(base_url=f"{url}/sandbox/wechatpay", notify_url=f"{url}/notify", http=http)
