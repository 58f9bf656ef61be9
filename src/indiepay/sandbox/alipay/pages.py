"""HTML of the simulated Alipay cashier (the page a page/wap pay redirect lands on).

Plain server-rendered HTML with one form, so a browser test, ``httpx`` or a human can pay: the page shows
the merchant, the subject and the amount, and its "Pay" button posts to ``_cashier/pay`` next to
``gateway.do``. Every value is escaped.
"""

from __future__ import annotations

from html import escape

from indiepay.core.money import fen_to_yuan
from indiepay.sandbox.alipay.store import App, Order
from indiepay.sandbox.pages import page


def _page(title: str, body: str) -> str:
    return page(title, body, accent="#1677ff")


def cashier_page(app: App, order: Order, action: str) -> str:
    """The cashier for an open trade: amount, subject and a Pay button."""
    amount = fen_to_yuan(order.total_fen)
    body = (f"<h1>支付宝收银台 (Sandbox)</h1>"
            f"<p class=\"muted\">商户 / Merchant: {escape(app.seller_id)}</p>"
            f"<p id=\"subject\">{escape(order.subject)}</p>"
            f"<div class=\"amount\" id=\"amount\">¥{escape(amount)}</div>"
            f"<p class=\"muted\">订单号 / Order: {escape(order.out_trade_no)}</p>"
            f"<form method=\"post\" action=\"{escape(action)}\">"
            f"<input type=\"hidden\" name=\"app_id\" value=\"{escape(app.app_id)}\">"
            f"<input type=\"hidden\" name=\"out_trade_no\" value=\"{escape(order.out_trade_no)}\">"
            f"<button type=\"submit\" id=\"pay\">Pay ¥{escape(amount)}</button></form>")
    return _page(f"支付宝 - ¥{amount}", body)


def paid_page(order: Order) -> str:
    """Shown after paying when the merchant gave no ``return_url``."""
    body = (f"<h1>支付成功 / Paid</h1><div class=\"amount\">¥{escape(fen_to_yuan(order.total_fen))}</div>"
            f"<p>{escape(order.subject)}</p><p class=\"muted\">{escape(order.trade_no)}</p>")
    return _page("支付成功", body)


def error_page(code: str, sub_code: str, sub_msg: str) -> str:
    """The gateway's error page for a page/wap pay request it refused."""
    body = (f"<h1>支付宝 - 错误 / Error</h1><p>错误代码 <code id=\"sub_code\">{escape(sub_code)}</code> "
            f"({escape(code)})</p><p>{escape(sub_msg)}</p>")
    return _page("支付宝 - 错误", body)
