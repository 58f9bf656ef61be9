"""Helpers for the UnionPay sandbox tests: a live loopback server with the sandbox mounted under
/sandbox/unionpay next to a merchant-side notify receiver, and a tiny acp 5.1.0 form client written here
(signs with the provisioned key, trusts answers only through ``check_chain`` + ``verify``) — independent of
the platform's UnionPay client, which is written against the same wire rules."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from starlette.responses import Response
from tests.support.servers import serve_in_thread

from indiepay.channels.unionpay import signing
from indiepay.core.clock import BUSINESS_TZ
from indiepay.sandbox.unionpay import UnionpaySandboxConfig, create_unionpay_sandbox

MOUNT = "/sandbox/unionpay"
BACK = "/gateway/api/backTransReq.do"
QUERY = "/gateway/api/queryTrans.do"
FRONT = "/gateway/api/frontTransReq.do"


def beijing(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).astimezone(BUSINESS_TZ).strftime("%Y%m%d%H%M%S")


def new_order_id() -> str:
    return "T" + secrets.token_hex(10)


def trust(fields: dict[str, str], middle: x509.Certificate, root: x509.Certificate) -> x509.Certificate:
    """Accept signed fields the way a correct client does: the carried certificate must chain to the
    installed root and name UnionPay, and its key must verify the signature. Raises on failure."""
    cert = signing.load_certificate(fields["signPubKeyCert"])
    signing.check_chain(cert, middle, root, datetime.now(UTC))
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    if not signing.verify(public, fields):
        raise AssertionError("signature does not verify")
    return cert


@dataclass
class Receiver:
    """The merchants' ``backUrl``: records every notify, whether it verified, and can refuse (HTTP 500)."""

    chains: dict[str, tuple[x509.Certificate, x509.Certificate]] = field(default_factory=dict)
    received: dict[str, list[tuple[dict[str, str], bool]]] = field(default_factory=dict)
    refuse: dict[str, int] = field(default_factory=dict)  # mer_id -> sends still to answer with 500
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, mer_id: str, body: bytes) -> Response:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        middle, root = self.chains[mer_id]
        try:
            trust(form, middle, root)
            ok = True
        except (signing.CertificateRejected, AssertionError, ValueError):
            ok = False
        with self.lock:
            self.received.setdefault(mer_id, []).append((form, ok))
            refusing = self.refuse.get(mer_id, 0)
            if refusing > 0:
                self.refuse[mer_id] = refusing - 1
                return Response("busy", status_code=500)
        return Response("ok" if ok else "bad signature", status_code=200 if ok else 400)

    def notifies(self, mer_id: str) -> list[tuple[dict[str, str], bool]]:
        with self.lock:
            return list(self.received.get(mer_id, []))


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@dataclass
class Merchant:
    """One provisioned sandbox merchant and a minimal form client for it."""

    sandbox: Sandbox
    credentials: dict[str, str]
    gateway_url: str
    key: rsa.RSAPrivateKey = field(init=False)
    cert: x509.Certificate = field(init=False)
    middle: x509.Certificate = field(init=False)
    root: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.key = signing.load_private_key(self.credentials["sign_private_key"])
        self.cert = signing.load_certificate(self.credentials["sign_cert"])
        self.middle = signing.load_certificate(self.credentials["middle_cert"])
        self.root = signing.load_certificate(self.credentials["root_cert"])

    @property
    def mer_id(self) -> str:
        return self.credentials["mer_id"]

    @property
    def back_url(self) -> str:
        return f"{self.sandbox.url}/receiver/{self.mer_id}"

    def fields(self, txn_type: str, sub_type: str, biz_type: str, **extra: str) -> dict[str, str]:
        base = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "certId": signing.cert_id(self.cert),
                "txnType": txn_type, "txnSubType": sub_type, "bizType": biz_type, "accessType": "0",
                "merId": self.mer_id, "txnTime": beijing()}
        base.update(extra)
        return base

    def qr_fields(self, order_id: str, amount: int = 100, **extra: str) -> dict[str, str]:
        return self.fields("01", "07", "000000", channelType="08", orderId=order_id, txnAmt=str(amount),
                           currencyCode="156", backUrl=self.back_url, **extra)

    def refund_fields(self, order_id: str, orig_qry_id: str, amount: int, **extra: str) -> dict[str, str]:
        return self.fields("04", "00", "000000", channelType="08", orderId=order_id, origQryId=orig_qry_id,
                           txnAmt=str(amount), backUrl=self.back_url, **extra)

    def sign(self, fields: dict[str, str]) -> dict[str, str]:
        return {**fields, "signature": signing.sign(self.key, fields)}

    def post(self, path: str, fields: dict[str, str], *, sign: bool = True, timeout: float | None = None
             ) -> httpx.Response:
        data = self.sign(fields) if sign else fields
        return self.sandbox.http.post(self.gateway_url + path, data=data,
                                      timeout=timeout if timeout is not None else 10.0)

    def call(self, path: str, fields: dict[str, str], *, sign: bool = True) -> dict[str, str]:
        """POST and return the answer's fields after checking them as a correct client does."""
        reply = self.post(path, fields, sign=sign)
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"] == "text/plain;charset=UTF-8"
        answer = signing.parse_response(reply.text)
        trust(answer, self.middle, self.root)
        return answer

    def qr_order(self, order_id: str | None = None, amount: int = 100, **extra: str) -> dict[str, str]:
        fields = self.qr_fields(order_id or new_order_id(), amount, **extra)
        answer = self.call(BACK, fields)
        assert answer["respCode"] == "00", answer
        return {**fields, **{"qrCode": answer["qrCode"]}}

    def paid_order(self, amount: int = 100) -> tuple[dict[str, str], str]:
        """A QR order the buyer paid: (its request fields, its queryId)."""
        order = self.qr_order(amount=amount)
        paid = self.sandbox.http.post(self.sandbox.base + "/_buyer/pay", json={"qr_code": order["qrCode"]})
        assert paid.status_code == 200, paid.text
        return order, str(paid.json()["query_id"])

    def query(self, order_id: str, txn_time: str) -> dict[str, str]:
        return self.call(QUERY, self.fields("00", "00", "000000", orderId=order_id, txnTime=txn_time))

    def faults(self, **knobs: Any) -> dict[str, Any]:
        reply = self.sandbox.http.post(self.sandbox.base + "/_faults", json={"mer_id": self.mer_id, **knobs})
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    def inspect(self, order_id: str) -> dict[str, Any]:
        reply = self.sandbox.http.get(f"{self.sandbox.base}/_orders/{self.mer_id}/{order_id}")
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    def notifies(self, count: int = 1, timeout: float = 5.0) -> list[tuple[dict[str, str], bool]]:
        """Wait until the receiver has ``count`` notifies of this merchant; return them all."""
        found: list[tuple[dict[str, str], bool]] = wait_for(
            lambda: (got := self.sandbox.receiver.notifies(self.mer_id)) and len(got) >= count and got, timeout)
        return found


