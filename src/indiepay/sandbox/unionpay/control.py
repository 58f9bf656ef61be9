"""Sandbox-only endpoints: merchant provisioning, buyer simulation, fault knobs, gateway certificate
rotation, inspection and the business clock.

None of these exist at the real gateway; they are unsigned and unauthenticated (the sandbox is a test
tool), speak JSON, and live under names starting with ``_`` so they can never collide with a real path.
Errors are ``{"error": "<code>"[, "message"]}``.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import asdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from indiepay.channels.unionpay import signing
from indiepay.sandbox.billing import BillFaultError
from indiepay.sandbox.clock import ClockError
from indiepay.sandbox.unionpay import certs
from indiepay.sandbox.unionpay.gateway import UnionpaySandbox
from indiepay.sandbox.unionpay.notifier import Notifier
from indiepay.sandbox.unionpay.store import PROCESSING, REFUND, Faults, Merchant, Txn
from indiepay.sandbox.unionpay.transactions import PayRefused, digits

_QR_TOKEN = re.compile(r"(?:^|/)(\d{24})/?$")


class FaultUpdate(BaseModel):
    """A partial update of one merchant's knobs (see the package docstring)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    mer_id: str
    drop_callbacks: int | None = Field(default=None, ge=0)
    duplicate_callbacks: bool | None = None
    callback_delay_seconds: float | None = Field(default=None, ge=0)
    fail_with_500: int | None = Field(default=None, ge=0)
    hang_seconds: float | None = Field(default=None, ge=0)
    refund_fail: bool | None = None
    foreign_signer: bool | None = None
    bill_fault: dict[str, Any] | None = None  # queued, not set: see indiepay.sandbox.billing


