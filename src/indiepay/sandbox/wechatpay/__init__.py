"""A protocol-faithful WeChat Pay API v3 gateway simulator (direct merchants), as a FastAPI sub-app.

Why it exists: the platform must be testable end to end — signatures, encryption, callbacks with the real
resend schedule, refunds, key rotation, failures — without a real merchant account. An independent
client of the real API works against it unchanged, given only its base URL (e.g.
``http://127.0.0.1:8000/sandbox/wechatpay``) and the credentials from provisioning. It keeps its own state
(memory or a SQLite file), never the platform's database, and shares only :mod:`indiepay.channels.wechatpay.signing`.

Real endpoints (request signature checked: 401 SIGN_ERROR; every response signed, 204s over an empty body):
``POST /v3/pay/transactions/{native,jsapi,h5}``, ``GET /v3/pay/transactions/out-trade-no/{no}?mchid=``,
``POST /v3/pay/transactions/out-trade-no/{no}/close``, ``POST /v3/refund/domestic/refunds``,
``GET /v3/refund/domestic/refunds/{out_refund_no}``, ``GET /v3/certificates``,
``GET /v3/bill/tradebill?bill_date=&bill_type=ALL|SUCCESS|REFUND&tar_type=GZIP`` and
``GET /v3/bill/fundflowbill?bill_date=&account_type=BASIC&tar_type=GZIP`` (→ ``download_url``, ``hash_type``
SHA1, ``hash_value`` of the uncompressed file; 400 ``NO_STATEMENT_EXIST`` while the day runs,
``STATEMENT_CREATING`` until 09:00 Beijing time the next morning), and the ``download_url`` itself,
``GET /v3/billdownload/file?token=`` (request signed, answer **not** signed, link valid 30 s). Bills are real
format (:mod:`indiepay.reconciliation.writers`), built from what the gateway saw, fee 0.6 % per row with
five decimals (:mod:`.bills`, :mod:`indiepay.sandbox.billing`). Sandbox notes: notify URLs may be
``http://`` (the real gateway demands https); refunds stay PROCESSING for 5 s / ``time_factor``.

Profit sharing (分账, :mod:`.profitsharing`), for orders opened with ``settle_info: {"profit_sharing": true}``:
``POST /v3/profitsharing/receivers/add`` (``name`` RSA-OAEP-encrypted under the gateway key that
``Wechatpay-Serial`` names) and ``…/receivers/delete``; ``POST /v3/profitsharing/orders`` and
``…/orders/unfreeze``, ``GET /v3/profitsharing/orders/{out_order_no}?transaction_id=``;
``POST /v3/profitsharing/return-orders``, ``GET …/return-orders/{out_return_no}?out_order_no=``;
``GET /v3/profitsharing/transactions/{transaction_id}/amounts``. At most 30 % of an order is shared; refunds
only take what was not shared away (403 NOT_ENOUGH until a return). Orders, unfreezes and returns stay
PROCESSING for 5 s / ``time_factor`` and then settle (or on the next request that reads them); a receiver
not declared through ``receivers/add`` ends CLOSED with ``NO_RELATION``. The sandbox sends no
profit-sharing callbacks.

Sandbox-only endpoints (unsigned, unauthenticated):

* ``POST /_provision`` ``{"key_mode": "public_key" | "platform_certificate", "name"?}`` → 201
  ``{"credentials": {mchid, appid, merchant_serial_no, merchant_private_key, apiv3_key
  [, wechatpay_public_key_id, wechatpay_public_key]}, "key_mode": ...[, "name"]}`` — the public-key fields
  only in public-key mode; in certificate mode fetch the platform certificate from ``GET /v3/certificates``.
  ``name`` is the merchant's legal name: adding this merchant as another's MERCHANT_ID profit-sharing
  receiver then requires it (400 INVALID_REQUEST "分账接收方全称不匹配"); without it any name is accepted.
* ``POST /_buyer/pay`` ``{"code_url"}`` | ``{"prepay_id"}`` | ``{"mchid", "out_trade_no"}`` (optional
  ``"openid"``) → 200 ``{mchid, out_trade_no, trade_state, transaction_id, success_time}`` and a
  TRANSACTION.SUCCESS callback; 404 ORDER_NOT_EXIST, 400 ORDERPAID / ORDER_CLOSED / ORDER_EXPIRED.
* ``GET /_buyer/h5?prepay_id=…`` — the page ``h5_url`` points at, with a "Pay" button
  (form ``POST /_buyer/h5/pay``).
* ``POST /_faults`` ``{"mchid", …knobs}`` (partial update) → the knob view; ``GET /_faults?mchid=``;
  ``DELETE /_faults?mchid=`` resets. Knobs:

  - ``drop_callbacks: int`` — drop the next N delivery attempts (each counts as a failed attempt, so the
    resend schedule kicks in);
  - ``duplicate_callbacks: bool`` — send every acknowledged callback a second time;
  - ``callback_delay_seconds: float`` — wait this long (not scaled) before the first attempt;
  - ``signtest_probe: bool`` — precede the next callback with a probe whose signature contains
    ``WECHATPAY/SIGNTEST/`` (one-shot);
  - ``fail_with_500: int`` — the next N API calls answer 500 SYSTEM_ERROR without doing anything;
  - ``hang_seconds: float`` — API calls do their work, then sleep this long before answering;
  - ``profitsharing_close_reason: str`` — while non-empty (e.g. ``"ACCOUNT_ABNORMAL"``), every receiver of
    profit-sharing orders that finish ends ``CLOSED`` with this ``fail_reason`` (its money stays unsplit;
    the merchant's own unfreeze line still succeeds); ``""`` turns it off;
  - ``rotate_platform_certificate: true`` (action) — add a new platform certificate (new serial) and sign
    responses and callback attempts with it from now on; the old one stays listed by ``/v3/certificates``
    (the overlap WeChat gives receivers to fetch the new one) until
  - ``retire_old_platform_certificates: true`` (action) — ends the overlap: only the active one is listed;
  - ``create_public_key: true`` (action) — the migration's first step: a WeChat Pay public key exists
    (requests naming its id get answers signed with it; the view shows it) but callbacks keep the
    platform certificate, so the receiver can add the key to its credentials before
  - ``switch_to_public_key: true`` (action) — create a WeChat Pay public key if there is none and sign
    with it from now on;
  - ``bill_fault: {"fault": "drop_row" | "change_amount" | "duplicate_row" | "shift_across_midnight" |
    "wrong_hash", "bill_date"?, "bill": "trade" | "fundflow", "out_trade_no"?, "out_refund_no"?,
    "amount_delta_fen"?, "direction": "next" | "previous"}`` — queue one bill corruption, used up by the
    next bill fetched that it matches (details in :mod:`indiepay.sandbox.billing`).

  The view returns ``faults`` (pending ``bill_faults`` included), ``bill_faults_applied``, ``key_mode``,
  ``signing_serial``, ``platform_certificate_serials`` and,
  when the merchant has one, ``wechatpay_public_key_id`` / ``wechatpay_public_key`` (to update the
  merchant's credentials after a switch).
* ``POST /_credentials/rotate`` ``{"mchid", "apiv3_key": true, "merchant_key": false}`` → 200
  ``{"mchid", "credentials": {changed fields}}`` — the merchant resets its APIv3 key (``apiv3_key``) and/or
  applies for a new API certificate (``merchant_key``: new ``merchant_serial_no`` + ``merchant_private_key``).
  Like the real gateway: the new APIv3 key encrypts everything built from now on, while callbacks already
  queued are resent with the body (ciphertext) built under the old key; the old API certificate keeps
  working for requests.
* ``GET|POST|DELETE /_clock`` — the gateway's business clock (:mod:`indiepay.sandbox.clock`): jump to
  ``{"now": RFC 3339[, "frozen": true]}`` or ``{"offset_seconds"}``. It stamps payment and refund times and
  decides which days' bills are published; signature windows and expiry stay on real time.
* ``GET /_orders/{mchid}/{out_trade_no}`` — the order record with its refunds (for tests).
* ``GET /_callbacks?mchid=`` — the delivery log (attempt, kind delivery/dropped/duplicate/signtest_probe,
  HTTP status); a dropped attempt also carries the signed ``headers`` and ``body`` it would have sent, so a
  test can replay a genuine callback or tamper with one.

Requests that name the merchant's public key id in a ``Wechatpay-Serial`` header are answered with the
public key even in certificate mode (as during the real migration). Pending callback resends do not
survive a restart; refunds and profit-sharing orders and returns still PROCESSING settle on the next query
after a restart.
"""

from indiepay.sandbox.wechatpay.app import create_wechatpay_sandbox
from indiepay.sandbox.wechatpay.config import WechatSandboxConfig

__all__ = ["WechatSandboxConfig", "create_wechatpay_sandbox"]
