"""HTML of the simulated UnionPay pages: the scan-to-pay page behind a ``qrCode``, the gateway cashier a
``frontTransReq.do`` form lands on, its error page, and the page that carries the front notification
back to the merchant's ``frontUrl``.

Plain server-rendered HTML with one form each, so a browser test, ``httpx`` or a human can pay. Every
value is escaped; in the auto-submitting form, line ends are written as character references so the
browser submits them exactly as signed (``signPubKeyCert`` uses CRLF, which form submission keeps).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from indiepay.core.money import fen_to_yuan
from indiepay.sandbox.pages import page
from indiepay.sandbox.unionpay.store import Txn


def _page(title: str, body: str) -> str:
    return page(title, body, accent="#d7000f")


def _attr(value: str) -> str:
    return escape(value, quote=True).replace("\r", "&#13;").replace("\n", "&#10;")


def _pay_form(txn: Txn, action: str) -> str:
    amount = fen_to_yuan(txn.txn_amt)
    return (f"<form method=\"post\" action=\"{_attr(action)}\">"
            f"<input type=\"hidden\" name=\"merId\" value=\"{_attr(txn.mer_id)}\">"
            f"<input type=\"hidden\" name=\"orderId\" value=\"{_attr(txn.order_id)}\">"
            f"<button type=\"submit\" id=\"pay\">Pay ¥{escape(amount)}</button></form>")


def _summary(txn: Txn) -> str:
    desc = f"<p id=\"orderDesc\">{escape(txn.order_desc)}</p>" if txn.order_desc else ""
    return (f"<p class=\"muted\">商户号 / Merchant: <span id=\"merId\">{escape(txn.mer_id)}</span></p>{desc}"
            f"<div class=\"amount\" id=\"amount\">¥{escape(fen_to_yuan(txn.txn_amt))}</div>"
            f"<p class=\"muted\">订单号 / Order: {escape(txn.order_id)}</p>")


def qr_page(txn: Txn, action: str) -> str:
    """What a phone shows after scanning a ``qrCode``: the order and a Pay button."""
    return _page(f"银联扫码支付 - ¥{fen_to_yuan(txn.txn_amt)}",
                 f"<h1>银联扫码支付 (Sandbox)</h1>{_summary(txn)}{_pay_form(txn, action)}")


def cashier_page(txn: Txn, action: str) -> str:
    """The gateway cashier of a front order."""
    return _page(f"银联在线支付 - ¥{fen_to_yuan(txn.txn_amt)}",
                 f"<h1>银联在线支付 (Sandbox)</h1>{_summary(txn)}{_pay_form(txn, action)}")


def error_page(resp_code: str, resp_msg: str) -> str:
    """The gateway's answer to a browser request it refused (or an order that cannot be paid)."""
    body = (f"<h1>银联在线支付 - 错误 / Error</h1><p>应答码 respCode <code id=\"respCode\">{escape(resp_code)}</code>"
            f"</p><p id=\"respMsg\">{escape(resp_msg)}</p>")
    return _page("银联在线支付 - 错误", body)


def paid_page(txn: Txn) -> str:
    """Shown after paying an order that has no ``frontUrl`` (a scanned QR code)."""
    body = (f"<h1>支付成功 / Paid</h1><div class=\"amount\">¥{escape(fen_to_yuan(txn.txn_amt))}</div>"
            f"<p class=\"muted\" id=\"queryId\">{escape(txn.query_id or '')}</p>")
    return _page("支付成功", body)


def front_notify_page(front_url: str, fields: Mapping[str, str]) -> str:
    """The page that posts the signed front notification to the merchant's ``frontUrl`` on load."""
    inputs = "".join(f"<input type=\"hidden\" name=\"{_attr(k)}\" value=\"{_attr(v)}\">" for k, v in fields.items())
    body = (f"<h1>支付成功 / Paid</h1><p>正在返回商户… / Returning to the merchant…</p>"
            f"<form id=\"front_notify\" method=\"post\" action=\"{_attr(front_url)}\" accept-charset=\"UTF-8\">"
            f"{inputs}<noscript><button type=\"submit\">返回商户 / Return</button></noscript></form>"
            f"<script>document.getElementById('front_notify').submit();</script>")
    return _page("支付成功", body)
