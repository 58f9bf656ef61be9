"""A merchant-side test client for the sandbox's profit-sharing endpoints, written from the wire format alone:
raw signed v3 requests (so a test controls every header and field), and every answer's signature verified
with the gateway key its ``Wechatpay-Serial`` names before the test looks at it.

Also a sandbox of its own whose settlement delay is long (500 s), with a ``advance`` fixture that moves the
wall clock settlement runs on, so a test sees PROCESSING for as long as it likes and then FINISHED.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI
from tests.support.servers import serve_in_thread

from indiepay.channels.wechatpay import signing
from indiepay.sandbox.wechatpay import WechatSandboxConfig, create_wechatpay_sandbox, profitsharing_amounts

BEIJING = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


def expect_error(response: httpx.Response, status: int, code: str, message: str | None = None) -> None:
    """The gateway's error answer: HTTP status, ``code`` and, when given, the exact ``message``."""
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text
    if message is not None:
        assert response.json()["message"] == message

NOTIFY = "http://127.0.0.1:9/notify"
SLOW_TIME_FACTOR = 0.01  # 5 s / 0.01: nothing settles by itself while a test runs


def oaep_encrypt(key: rsa.RSAPublicKey, text: str) -> str:
    sealed = key.encrypt(text.encode(), padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(),
                                                     label=None))
    return base64.b64encode(sealed).decode()


def no(prefix: str = "P") -> str:
    return f"{prefix}{secrets.token_hex(8)}"


@dataclass
class Shop:
    """One provisioned sandbox merchant talking raw v3."""

    http: httpx.Client
    base_url: str
    credentials: dict[str, str]
    key_mode: str
    platform_keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)

    @property
    def mchid(self) -> str:
        return self.credentials["mchid"]

    @property
    def appid(self) -> str:
        return self.credentials["appid"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, *,
             query: dict[str, str] | None = None, serial: str | None = None) -> httpx.Response:
        """Send one signed request; assert the answer is signed by the gateway, and return it."""
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else b""
        request = self.http.build_request(method, self.base_url + path, params=query, content=content,
                                          headers={"Content-Type": "application/json", "Accept": "application/json"})
        if serial:
            request.headers["Wechatpay-Serial"] = serial
        sign_path = request.url.raw_path.decode()[len(httpx.URL(self.base_url).raw_path.decode().rstrip("/")):]
        timestamp, nonce = str(int(time.time())), signing.new_nonce()
        message = signing.request_message(method, sign_path, timestamp, nonce, content)
        key = signing.load_private_key(self.credentials["merchant_private_key"])
        request.headers["Authorization"] = signing.authorization_header(
            self.mchid, self.credentials["merchant_serial_no"], nonce, timestamp, signing.sign(key, message))
        response = self.http.send(request)
        self.verify(response)
        return response

    def verify(self, response: httpx.Response) -> None:
        headers = response.headers
        serial = headers["wechatpay-serial"]
        if serial not in self.platform_keys:
            self.refresh_keys()
        message = signing.response_message(headers["wechatpay-timestamp"], headers["wechatpay-nonce"],
                                           response.content)
        assert signing.verify(self.platform_keys[serial], message, headers["wechatpay-signature"]), response.text

    def refresh_keys(self) -> None:
        """The gateway's keys as a merchant learns them: the public key from provisioning / the knob view,
        platform certificates from ``GET /v3/certificates`` (decrypted with the APIv3 key)."""
        view = self.http.get(f"{self.base_url}/_faults", params={"mchid": self.mchid}).json()
        if view.get("wechatpay_public_key_id"):
            self.platform_keys[view["wechatpay_public_key_id"]] = signing.load_public_key(view["wechatpay_public_key"])
        if view["platform_certificate_serials"]:
            self.platform_keys.update(self._certificates())

    def _certificates(self) -> dict[str, rsa.RSAPublicKey]:
        content = b""
        request = self.http.build_request("GET", f"{self.base_url}/v3/certificates")
        timestamp, nonce = str(int(time.time())), signing.new_nonce()
        message = signing.request_message("GET", "/v3/certificates", timestamp, nonce, content)
        key = signing.load_private_key(self.credentials["merchant_private_key"])
        request.headers["Authorization"] = signing.authorization_header(
            self.mchid, self.credentials["merchant_serial_no"], nonce, timestamp, signing.sign(key, message))
        response = self.http.send(request)
        found: dict[str, rsa.RSAPublicKey] = {}
        for item in response.json()["data"]:
            sealed = item["encrypt_certificate"]
            pem = signing.aead_decrypt(self.credentials["apiv3_key"].encode(), sealed["nonce"],
                                       sealed["associated_data"], sealed["ciphertext"])
            cert_key = x509.load_pem_x509_certificate(pem).public_key()
            assert isinstance(cert_key, rsa.RSAPublicKey)
            found[item["serial_no"]] = cert_key
        serial = response.headers["wechatpay-serial"]
        signer = found.get(serial) or self.platform_keys[serial]
        message = signing.response_message(response.headers["wechatpay-timestamp"],
                                           response.headers["wechatpay-nonce"], response.content)
        assert signing.verify(signer, message, response.headers["wechatpay-signature"])
        return found

    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        """The gateway key a merchant encrypts names with: its public key, or the newest certificate."""
        self.refresh_keys()
        public_id = self.credentials.get("wechatpay_public_key_id")
        if public_id:
            return public_id, self.platform_keys[public_id]
        view = self.http.get(f"{self.base_url}/_faults", params={"mchid": self.mchid}).json()
        serial = view["platform_certificate_serials"][-1]
        return serial, self.platform_keys[serial]

    def encrypt(self, text: str) -> tuple[str, str]:
        serial, key = self.encryption_key()
        return serial, oaep_encrypt(key, text)

    # -- the calls the tests make -------------------------------------------------------------------

    def prepay(self, total: int, settle_info: Any = None, out_trade_no: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"appid": self.appid, "mchid": self.mchid, "description": "分账测试商品",
                                "out_trade_no": out_trade_no or no("T"), "notify_url": NOTIFY,
                                "amount": {"total": total, "currency": "CNY"}}
        if settle_info is not None:
            body["settle_info"] = settle_info
        return self.call("POST", "/v3/pay/transactions/native", body)

    def pay(self, total: int = 1000, profit_sharing: bool = True) -> str:
        """A paid order (opened for profit sharing unless told otherwise); its transaction_id."""
        out_trade_no = no("T")
        prepaid = self.prepay(total, {"profit_sharing": True} if profit_sharing else None, out_trade_no)
        assert prepaid.status_code == 200, prepaid.text
        paid = self.http.post(f"{self.base_url}/_buyer/pay", json={"mchid": self.mchid, "out_trade_no": out_trade_no})
        assert paid.status_code == 200, paid.text
        transaction_id: str = paid.json()["transaction_id"]
        return transaction_id

    def add_receiver(self, kind: str, account: str, *, name: str | None = None, relation: str = "PARTNER",
                     **extra: Any) -> httpx.Response:
        body: dict[str, Any] = {"appid": self.appid, "type": kind, "account": account, "relation_type": relation,
                                **extra}
        serial = None
        if name is not None:
            serial, body["name"] = self.encrypt(name)
        return self.call("POST", "/v3/profitsharing/receivers/add", body, serial=serial)

    def share(self, transaction_id: str, out_order_no: str, receivers: list[tuple[str, str, int]],
              unfreeze: bool = False) -> httpx.Response:
        """``receivers``: (type, account, amount)."""
        lines = [{"type": kind, "account": account, "amount": amount, "description": "分给合作方"}
                 for kind, account, amount in receivers]
        return self.call("POST", "/v3/profitsharing/orders", {
            "appid": self.appid, "transaction_id": transaction_id, "out_order_no": out_order_no,
            "receivers": lines, "unfreeze_unsplit": unfreeze})

    def query(self, transaction_id: str, out_order_no: str) -> httpx.Response:
        path = f"/v3/profitsharing/orders/{quote(out_order_no, safe='')}"  # `|*@` percent-encoded, as clients do
        return self.call("GET", path, query={"transaction_id": transaction_id})

    def unfreeze(self, transaction_id: str, out_order_no: str) -> httpx.Response:
        return self.call("POST", "/v3/profitsharing/orders/unfreeze", {
            "transaction_id": transaction_id, "out_order_no": out_order_no, "description": "解冻全部剩余资金"})

    def give_back(self, out_order_no: str, out_return_no: str, return_mchid: str, amount: int,
                  **extra: Any) -> httpx.Response:
        return self.call("POST", "/v3/profitsharing/return-orders", {
            "out_order_no": out_order_no, "out_return_no": out_return_no, "return_mchid": return_mchid,
            "amount": amount, "description": "用户退款", **extra})

    def unsplit(self, transaction_id: str) -> int:
        response = self.call("GET", f"/v3/profitsharing/transactions/{transaction_id}/amounts")
        assert response.status_code == 200, response.text
        assert response.json()["transaction_id"] == transaction_id
        amount: int = response.json()["unsplit_amount"]
        return amount

    def refund(self, transaction_id: str, amount: int, total: int) -> httpx.Response:
        return self.call("POST", "/v3/refund/domestic/refunds", {
            "transaction_id": transaction_id, "out_refund_no": no("R"),
            "amount": {"refund": amount, "total": total, "currency": "CNY"}})

    def faults(self, **knobs: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.base_url}/_faults", json={"mchid": self.mchid, **knobs})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


