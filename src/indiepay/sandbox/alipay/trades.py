"""Trade rules of the simulated Alipay gateway: what each ``alipay.trade.*`` method does to the state.

The rules follow the real gateway where clients can observe them: a precreated QR is not a trade
until it is scanned (query/close → ``ACQ.TRADE_NOT_EXIST``), re-precreating the same ``out_trade_no``
with the same amount returns the same ``qr_code`` while a different amount is ``ACQ.CONTEXT_INCONSISTENT``,
``out_request_no`` makes refunds idempotent (a repeat answers ``fund_change`` ``N``), refunds may not
exceed what is left, partial refunds keep ``TRADE_SUCCESS`` and the last one closes the trade. A trade
created with ``extend_params.royalty_freeze`` "true" can be shared (:mod:`.royalty`); what its settles gave
to receivers is no longer the seller's to refund (``ACQ.SELLER_BALANCE_NOT_ENOUGH``).
Methods return the response body (without ``code``/``msg``) or raise :class:`GatewayError`.
The times a trade records (creation, payment, refund) come from the gateway's business clock, which tests
may move; expiry is judged on real time, against the ``time_expire`` the client computed from its clock.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from indiepay.core.clock import BUSINESS_TZ, Clock
from indiepay.core.money import fen_to_yuan
from indiepay.sandbox.alipay.store import App, Order, Refund, SandboxStore

_AMOUNT = re.compile(r"\d{1,9}(\.\d{1,2})?")
_OUT_NO = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_AMOUNT = Decimal("100000000.00")
DEFAULT_QR_LIFETIME = timedelta(hours=2)
DEFAULT_PAGE_LIFETIME = timedelta(days=1)
PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")


_MESSAGES = {"20000": "Service Currently Unavailable", "40001": "Missing Required Arguments",
             "40002": "Invalid Arguments", "40004": "Business Failed"}


class GatewayError(Exception):
    """A non-10000 answer: ``code`` 40001/40002/40004/20000 with Alipay's ``sub_code``/``sub_msg``."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    def body(self) -> dict[str, str]:
        return {"code": self.code, "msg": _MESSAGES.get(self.code, "Failed"),
                "sub_code": self.sub_code, "sub_msg": self.sub_msg}


def business(sub_code: str, sub_msg: str) -> GatewayError:
    return GatewayError("40004", sub_code, sub_msg)


def invalid(sub_code: str, sub_msg: str) -> GatewayError:
    return GatewayError("40002", sub_code, sub_msg)


def now_utc() -> datetime:
    return datetime.now(UTC)


def cn_time(iso: str | None) -> str | None:
    """An ISO UTC instant as Alipay wall time (Asia/Shanghai, ``yyyy-MM-dd HH:mm:ss``)."""
    if iso is None:
        return None
    return datetime.fromisoformat(iso).astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


def random_digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def new_trade_no(at: datetime) -> str:
    """28 digits like the real ones: Beijing date, ``22001``, 15 random digits."""
    return at.astimezone(BUSINESS_TZ).strftime("%Y%m%d") + "22001" + random_digits(15)


def new_qr_code() -> str:
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "https://qr.alipay.com/bax0" + "".join(secrets.choice(alphabet) for _ in range(21))


