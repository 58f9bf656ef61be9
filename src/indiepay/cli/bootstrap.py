"""What ``indiepay serve`` prints once the server answers: URLs, the admin key (first start only) and
the demo merchant's keys. The demo merchant is created through the public API, like any other."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from indiepay.config import Settings

DEMO_FILE = "demo-merchant.json"


def wait_until_healthy(base_url: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def ensure_demo_merchant(settings: Settings, base_url: str, admin_key: str) -> dict[str, Any]:
    """Create (once) a demo merchant with sandbox WeChat Pay and Alipay accounts; its keys are kept in a
    0600 file under the var directory so they can be shown again on the next start (development only)."""
    path = Path(settings.var_dir) / DEMO_FILE
    if path.exists():
        stored: dict[str, Any] = json.loads(path.read_text())
        probe = httpx.get(f"{base_url}/v1/merchants/{stored['merchant_id']}",
                          headers={"Authorization": f"Bearer {stored['test_key']}"}, timeout=10)
        if probe.status_code == 200:
            return stored
    admin = {"Authorization": f"Bearer {admin_key}"}
    merchant = httpx.post(f"{base_url}/v1/merchants", headers=admin, timeout=30, json={
        "name": "Demo Tea House Ltd.", "short_name": "Demo Tea 演示茶馆", "subject_type": "enterprise"}).json()
    test_key = merchant["api_keys"]["test"]
    merchant_auth = {"Authorization": f"Bearer {test_key}"}
    accounts = {}
    for channel in ("wechatpay", "alipay", "unionpay", "bank_transfer"):
        created = httpx.post(f"{base_url}/v1/channel_accounts", headers=merchant_auth, timeout=60,
                             json={"channel": channel, "sandbox": True}).json()
        accounts[channel] = created["id"]
    stored = {"merchant_id": merchant["id"], "test_key": test_key, "live_key": merchant["api_keys"]["live"],
              "accounts": accounts}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(stored, handle, indent=2)
    return stored


def announce(settings: Settings, generated_admin_key: str | None, demo_merchant: bool) -> None:
    base_url = settings.base_url
    if not wait_until_healthy(base_url):
        print(f"IndiePay did not become healthy at {base_url}", flush=True)
        return
    lines = ["", "IndiePay is running.",
             f"  API            {base_url}/v1   (OpenAPI docs: {base_url}/docs)",
             f"  Dashboard      {base_url}/dashboard   (sign in with an API key: a merchant's, or the admin key)",
             f"  Checkout       {base_url}/pay/<payment_id>",
             f"  Sandbox        {settings.sandbox_base_url}/wechatpay,  "
             f"{settings.sandbox_base_url}/alipay/gateway.do,  {settings.sandbox_base_url}/unionpay  and the "
             f"sandbox bank {settings.sandbox_base_url}/bank",
             f"  Health         {base_url}/health"]
    admin_key = settings.admin_key or generated_admin_key
    if generated_admin_key:
        lines.append(f"  Admin key      {generated_admin_key}   (generated now and shown once: keep it)")
    elif settings.admin_key:
        lines.append("  Admin key      from INDIEPAY_ADMIN_KEY")
    if demo_merchant:
        if admin_key is None and (Path(settings.var_dir) / DEMO_FILE).exists():
            stored = json.loads((Path(settings.var_dir) / DEMO_FILE).read_text())
        elif admin_key is not None:
            stored = ensure_demo_merchant(settings, base_url, admin_key)
        else:
            stored = None
        if stored:
            lines += [f"  Demo merchant  {stored['merchant_id']}",
                      f"  Demo test key  {stored['test_key']}",
                      "  Demo accounts  " + " ".join(f"{channel}={account_id}"
                                                     for channel, account_id in stored["accounts"].items())]
        else:
            lines.append("  Demo merchant  not created: set INDIEPAY_ADMIN_KEY (the generated key was shown once)")
    print("\n".join(lines) + "\n", flush=True)