def provision(http: httpx.Client, base_url: str, key_mode: str = "public_key", name: str | None = None) -> Shop:
    body: dict[str, Any] = {"key_mode": key_mode}
    if name is not None:
        body["name"] = name
    response = http.post(f"{base_url}/_provision", json=body)
    assert response.status_code == 201, response.text
    return Shop(http=http, base_url=base_url, credentials=response.json()["credentials"], key_mode=key_mode)


@dataclass
class SharingSandbox:
    """A sandbox whose profit-sharing settlement waits 500 s unless the test advances the wall clock."""

    base_url: str
    http: httpx.Client

    def shop(self, key_mode: str = "public_key", name: str | None = None) -> Shop:
        return provision(self.http, self.base_url, key_mode, name)


@pytest.fixture(scope="session")
def sharing() -> Iterator[SharingSandbox]:
    parent = FastAPI()
    parent.mount("/wechatpay", create_wechatpay_sandbox(WechatSandboxConfig(time_factor=SLOW_TIME_FACTOR)))
    with serve_in_thread(parent) as url, httpx.Client(timeout=10) as http:
        yield SharingSandbox(base_url=f"{url}/wechatpay", http=http)


@pytest.fixture
def advance(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """``advance()`` moves the settlement wall clock past every delay now running (by 501 s); what is
    created afterwards waits its own full delay again."""
    shift = [timedelta(0)]
    monkeypatch.setattr(profitsharing_amounts, "wall_clock", lambda: datetime.now(UTC) + shift[0])

    def step() -> None:
        shift[0] += timedelta(seconds=5 / SLOW_TIME_FACTOR + 1)

    return step
