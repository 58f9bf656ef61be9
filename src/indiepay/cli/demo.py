"""``indiepay demo``: the whole story on every channel (WeChat Pay, Alipay, UnionPay), against a fresh
platform on a temporary SQLite database with the built-in sandbox gateways — merchant → accounts → payment
→ buyer pays → callback → webhook → partial refund → final state. Every step goes over real loopback HTTP
and is printed."""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from indiepay.cli.localserver import free_port, serve_in_thread
from indiepay.config import Settings
from indiepay.db.migrate import upgrade
from indiepay.webhooks.signing import SIGNATURE_HEADER, WebhookSignatureError, verify

Echo = Callable[[str], None]
FLOWS = (("wechatpay", "wechat_native", "code_url"), ("alipay", "alipay_qr", "qr_code"),
         ("unionpay", "unionpay_qr", "qr_code"))


class WebhookInbox:
    """A merchant's webhook receiver: verifies each delivery's signature and keeps the events."""

    def __init__(self) -> None:
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.post("/hooks")(self.receive)

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        try:
            verify(self.secret, request.headers.get(SIGNATURE_HEADER), body, int(time.time()))
        except WebhookSignatureError:
            with self._lock:
                self.rejected += 1
            return Response(status_code=400)
        import json

        with self._lock:
            self.events.append(json.loads(body))
        return Response(status_code=204)

    def wait_for(self, event_type: str, object_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for event in self.events:
                    if event["type"] == event_type and event["data"]["object"]["id"] == object_id:
                        return event
            time.sleep(0.05)
        raise TimeoutError(f"no {event_type} webhook for {object_id}")


def wait_for_status(client: httpx.Client, path: str, wanted: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(path).json()
        if body.get("status") == wanted:
            return body
        time.sleep(0.05)
    raise TimeoutError(f"{path} did not reach {wanted}")


def demo_settings(workdir: Path, port: int) -> Settings:
    return Settings(database_url=f"sqlite:///{workdir / 'demo.db'}", var_dir=workdir, port=port,
                    admin_key="sk_admin_" + secrets.token_urlsafe(24), master_key=secrets.token_urlsafe(32),
                    sandbox_time_factor=100.0, worker_poll_seconds=0.1, sandbox_state_path=None)


def run_demo(echo: Echo) -> int:
    """Run the demo; returns the process exit code (0 when every step held)."""
    from indiepay.app import create_app

    with tempfile.TemporaryDirectory(prefix="indiepay-demo-") as tmp:
        workdir = Path(tmp)
        settings = demo_settings(workdir, free_port())
        upgrade(settings.database_url)
        inbox = WebhookInbox()
        with serve_in_thread(create_app(settings), port=settings.port) as base_url, \
                serve_in_thread(inbox.app) as hooks_url:
            echo(f"platform on {base_url}, sandbox gateways on {settings.sandbox_base_url}")
            return _story(echo, base_url, settings, inbox, hooks_url)


def _story(echo: Echo, base_url: str, settings: Settings, inbox: WebhookInbox, hooks_url: str) -> int:
    admin = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {settings.admin_key}"}, timeout=60)
    merchant = admin.post("/v1/merchants", json={"name": "Demo Tea House Ltd.", "short_name": "Demo Tea",
                                                 "subject_type": "enterprise"}).json()
    echo(f"1. merchant {merchant['id']} ({merchant['short_name']}), test key {merchant['api_keys']['test'][:12]}…")
    api = httpx.Client(base_url=base_url, timeout=60,
                       headers={"Authorization": f"Bearer {merchant['api_keys']['test']}"})
    endpoint = api.put("/v1/webhook_endpoint", json={"url": f"{hooks_url}/hooks"}).json()
    inbox.secret = endpoint["secret"]
    echo(f"2. webhook endpoint {endpoint['url']}")
    for channel, method, code_field in FLOWS:
        account = api.post("/v1/channel_accounts", json={"channel": channel, "sandbox": True}).json()
        echo(f"3. [{channel}] sandbox account {account['id']} provisioned "
             f"(credentials shown only as fingerprints: {sorted(account['credentials'])})")
        payment = api.post("/v1/payments", headers={"Idempotency-Key": secrets.token_hex(8)}, json={
            "amount": 8800, "currency": "CNY", "out_trade_no": f"DEMO{secrets.token_hex(6)}",
            "description": "Oolong tea 乌龙茶", "method": method}).json()
        code = payment["action"]["code_url"]
        echo(f"4. [{channel}] payment {payment['id']} ¥88.00 pending; QR {code}; checkout {payment['checkout_url']}")
        paid = httpx.post(f"{settings.sandbox_base_url}/{channel}/_buyer/pay", json={code_field: code}, timeout=30)
        echo(f"5. [{channel}] sandbox buyer paid (gateway answered {paid.status_code}); callback on its way")
        done = wait_for_status(api, f"/v1/payments/{payment['id']}", "succeeded")
        echo(f"6. [{channel}] callback verified: payment {done['status']}, channel trade no {done['channel_trade_no']}")
        event = inbox.wait_for("payment.succeeded", payment["id"])
        echo(f"7. [{channel}] merchant webhook {event['id']} payment.succeeded received, signature verified")
        refund = api.post("/v1/refunds", headers={"Idempotency-Key": secrets.token_hex(8)},
                          json={"payment_id": payment["id"], "amount": 3000, "reason": "one item returned"}).json()
        echo(f"8. [{channel}] partial refund {refund['id']} ¥30.00 {refund['status']} ({refund['out_refund_no']})")
        settled = wait_for_status(api, f"/v1/refunds/{refund['id']}", "succeeded")
        inbox.wait_for("refund.succeeded", refund["id"])
        final = api.get(f"/v1/payments/{payment['id']}").json()
        echo(f"9. [{channel}] refund {settled['status']}; webhook refund.succeeded received; final payment: "
             f"status={final['status']} amount={final['amount']} refunded={final['refunded_amount']}")
        if final["refunded_amount"] != 3000 or final["status"] != "succeeded":
            echo(f"   [{channel}] unexpected final state")
            return 1
    if not _bank_transfer_story(echo, api, settings, inbox):
        return 1
    echo(f"demo finished: {len(inbox.events)} webhooks delivered, {inbox.rejected} rejected")
    return 0


def _bank_transfer_story(echo: Echo, api: httpx.Client, settings: Settings, inbox: WebhookInbox) -> bool:
    """Bank transfer: the buyer's bank sends the money with the reference, the merchant's statement pays the
    payment, and a refund is the merchant's own transfer back, recorded and confirmed."""
    bank = f"{settings.sandbox_base_url}/bank"
    account = api.post("/v1/channel_accounts", json={"channel": "bank_transfer", "sandbox": True}).json()
    echo(f"3. [bank_transfer] receiving account {account['id']} (sandbox bank details made up)")
    payment = api.post("/v1/payments", headers={"Idempotency-Key": secrets.token_hex(8)}, json={
        "amount": 52000, "currency": "CNY", "out_trade_no": f"DEMO{secrets.token_hex(6)}",
        "description": "Tea set 茶具", "method": "bank_transfer"}).json()
    action = payment["action"]
    echo(f"4. [bank_transfer] payment {payment['id']} ¥520.00 pending: transfer to {action['bank_name']} "
         f"{action['account_number']} with memo {action['reference']}")
    sent = httpx.post(f"{bank}/_buyer/transfer", timeout=30, json={
        "account_number": action["account_number"], "amount": 52000, "memo": f"茶具 {action['reference']}"}).json()
    echo(f"5. [bank_transfer] the buyer's bank sent it ({sent['bank_txn_id']})")
    statement = httpx.get(f"{bank}/statement", params={"account_number": action["account_number"]}, timeout=30)
    report = api.post("/v1/bank_transfers/statements", params={"account_id": account["id"]},
                      content=statement.content, headers={"Content-Type": "text/csv"}).json()
    echo(f"6. [bank_transfer] statement imported: {report['credits']} credit(s), {report['matched']} matched")
    inbox.wait_for("payment.succeeded", payment["id"])
    echo("7. [bank_transfer] merchant webhook payment.succeeded received, signature verified")
    refund = api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 12000,
                                           "reason": "one cup broken"}).json()
    echo(f"8. [bank_transfer] refund {refund['id']} ¥120.00 {refund['status']}: the merchant transfers it back")
    api.post(f"/v1/refunds/{refund['id']}/confirm_transfer", json={"bank_txn_id": "DEMO-OUT-1"})
    inbox.wait_for("refund.succeeded", refund["id"])
    final = api.get(f"/v1/payments/{payment['id']}").json()
    echo(f"9. [bank_transfer] refund confirmed; webhook refund.succeeded received; final payment: "
         f"status={final['status']} amount={final['amount']} refunded={final['refunded_amount']}")
    return bool(final["status"] == "succeeded" and final["refunded_amount"] == 12000)
