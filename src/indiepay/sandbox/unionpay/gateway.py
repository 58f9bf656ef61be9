"""State and behaviour of one UnionPay sandbox instance: the real endpoints (``backTransReq.do``,
``queryTrans.do``, ``frontTransReq.do``, the file host's ``fileTransfer``), the buyer's pages, payment, and
the background work.

Handlers are ``async`` so that notify delivery and refund settlement can be started from inside them:
Starlette runs no lifespan events for mounted apps, so the first request of a process generates (or loads)
the gateway's certificate chain off the event loop and resumes whatever a previous process left undone.
"""

from __future__ import annotations

import asyncio
import logging

from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from indiepay.channels.unionpay import signing
from indiepay.sandbox.background import start_task
from indiepay.sandbox.clock import SandboxClock
from indiepay.sandbox.unionpay import pages, protocol
from indiepay.sandbox.unionpay.bills import BillDesk
from indiepay.sandbox.unionpay.certs import KeyRing, Signer, certificate
from indiepay.sandbox.unionpay.config import UnionpaySandboxConfig
from indiepay.sandbox.unionpay.notifier import Notifier
from indiepay.sandbox.unionpay.protocol import GatewayError, answer_body, answer_fields, check_request, parse_form
from indiepay.sandbox.unionpay.store import PAID, PROCESSING, Merchant, SandboxStore, Txn
from indiepay.sandbox.unionpay.transactions import PayRefused, TxnDesk

logger = logging.getLogger(__name__)

ANSWER_CONTENT_TYPE = "text/plain;charset=UTF-8"
_PAY_REFUSALS = {"order_not_found": (404, protocol.NOT_FOUND), "already_paid": (409, protocol.DUPLICATE),
                 "expired": (409, protocol.FAILED)}