@dataclass
class Sandbox:
    url: str
    base: str
    receiver: Receiver
    http: httpx.Client

    def provision(self) -> Merchant:
        reply = self.http.post(self.base + "/_provision", json={})
        assert reply.status_code == 201, reply.text
        body = reply.json()
        merchant = Merchant(self, body["credentials"], body["gateway_url"])
        self.receiver.chains[merchant.mer_id] = (merchant.middle, merchant.root)
        return merchant


def parent_app(config: UnionpaySandboxConfig, receiver: Receiver) -> FastAPI:
    """The platform-like parent: the sandbox under /sandbox/unionpay and the merchants' notify receiver."""
    parent = FastAPI()
    parent.mount(MOUNT, create_unionpay_sandbox(config))

    @parent.post("/receiver/{mer_id}")
    async def receive(mer_id: str, request: Request) -> Response:
        return receiver.handle(mer_id, await request.body())

    return parent


@contextmanager
def running_sandbox(config: UnionpaySandboxConfig, receiver: Receiver | None = None,
                    port: int | None = None) -> Iterator[Sandbox]:
    """The sandbox and a receiver on a loopback port (a fixed ``port`` lets a restarted sandbox keep its URLs)."""
    receiver = receiver or Receiver()
    with serve_in_thread(parent_app(config, receiver), port=port) as url, httpx.Client(timeout=10) as http:
        yield Sandbox(url=url, base=url + MOUNT, receiver=receiver, http=http)


class FormParser(HTMLParser):
    """Collects each form of a page: its action and its named inputs (values unescaped as a browser does)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((named.get("action", ""), {}))
        elif tag == "input" and self.forms and "name" in named:
            self.forms[-1][1][named["name"]] = named.get("value", "")


def forms_of(page: str) -> list[tuple[str, dict[str, str]]]:
    parser = FormParser()
    parser.feed(page)
    return parser.forms


def later(seconds: float) -> str:
    return beijing(datetime.now(UTC) + timedelta(seconds=seconds))
