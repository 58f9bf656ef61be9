"""The combined sandbox application: WeChat Pay under ``/wechatpay``, Alipay under ``/alipay``, UnionPay under
``/unionpay``, and a bank for bank transfers under ``/bank``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from indiepay.sandbox.alipay import AlipaySandboxConfig, create_alipay_sandbox
from indiepay.sandbox.bank import BankSandboxConfig, create_bank_sandbox
from indiepay.sandbox.unionpay import UnionpaySandboxConfig, create_unionpay_sandbox
from indiepay.sandbox.wechatpay import WechatSandboxConfig, create_wechatpay_sandbox


def create_sandbox_app(*, state_dir: Path | None, time_factor: float = 1.0, callbacks_to: str | None = None) -> FastAPI:
    """Build the gateways; ``state_dir`` None keeps their state in memory (tests). ``callbacks_to``: mounted
    inside the platform, its notify address — the only address the gateways then call back."""
    app = FastAPI(title="IndiePay sandbox gateways", docs_url=None, redoc_url=None, openapi_url=None)
    wechat_state = str(state_dir / "sandbox-wechatpay.db") if state_dir else None
    alipay_state = str(state_dir / "sandbox-alipay.db") if state_dir else None
    unionpay_state = str(state_dir / "sandbox-unionpay.db") if state_dir else None
    bank_state = str(state_dir / "sandbox-bank.db") if state_dir else None
    if state_dir:
        state_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/wechatpay", create_wechatpay_sandbox(
        WechatSandboxConfig(state_path=wechat_state, time_factor=time_factor, callbacks_to=callbacks_to)))
    app.mount("/alipay", create_alipay_sandbox(
        AlipaySandboxConfig(state_path=alipay_state, time_factor=time_factor, callbacks_to=callbacks_to)))
    app.mount("/unionpay", create_unionpay_sandbox(
        UnionpaySandboxConfig(state_path=unionpay_state, time_factor=time_factor, callbacks_to=callbacks_to)))
    app.mount("/bank", create_bank_sandbox(BankSandboxConfig(state_path=bank_state)))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