class ControlError(Exception):
    def __init__(self, status: int, error: str, message: str = "") -> None:
        super().__init__(message or error)
        self.status, self.error, self.message = status, error, message

    def response(self) -> JSONResponse:
        body = {"error": self.error, **({"message": self.message} if self.message else {})}
        return JSONResponse(body, status_code=self.status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ControlError(400, "invalid_request", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "invalid_request", "the body must be a JSON object")
    return data


def _txn_view(txn: Txn) -> dict[str, Any]:
    return asdict(txn)


def register_control(api: FastAPI, sandbox: UnionpaySandbox) -> None:
    store = sandbox.store

    def merchant_of(mer_id: object) -> Merchant:
        merchant = store.merchant(mer_id) if isinstance(mer_id, str) else None
        if merchant is None:
            raise ControlError(404, "merchant_not_found", "no such sandbox merId")
        return merchant

    def knob_view(mer_id: str) -> JSONResponse:
        return JSONResponse({"mer_id": mer_id, **asdict(store.faults(mer_id)),
                             "bill_faults_applied": sandbox.bills.applied(mer_id)})

    @api.post("/_provision", status_code=201)
    async def provision(request: Request) -> Response:
        await sandbox.ready()
        now = sandbox.clock.now()
        pki = sandbox.keys.pki(now)
        mer_id = "777" + digits(12)
        while store.merchant(mer_id) is not None:
            mer_id = "777" + digits(12)
        key, cert = await asyncio.to_thread(certs.new_merchant_cert, pki, mer_id, now)
        store.add_merchant(Merchant(mer_id=mer_id, cert_pem=signing.certificate_pem(cert),
                                    cert_id=signing.cert_id(cert), created_at=now.isoformat()))
        credentials = {"mer_id": mer_id, "sign_private_key": signing.private_key_pem(key),
                       "sign_cert": signing.certificate_pem(cert), "middle_cert": pki.middle_cert,
                       "root_cert": pki.root_cert}
        return JSONResponse({"credentials": credentials, "gateway_url": sandbox.base_url(request)}, status_code=201)

    @api.post("/_buyer/pay")
    async def buyer_pay(request: Request) -> Response:
        await sandbox.ready()
        try:
            data = await _json(request)
            qr_code, mer_id, order_id = data.get("qr_code"), data.get("mer_id"), data.get("order_id")
            if isinstance(qr_code, str) and qr_code:
                match = _QR_TOKEN.search(qr_code)
                found = store.txn_by_qr_token(match.group(1)) if match else None
                if found is None:
                    raise ControlError(404, "order_not_found")
                mer_id, order_id = found.mer_id, found.order_id
            elif not (isinstance(mer_id, str) and isinstance(order_id, str)):
                raise ControlError(400, "invalid_request", "give qr_code, or mer_id and order_id")
            try:
                txn, _ = sandbox.pay(mer_id, order_id)
            except PayRefused as refused:
                raise ControlError(404 if refused.reason == "order_not_found" else 409, refused.reason) from None
        except ControlError as err:
            return err.response()
        return JSONResponse({"mer_id": txn.mer_id, "order_id": txn.order_id, "query_id": txn.query_id,
                             "txn_amt": str(txn.txn_amt), "resp_code": "00"})

    @api.post("/_faults")
    async def set_faults(request: Request) -> Response:
        try:
            update = FaultUpdate.model_validate(await _json(request))
            merchant_of(update.mer_id)
            if update.bill_fault is not None:
                sandbox.bills.queue_fault(update.mer_id, update.bill_fault)
        except ValidationError as exc:
            return ControlError(400, "invalid_request", str(exc.errors(include_url=False))).response()
        except BillFaultError as exc:
            return ControlError(400, "invalid_request", str(exc)).response()
        except ControlError as err:
            return err.response()
        if update.foreign_signer:
            await sandbox.ready()
            now = sandbox.clock.now()
            changed = await asyncio.to_thread(certs.with_foreign_signer, sandbox.keys.pki(now), now)
            sandbox.keys.replace(changed)
        with store.lock:
            faults = store.faults(update.mer_id)
            for name, value in update.model_dump(exclude={"mer_id", "bill_fault"}, exclude_none=True).items():
                setattr(faults, name, value)
            store.save_faults(update.mer_id, faults)
        return knob_view(update.mer_id)

    @api.get("/_faults")
    async def get_faults(mer_id: str = "") -> Response:
        try:
            return knob_view(merchant_of(mer_id).mer_id)
        except ControlError as err:
            return err.response()

    @api.delete("/_faults")
    async def clear_faults(mer_id: str = "") -> Response:
        try:
            merchant_of(mer_id)
        except ControlError as err:
            return err.response()
        store.clear_faults(mer_id)
        sandbox.bills.forget(mer_id)
        return JSONResponse({"mer_id": mer_id, **asdict(Faults()), "bill_faults_applied": []})

    @api.post("/_gateway_cert/rotate")
    async def rotate_gateway_cert() -> Response:
        await sandbox.ready()
        now = sandbox.clock.now()
        sandbox.keys.replace(await asyncio.to_thread(certs.rotated, sandbox.keys.pki(now), now))
        signer = sandbox.keys.signer(now)
        return JSONResponse({"cert_id": signer.cert_id, "sign_pub_key_cert": signer.cert_pem})

    @api.get("/_orders/{mer_id}/{order_id}")
    async def order(mer_id: str, order_id: str) -> Response:
        await sandbox.ready()
        txn = store.txn(mer_id, order_id)
        if txn is None:
            return ControlError(404, "order_not_found").response()
        if txn.kind == REFUND:
            refunds: list[Txn] = []
            notifies = [n for n in store.notifies_for(mer_id, _group_of(sandbox, txn)) if n.order_id == order_id]
        else:
            refunds = store.refunds_of(mer_id, txn.query_id) if txn.query_id else []
            notifies = store.notifies_for(mer_id, order_id)
        refunds = [(sandbox.desk.settle(r.mer_id, r.order_id) or r) if r.status == PROCESSING else r for r in refunds]
        return JSONResponse({"order": _txn_view(txn), "refunds": [_txn_view(r) for r in refunds],
                             "notifies": Notifier.describe(notifies)})

    @api.get("/_clock")
    async def get_clock() -> Response:
        return JSONResponse(sandbox.clock.view())

    @api.post("/_clock")
    async def set_clock(request: Request) -> Response:
        try:
            sandbox.clock.update(await _json(request))
        except ControlError as err:
            return err.response()
        except ClockError as exc:
            return ControlError(400, "invalid_request", str(exc)).response()
        return JSONResponse(sandbox.clock.view())

    @api.delete("/_clock")
    async def reset_clock() -> Response:
        sandbox.clock.reset()
        return JSONResponse(sandbox.clock.view())


def _group_of(sandbox: UnionpaySandbox, refund: Txn) -> str:
    orig = sandbox.store.txn_by_query_id(refund.orig_qry_id or "")
    return orig.order_id if orig else refund.order_id
