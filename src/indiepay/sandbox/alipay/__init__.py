"""Alipay OpenAPI gateway simulator (sandbox), as a FastAPI sub-application.

Build it with ``create_alipay_sandbox(AlipaySandboxConfig(...))`` and mount it anywhere: the platform
mounts it at ``/sandbox/alipay``, the standalone ``indiepay sandbox`` server at ``/alipay``. The gateway
URL a client needs is ``<mount>/gateway.do``. It keeps its own state (memory, or a SQLite file given as
``state_path``) and talks to the platform only over HTTP, like the real gateway.

Real protocol (what an independent Alipay client uses unchanged)
    ``GET|POST <mount>/gateway.do`` — parameters in a POST form and/or the query string; ``format``
    optional (JSON). Requests are verified with the app's public key (bad → ``error_response`` 40002
    ``isv.invalid-signature``). Answers are ``{"<method_with_underscores>_response": {...}, "sign": "..."}``
    signed over the exact member text with the gateway's per-app key. Methods: ``alipay.trade.precreate``,
    ``alipay.trade.page.pay`` / ``alipay.trade.wap.pay`` (renders the cashier page; the trade exists once
    the page is opened), ``alipay.trade.query``, ``alipay.trade.close``, ``alipay.trade.refund``,
    ``alipay.trade.fastpay.refund.query``, ``alipay.data.dataservice.bill.downloadurl.query`` (the daily
    trade bill zip behind ``GET <mount>/downloadBillFile.resource?…&token=…``, unsigned, valid 30 s; not
    published → 40004 ``isp.bill_not_exist``; see :mod:`.bills` and :mod:`indiepay.sandbox.billing`),
    and profit sharing (:mod:`.royalty`): ``alipay.trade.royalty.relation.bind`` / ``.unbind``,
    ``alipay.trade.order.settle`` (sync, or async: PROCESSING for ``ROYALTY_SETTLE_SECONDS / time_factor``),
    ``alipay.trade.order.settle.query`` (unknown → 40004 ``ACQ.TRADE_SETTLE_NOT_EXIST``) and
    ``alipay.trade.order.onsettle.query``, for trades created with ``extend_params.royalty_freeze`` "true".
    Paid trades and refunds are announced by signed form notifies to the order's ``notify_url``, retried
    until the answer is exactly ``success`` on the real schedule (4m, 10m, 10m, 1h, 2h, 6h, 15h) divided
    by ``time_factor``.

Sandbox-only endpoints
    ``POST /_provision`` ``{}`` → 201 ``{"credentials": {"app_id", "seller_id", "app_private_key",
    "alipay_public_key"}, "gateway_url"}`` — a new app with fresh RSA-2048 keys (PEM).

    ``POST /_credentials/rotate`` ``{"app_id", "app_key": true, "alipay_key": true}`` → 200 ``{"app_id",
    "credentials": {changed fields}}`` — the merchant resets the app's key pair (new ``app_private_key``;
    the old app key stops verifying at once) and gets a new ``alipay_public_key``: answers and new notifies
    are signed with the new Alipay key, while notifies already signed are resent unchanged (old signature).

    ``POST /_buyer/pay`` ``{"qr_code": ...}`` or ``{"app_id", "out_trade_no"}`` (optional ``buyer_id``) —
    the buyer scans (the trade is created if needed) and pays; the notify follows. 200 ``{"app_id",
    "out_trade_no", "trade_no", "trade_status", "buyer_id", "total_amount"}``; 404 ``order_not_found``;
    409 with Alipay's sub code (``ACQ.TRADE_HAS_SUCCESS``, ``ACQ.TRADE_HAS_CLOSE``) when paid, closed or
    expired.

    ``POST /_faults`` ``{"app_id", "drop_callbacks": int, "duplicate_callbacks": bool,
    "callback_delay_seconds": float, "fail_with_500": int, "hang_seconds": float, "bill_fault": {…},
    "royalty_fail_error_code": str}`` —
    partial update of the app's knobs: drop the next N notify attempts (each counts as a failed attempt),
    send every notify twice at once, delay each new notify's first attempt, answer the next N gateway calls
    with HTTP 500 (not executed), sleep before answering every gateway call (then execute it); queue one
    bill corruption (``drop_row`` | ``change_amount`` | ``duplicate_row`` | ``shift_across_midnight``,
    used up by the next bill fetched that it matches — fields in :mod:`indiepay.sandbox.billing`); while
    ``royalty_fail_error_code`` is non-empty (e.g. ``TXN_RESULT_ACCOUNT_STATUS_NOT_VALID``), every transfer
    detail of new settles ends ``FAIL`` with it and moves no money (``""`` switches it off).
    ``GET /_faults?app_id=`` reads them (with ``bill_faults_applied``), ``DELETE /_faults?app_id=`` resets.

    ``GET|POST|DELETE /_clock`` — the gateway's business clock (:mod:`indiepay.sandbox.clock`): the times
    trades and refunds record, and which days' bills are published (a day's bill exists from 09:00 Beijing
    time the next morning, ``AlipaySandboxConfig.bill_publish_after``).

    ``GET /_orders/{app_id}/{out_trade_no}`` → ``{"order", "refunds", "notifies"}`` (with each notify's
    attempt log), for tests.

    ``POST /_cashier/pay`` — the cashier page's Pay button (form ``app_id``, ``out_trade_no``): pays, then
    303 to ``return_url`` with the signed sync-return parameters.
"""

from indiepay.sandbox.alipay.app import create_alipay_sandbox
from indiepay.sandbox.alipay.config import AlipaySandboxConfig

__all__ = ["AlipaySandboxConfig", "create_alipay_sandbox"]