def _text(biz: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = biz.get(name)
    if value is None or value == "":
        if required:
            raise invalid("isv.missing-parameter", f"缺少必选参数 {name}")
        return None
    if not isinstance(value, str | int | Decimal) or isinstance(value, bool):
        raise invalid("isv.invalid-parameter", f"参数 {name} 类型错误")
    return str(value)


def _out_no(biz: dict[str, Any], name: str) -> str:
    value = _text(biz, name)
    assert value is not None
    if not _OUT_NO.fullmatch(value):
        raise invalid("isv.invalid-parameter", f"{name} 只能包含字母、数字、下划线，长度不超过64")
    return value


def parse_amount(biz: dict[str, Any], name: str) -> int:
    """A yuan amount 0.01–100000000.00 with at most two decimals, as fen (Decimal, never float)."""
    text = _text(biz, name)
    assert text is not None
    if not _AMOUNT.fullmatch(text):
        raise invalid(f"isv.invalid-{name.replace('_', '-')}", f"{name} 格式错误: {text}")
    value = Decimal(text)
    if value < Decimal("0.01") or value > MAX_AMOUNT:
        raise invalid(f"isv.invalid-{name.replace('_', '-')}", f"{name} 取值范围 [0.01,100000000]")
    return int(value * 100)


def extend_flag(biz: dict[str, Any], name: str) -> bool:
    """A switch in ``extend_params`` (a JSON object), such as ``royalty_freeze`` on trade creation (holds the
    paid money for profit sharing) or ``royalty_finish`` on a settle: the strings "true"/"false" only,
    absent is false; anything else is refused rather than guessed."""
    extend = biz.get("extend_params")
    if extend is None:
        return False
    value = extend.get(name, "false") if isinstance(extend, dict) else None
    if value not in ("true", "false"):
        raise invalid("isv.invalid-parameter", f'extend_params.{name} 只能为 "true" 或 "false"')
    return bool(value == "true")


def _expiry(biz: dict[str, Any], now: datetime, default: timedelta) -> datetime:
    time_expire = _text(biz, "time_expire", required=False)
    if time_expire is not None:
        try:
            naive = datetime.strptime(time_expire, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - zone attached below
        except ValueError:
            raise invalid("isv.invalid-parameter", "time_expire 格式错误") from None
        return naive.replace(tzinfo=BUSINESS_TZ).astimezone(UTC)
    express = _text(biz, "timeout_express", required=False)
    if express is not None:
        match = re.fullmatch(r"(\d+)([mhd])", express)
        if not match:
            raise invalid("isv.invalid-parameter", "timeout_express 格式错误")
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now + timedelta(**{unit: int(match.group(1))})
    return now + default


class TradeBook:
    """The trade rules over a :class:`SandboxStore`.

    ``held_fen`` tells how much of a trade its settles gave to royalty receivers (refunds may not take it
    back); it is injected so that the trade rules need not know the royalty rules.
    """

    def __init__(self, store: SandboxStore, clock: Clock, held_fen: Callable[[Order], int] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.held_fen = held_fen or (lambda order: 0)

    def load(self, app: App, out_trade_no: str) -> Order | None:
        """The order with lazy expiry applied: an unpaid trade past its expiry is closed."""
        order = self.store.order(app.app_id, out_trade_no)
        if order is not None and order.status == "WAIT_BUYER_PAY" and order.expires_at is not None \
                and datetime.fromisoformat(order.expires_at) <= now_utc():
            order.status = "TRADE_CLOSED"
            self.store.save_order(order)
        return order

    def _existing(self, app: App, out_trade_no: str, total_fen: int) -> Order | None:
        order = self.load(app, out_trade_no)
        if order is None:
            return None
        if order.total_fen != total_fen:
            raise business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if order.status in PAID:
            raise business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if order.status == "TRADE_CLOSED":
            raise business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        return order

    def _new_order(self, app: App, biz: dict[str, Any], *, method: str, product_code: str,
                   notify_url: str | None, return_url: str | None, lifetime: timedelta) -> Order:
        out_trade_no = _out_no(biz, "out_trade_no")
        total_fen = parse_amount(biz, "total_amount")
        subject = _text(biz, "subject")
        assert subject is not None
        expires = _expiry(biz, now_utc(), lifetime)
        royalty_freeze = extend_flag(biz, "royalty_freeze")
        stamp = self.clock.now()
        with self.store.lock:
            order = self._existing(app, out_trade_no, total_fen)
            if order is not None:
                return order
            order = Order(app_id=app.app_id, out_trade_no=out_trade_no, trade_no=new_trade_no(stamp),
                          total_fen=total_fen, subject=subject[:256], status="NOT_CREATED", method=method,
                          product_code=product_code, notify_url=notify_url, return_url=return_url,
                          qr_code=None, created_at=stamp.isoformat(), expires_at=expires.isoformat(),
                          royalty_freeze=royalty_freeze)
            if method == "alipay.trade.precreate":
                order.qr_code = new_qr_code()
            else:
                order.status, order.gmt_create = "WAIT_BUYER_PAY", stamp.isoformat()
            self.store.save_order(order)
            return order

    def precreate(self, app: App, biz: dict[str, Any], notify_url: str | None) -> dict[str, Any]:
        order = self._new_order(app, biz, method="alipay.trade.precreate",
                                product_code=str(biz.get("product_code") or "FACE_TO_FACE_PAYMENT"),
                                notify_url=notify_url, return_url=None, lifetime=DEFAULT_QR_LIFETIME)
        if order.qr_code is None:
            raise business("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        return {"out_trade_no": order.out_trade_no, "qr_code": order.qr_code}

    def open_cashier(self, app: App, biz: dict[str, Any], method: str, notify_url: str | None,
                     return_url: str | None) -> Order:
        """page.pay / wap.pay: the trade exists from the moment the cashier page is opened."""
        default_code = "FAST_INSTANT_TRADE_PAY" if method == "alipay.trade.page.pay" else "QUICK_WAP_WAY"
        product_code = str(biz.get("product_code") or default_code)
        if product_code != default_code:
            raise invalid("isv.invalid-parameter", f"product_code 应为 {default_code}")
        return self._new_order(app, biz, method=method, product_code=product_code, notify_url=notify_url,
                               return_url=return_url, lifetime=DEFAULT_PAGE_LIFETIME)

    def _trade(self, app: App, biz: dict[str, Any]) -> Order:
        out_trade_no = _text(biz, "out_trade_no", required=False)
        trade_no = _text(biz, "trade_no", required=False)
        if out_trade_no is None and trade_no is None:
            raise invalid("isv.missing-parameter", "out_trade_no 和 trade_no 不能同时为空")
        if out_trade_no is None and trade_no is not None:
            by_trade_no = self.store.order_by_trade_no(app.app_id, trade_no)
            out_trade_no = by_trade_no.out_trade_no if by_trade_no else None
        order = self.load(app, out_trade_no) if out_trade_no else None
        if order is None or order.status == "NOT_CREATED" or (trade_no and order.trade_no != trade_no):
            raise business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return order

    def query(self, app: App, biz: dict[str, Any]) -> dict[str, Any]:
        order = self._trade(app, biz)
        body: dict[str, Any] = {
            "trade_no": order.trade_no, "out_trade_no": order.out_trade_no,
            "trade_status": order.status, "total_amount": fen_to_yuan(order.total_fen),
        }
        if order.buyer_id:
            body.update(buyer_logon_id=order.buyer_logon_id, buyer_user_id=order.buyer_id)
        if order.paid_at:
            paid = fen_to_yuan(order.total_fen)
            body.update(buyer_pay_amount=paid, receipt_amount=paid, invoice_amount=paid, point_amount="0.00",
                        send_pay_date=cn_time(order.paid_at))
        return body

    def close(self, app: App, biz: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            order = self._trade(app, biz)
            if order.status != "WAIT_BUYER_PAY":
                raise business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            order.status = "TRADE_CLOSED"
            self.store.save_order(order)
        return {"trade_no": order.trade_no, "out_trade_no": order.out_trade_no}

    def pay(self, order: Order, buyer_id: str | None = None) -> Order:
        """The buyer scans (creating the trade if needed) and pays. Raises GatewayError."""
        with self.store.lock:
            app = self.store.app(order.app_id)
            assert app is not None
            current = self.load(app, order.out_trade_no)
            assert current is not None
            now = now_utc()
            if current.status in PAID:
                raise business("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if current.status == "TRADE_CLOSED":
                raise business("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if current.expires_at is not None and datetime.fromisoformat(current.expires_at) <= now:
                raise business("ACQ.TRADE_HAS_CLOSE", "二维码已过期")
            stamp = self.clock.now().isoformat()
            current.gmt_create = current.gmt_create or stamp
            current.buyer_id = buyer_id or current.buyer_id or "2088" + random_digits(12)
            current.buyer_logon_id = "sbx***@sandbox.alipay.com"
            current.status, current.paid_at = "TRADE_SUCCESS", stamp
            self.store.save_order(current)
            return current

    def refund(self, app: App, biz: dict[str, Any]) -> tuple[dict[str, Any], Order, Refund | None]:
        """Returns (body, order, the new refund or None when it repeated an earlier ``out_request_no``)."""
        amount = parse_amount(biz, "refund_amount")
        with self.store.lock:
            order = self._trade(app, biz)
            out_request_no = _text(biz, "out_request_no", required=False) or order.out_trade_no
            if not _OUT_NO.fullmatch(out_request_no):
                raise invalid("isv.invalid-parameter", "out_request_no 格式错误")
            earlier = self.store.refund(app.app_id, order.out_trade_no, out_request_no)
            if earlier is not None:
                if earlier.amount_fen != amount:
                    raise business("ACQ.CONTEXT_INCONSISTENT", "退款请求号对应的退款金额不一致")
                return self._refund_body(order, "N", earlier), order, None
            if order.status not in PAID:
                if order.status == "TRADE_CLOSED":
                    raise business("ACQ.TRADE_HAS_CLOSED", "交易已关闭，不允许退款")
                raise business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if amount > order.total_fen - order.refunded_fen:
                raise business("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            if amount > order.total_fen - order.refunded_fen - self.held_fen(order):
                raise business("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
            refund = Refund(app_id=app.app_id, out_trade_no=order.out_trade_no, out_request_no=out_request_no,
                            amount_fen=amount, refunded_at=self.clock.now().isoformat(),
                            reason=_text(biz, "refund_reason", required=False))
            order.refunded_fen += amount
            if order.refunded_fen == order.total_fen:
                order.status = "TRADE_CLOSED"
            self.store.add_refund(refund)
            self.store.save_order(order)
            return self._refund_body(order, "Y", refund), order, refund

    @staticmethod
    def _refund_body(order: Order, fund_change: str, refund: Refund) -> dict[str, Any]:
        return {"trade_no": order.trade_no, "out_trade_no": order.out_trade_no,
                "buyer_logon_id": order.buyer_logon_id, "buyer_user_id": order.buyer_id,
                "fund_change": fund_change, "refund_fee": fen_to_yuan(order.refunded_fen),
                "send_back_fee": fen_to_yuan(refund.amount_fen) if fund_change == "Y" else "0.00",
                "gmt_refund_pay": cn_time(refund.refunded_at)}

    def refund_query(self, app: App, biz: dict[str, Any]) -> dict[str, Any]:
        out_request_no = _text(biz, "out_request_no")
        assert out_request_no is not None
        order = self._trade(app, biz)
        refund = self.store.refund(app.app_id, order.out_trade_no, out_request_no)
        if refund is None:
            return {}
        body: dict[str, Any] = {
            "trade_no": order.trade_no, "out_trade_no": order.out_trade_no, "out_request_no": out_request_no,
            "total_amount": fen_to_yuan(order.total_fen), "refund_amount": fen_to_yuan(refund.amount_fen),
            "refund_status": "REFUND_SUCCESS",
        }
        options = biz.get("query_options")
        if isinstance(options, list) and "gmt_refund_pay" in options:
            body["gmt_refund_pay"] = cn_time(refund.refunded_at)
        return body
