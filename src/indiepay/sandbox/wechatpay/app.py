"""Builds the WeChat Pay sandbox gateway as a FastAPI sub-application.

The app is designed to be *mounted* (``/sandbox/wechatpay`` in the platform server, ``/wechatpay`` in the
standalone sandbox): request signatures are checked against the path below the mount point, and
background work (callback delivery, refund settlement) is started lazily from request handlers because
Starlette does not run lifespan events for mounted apps.
"""

from __future__ import annotations

from fastapi import FastAPI

from indiepay.sandbox.wechatpay.config import WechatSandboxConfig
from indiepay.sandbox.wechatpay.routes_bills import register_bills
from indiepay.sandbox.wechatpay.routes_control import register_control
from indiepay.sandbox.wechatpay.routes_profitsharing import register_profitsharing
from indiepay.sandbox.wechatpay.routes_v3 import register_v3
from indiepay.sandbox.wechatpay.state import SandboxState
from indiepay.sandbox.wechatpay.store import SandboxStore


def create_wechatpay_sandbox(config: WechatSandboxConfig | None = None) -> FastAPI:
    """A fresh sandbox gateway with its own state (memory, or the SQLite file ``config.state_path``)."""
    config = config or WechatSandboxConfig()
    state = SandboxState(config=config, store=SandboxStore(config.state_path))
    app = FastAPI(title="WeChat Pay v3 sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state
    register_v3(app, state)
    register_profitsharing(app, state)
    register_bills(app, state)
    register_control(app, state)
    return app
