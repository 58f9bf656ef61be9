"""UnionPay online payments (全渠道, acp 5.1.0) gateway simulator (sandbox), as a FastAPI sub-application.

Build it with ``create_unionpay_sandbox(UnionpaySandboxConfig(...))`` and mount it anywhere: the platform
mounts it at ``/sandbox/unionpay``, the standalone ``indiepay sandbox`` server at ``/unionpay``. The mount
plays the host ``https://gateway.95516.com``: the paths below it are the real ones, and
``<mount>/filedownload/`` plays the file host ``https://filedownload.95516.com/``. It keeps its own state
(memory, or a SQLite file given as ``state_path``) and talks to the platform only over HTTP, sharing only
:mod:`indiepay.channels.unionpay.signing` and the reconciliation file format with it.

Real protocol (what an independent acp 5.1.0 client uses unchanged)
    ``POST <mount>/gateway/api/backTransReq.do`` (QR order ``txnType=01 txnSubType=07 bizType=000000
    channelType=08``; refund ``04/00``), ``POST <mount>/gateway/api/queryTrans.do`` (``00/00``, by the
    original's ``orderId`` + ``txnTime``) and ``POST <mount>/gateway/api/frontTransReq.do`` (the browser's form,
    ``01/01 bizType=000201``). Requests are URL-encoded UTF-8 forms signed by the merchant (``signMethod=01``:
    SHA256withRSA over the hex SHA-256 of the sorted ``k=v`` string, key named by ``certId``, the decimal serial
    of the merchant's certificate). Back and query calls answer HTTP 200 ``text/plain;charset=UTF-8`` ``k=v&…``
    (not URL-encoded), always signed by the gateway, with ``signPubKeyCert`` (CRLF PEM) naming the signing
    certificate, which chains to the sandbox root through its intermediate and has UnionPay's CN. ``respCode``:
    00 成功, 01 交易失败, 05 受理中, 10 报文格式错误, 11 验证签名失败, 12 重复交易, 13 要素缺失,
    31 商户状态不正确, 33 金额超限, 34 查无此交易, 35 原交易不存在或状态不正确, 98 文件不存在; ``respMsg`` is
    the text plus ``[<7 digits>]``. Rules: :mod:`.protocol` (the checks), :mod:`.transactions` (orders, query,
    refunds: processing for ``REFUND_SETTLE_SECONDS / time_factor``). A QR order answers ``qrCode`` =
    ``<public base>/qr/<24 digits>``, a page with a Pay button; a front request renders the cashier (or a 400
    error page with respCode/respMsg), and paying there answers a page that posts the signed front notification
    to ``frontUrl``. Paid orders and succeeded refunds are announced by a signed
    form POST to ``backUrl``, accepted on HTTP 200 within 10 s, otherwise resent after 1, 2, 4, 5 minutes (five
    sends), divided by ``time_factor`` (:mod:`.notifier`).

    ``POST <mount>/filedownload/`` (or without the slash): ``fileTransfer``, ``76/01 bizType=000000
    fileType=00 settleDate=MMdd`` and no ``orderId``, signed and answered like the back calls. ``settleDate``
    names the most recent such clearing day (23:00 to 23:00 Beijing time) not after the current one; its
    file exists from ``bill_publish_after`` (09:00) the next morning, before that ``98``. ``00`` carries
    ``fileName`` ``<merId>_<yyyyMMdd>.zip`` and ``fileContent``, base64 of the zlib-deflated zip in the
    real ZM layout: paid orders at their ``traceTime``, succeeded refunds at acceptance, the fee
    (``fee_rate``, 0.6 %) charged and returned pro rata (:mod:`.bills`).

Sandbox-only endpoints (JSON, unauthenticated; errors ``{"error": code[, "message"]}``)
    ``POST /_provision`` ``{}`` → 201 ``{"credentials": {"mer_id", "sign_private_key", "sign_cert",
    "middle_cert", "root_cert"}, "gateway_url"}`` — a merchant (``777`` + 12 digits) with a fresh RSA-2048
    key (PKCS#8 PEM) and certificate, plus the gateway's intermediate and root to trust; ``gateway_url`` is
    the public base of the mount.

    ``POST /_buyer/pay`` ``{"qr_code"}`` or ``{"mer_id", "order_id"}`` → 200 ``{"mer_id", "order_id",
    "query_id", "txn_amt", "resp_code": "00"}`` and the notify follows; 404 ``order_not_found`` (a front
    order exists once its cashier page was opened); 409 ``already_paid`` | ``expired`` (past ``payTimeout``).

    ``POST /_cashier/pay`` (form ``merId``, ``orderId``) — the pages' Pay button: pays, then shows the
    auto-posting front notification page (front orders) or a paid page (QR). ``GET /qr/{token}`` — the page.

    ``POST /_faults`` ``{"mer_id", "drop_callbacks": int, "duplicate_callbacks": bool, "callback_delay_seconds":
    float, "fail_with_500": int, "hang_seconds": float, "refund_fail": bool, "foreign_signer": bool,
    "bill_fault": {…}}`` — partial update: drop the next N notify sends (each counts as a send), send every
    notify twice at once, delay each new notify's first send (not scaled), answer the next N gateway calls HTTP
    500 without executing them, sleep before executing every gateway call, make new refunds end failed (query
    ``origRespCode`` 01, no notify, money stays with the order), sign answers and new notifies with a key whose
    certificate has UnionPay's CN but chains to a foreign root; queue one reconciliation-file corruption
    (``drop_row`` | ``change_amount`` | ``duplicate_row`` | ``shift_across_midnight`` — across the 23:00
    clearing boundary, in the gateway's record — used up by the next file fetched that it matches; fields in
    :mod:`indiepay.sandbox.billing`, ``bill_date`` naming the clearing day; a bad knob is 400).
    ``GET /_faults?mer_id=`` reads them (queued ``bill_faults`` and ``bill_faults_applied``),
    ``DELETE /_faults?mer_id=`` resets.

    ``POST /_gateway_cert/rotate`` → 200 ``{"cert_id", "sign_pub_key_cert"}`` — a new gateway signing key
    and certificate under the same intermediate; answers and new notifies use it at once.

    ``GET /_orders/{mer_id}/{order_id}`` → ``{"order", "refunds", "notifies"}``, for tests: each notify
    with ``kind``, ``order_id``, ``url``, ``attempts``, ``delivered``, ``log`` (one line per send) and
    ``fields`` (the signed form as sent, to replay or tamper with).

    ``GET|POST|DELETE /_clock`` — the gateway's business clock (:mod:`indiepay.sandbox.clock`): the times
    orders and refunds record (``traceTime``, ``settleDate``, ``queryId``) and which reconciliation files
    are published. ``payTimeout`` and the resend and refund delays stay on real time.
"""

from indiepay.sandbox.unionpay.app import create_unionpay_sandbox
from indiepay.sandbox.unionpay.config import UnionpaySandboxConfig

__all__ = ["UnionpaySandboxConfig", "create_unionpay_sandbox"]
