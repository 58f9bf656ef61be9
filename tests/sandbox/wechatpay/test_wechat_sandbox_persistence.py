"""With a state file, provisioned merchants and their orders survive a sandbox restart."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from tests.support.servers import serve_in_thread
from wechat_sandbox_support import prepay_request

from indiepay.channels.base import TradeState
from indiepay.channels.wechatpay import build_adapter
from indiepay.core.clock import SystemClock
from indiepay.sandbox.wechatpay import WechatSandboxConfig, create_wechatpay_sandbox


def _server(path: Path) -> FastAPI:
    parent = FastAPI()
    parent.mount("/wechatpay", create_wechatpay_sandbox(WechatSandboxConfig(state_path=str(path), time_factor=1000)))
    return parent


def test_state_survives_restart(tmp_path: Path) -> None:
    state = tmp_path / "wechat.sqlite3"
    with httpx.Client(timeout=10) as http:
        with serve_in_thread(_server(state)) as url:
            credentials = http.post(f"{url}/wechatpay/_provision", json={"key_mode": "platform_certificate"}).json()[
                "credentials"]
            adapter = build_adapter(credentials, f"{url}/wechatpay", http, SystemClock())
            adapter.prepay(prepay_request("PERSIST0001", "http://127.0.0.1:9/notify"))
        with serve_in_thread(_server(state)) as url:
            adapter = build_adapter(credentials, f"{url}/wechatpay", http, SystemClock())
            assert adapter.query_payment("PERSIST0001").state is TradeState.PENDING
            paid = http.post(f"{url}/wechatpay/_buyer/pay",
                             json={"mchid": credentials["mchid"], "out_trade_no": "PERSIST0001"})
            assert paid.status_code == 200
            assert adapter.query_payment("PERSIST0001").state is TradeState.SUCCEEDED