class UnionpaySandbox:
    """Everything the routes of one sandbox instance share."""

    def __init__(self, config: UnionpaySandboxConfig) -> None:
        self.config = config
        self.store = SandboxStore(config.state_path)
        self.clock = SandboxClock()
        self.keys = KeyRing(self.store)
        self.notifier = Notifier(self.store, self.keys, self.clock, config.time_factor, config.callbacks_to)
        self.desk = TxnDesk(self.store, self.clock, config.time_factor, self._refund_succeeded)
        self.bills = BillDesk(self.store, config, self.clock, self.desk)
        self._tasks: set[asyncio.Task[None]] = set()
        self._resumed = False

    # -- plumbing ----------------------------------------------------------------------------------------

    def base_url(self, request: Request) -> str:
        """The sandbox's own URL including its mount point (``request.base_url`` omits the mount)."""
        if self.config.public_base_url:
            return self.config.public_base_url.rstrip("/")
        url = request.url
        return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}".rstrip("/")

    async def ready(self) -> None:
        """Have the certificate chain at hand (generated off the loop the first time) and resume the
        notifies and refund settlements a previous process left behind."""
        if not self.keys.ready:
            await asyncio.to_thread(self.keys.pki, self.clock.now())
        if not self._resumed:
            self._resumed = True
            self.notifier.resume()
            for refund in self.store.processing_refunds():
                self.schedule_settle(refund)

    def schedule_settle(self, refund: Txn) -> None:
        start_task(self._tasks, self._settle_later(refund.mer_id, refund.order_id),
                   what=f"unionpay refund {refund.mer_id}/{refund.order_id}")

    async def _settle_later(self, mer_id: str, order_id: str) -> None:
        """End the refund once due. Waits again if woken early (a loop timer may fire a little before the
        wall-clock due time, and a refund left processing here would only end on the next query)."""
        while True:
            refund = self.store.txn(mer_id, order_id)
            if refund is None or refund.status != PROCESSING:
                return
            wait = self.desk.seconds_until_due(refund)
            if wait <= 0:
                self.desk.settle(mer_id, order_id)
                return
            await asyncio.sleep(wait)

    def _refund_succeeded(self, refund: Txn) -> None:
        orig = self.store.txn_by_query_id(refund.orig_qry_id or "")
        self.notifier.send(refund, orig.order_id if orig else refund.order_id)

    def signer(self, mer_id: str) -> Signer:
        """Who signs this merchant's answers now: the gateway, or the impostor under ``foreign_signer``."""
        foreign = bool(mer_id) and self.store.faults(mer_id).foreign_signer
        return self.keys.signer(self.clock.now(), foreign=foreign)

    def answer(self, fields: dict[str, str]) -> Response:
        body = answer_body(fields, self.signer(fields.get("merId", "")))
        return Response(body, media_type=ANSWER_CONTENT_TYPE)

    @staticmethod
    def authenticate(fields: dict[str, str], merchant: Merchant | None) -> None:
        """31 for an unknown merchant; 11 when ``certId`` is not the merchant's certificate or the
        signature does not verify with it."""
        if merchant is None:
            raise GatewayError(protocol.MERCHANT, f"merId {fields['merId']}")
        if fields["certId"] != merchant.cert_id:
            raise GatewayError(protocol.SIGNATURE, f"certId {fields['certId']} is not {merchant.cert_id}")
        public = certificate(merchant.cert_pem).public_key()
        if not isinstance(public, rsa.RSAPublicKey) or not signing.verify(public, fields):
            raise GatewayError(protocol.SIGNATURE, "signature does not verify")

    async def _faults_first(self, merchant: Merchant | None) -> Response | None:
        """The ``hang_seconds`` and ``fail_with_500`` knobs, applied before a call is executed."""
        if merchant is None:
            return None
        hang = self.store.faults(merchant.mer_id).hang_seconds
        if hang > 0:
            await asyncio.sleep(hang)
        if self.store.take_fault(merchant.mer_id, "fail_with_500"):
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        return None

    async def _read(self, request: Request) -> tuple[dict[str, str], Merchant | None]:
        fields = parse_form(await request.body(), request.headers.get("content-type"))
        return fields, self.store.merchant(fields.get("merId", ""))

    # -- real endpoints ----------------------------------------------------------------------------------

    async def server_call(self, request: Request, endpoint: str) -> Response:
        """``backTransReq.do`` (``endpoint`` back), ``queryTrans.do`` (query) and the file host's
        ``fileTransfer`` (file): a signed k=v answer."""
        await self.ready()
        try:
            fields, merchant = await self._read(request)
        except GatewayError as err:
            logger.info("unionpay sandbox refused a request: %s", err)
            return self.answer(answer_fields({}, err.resp_code))
        if (fault := await self._faults_first(merchant)) is not None:
            return fault
        try:
            spec = check_request(fields, endpoint)
            self.authenticate(fields, merchant)
            if spec.name == "qr":
                result = self.desk.create_qr(fields, self.base_url(request))
            elif spec.name == "refund":
                fail = self.store.faults(fields["merId"]).refund_fail
                result, refund = self.desk.refund(fields, fail)
                if refund is not None:
                    self.schedule_settle(refund)
            elif spec.name == "file":
                result = self.bills.file_transfer(fields)
            else:
                result = self.desk.query(fields)
        except GatewayError as err:
            logger.info("unionpay sandbox refused a request: %s", err)
            result = answer_fields(fields, err.resp_code)
        return self.answer(result)

    async def front_call(self, request: Request) -> Response:
        """``frontTransReq.do``: the browser's form lands on the cashier page, or on an error page (400)."""
        await self.ready()
        try:
            fields, merchant = await self._read(request)
            if (fault := await self._faults_first(merchant)) is not None:
                return fault
            check_request(fields, protocol.FRONT)
            self.authenticate(fields, merchant)
            txn = self.desk.open_front(fields)
        except GatewayError as err:
            logger.info("unionpay sandbox refused a front request: %s", err)
            return HTMLResponse(pages.error_page(err.resp_code, protocol.resp_msg(err.resp_code)), status_code=400)
        return HTMLResponse(pages.cashier_page(txn, self.base_url(request) + "/_cashier/pay"))

    # -- the buyer ---------------------------------------------------------------------------------------

    def pay(self, mer_id: str, order_id: str) -> tuple[Txn, dict[str, str]]:
        """The buyer pays: mark the order paid and send its notify. Returns the order and the signed
        notification fields (the front notification carries the same). Raises PayRefused."""
        txn = self.desk.pay(mer_id, order_id)
        form = self.notifier.signed(txn)
        self.notifier.send(txn, txn.order_id, form)
        return txn, form

    async def cashier_pay(self, request: Request) -> Response:
        """The Pay button of the QR and cashier pages (form ``merId``, ``orderId``)."""
        await self.ready()
        form = await request.form()
        try:
            txn, signed = self.pay(str(form.get("merId", "")), str(form.get("orderId", "")))
        except PayRefused as refused:
            status, code = _PAY_REFUSALS[refused.reason]
            return HTMLResponse(pages.error_page(code, f"{protocol.resp_msg(code)} {refused.reason}"),
                                status_code=status)
        if txn.front_url:
            return HTMLResponse(pages.front_notify_page(txn.front_url, signed))
        return HTMLResponse(pages.paid_page(txn))

    async def qr_page(self, request: Request, token: str) -> Response:
        """What the ``qrCode`` link shows on the buyer's phone."""
        await self.ready()
        txn = self.store.txn_by_qr_token(token)
        if txn is None:
            code = protocol.NOT_FOUND
            return HTMLResponse(pages.error_page(code, protocol.resp_msg(code)), status_code=404)
        if txn.status == PAID:
            return HTMLResponse(pages.paid_page(txn))
        if self.desk.expired(txn):
            code = protocol.FAILED
            return HTMLResponse(pages.error_page(code, f"{protocol.resp_msg(code)} expired"), status_code=409)
        return HTMLResponse(pages.qr_page(txn, self.base_url(request) + "/_cashier/pay"))
