"""Profit sharing (交易分账, "royalty") of the simulated gateway: receiver bindings, settles and their queries.

Methods (all through ``gateway.do``, answering like the other ``alipay.trade.*`` methods):

* ``alipay.trade.royalty.relation.bind`` / ``.unbind`` ``{out_request_no, receiver_list}`` →
  ``result_code`` ``SUCCESS``. Binding is per app and keyed by the exact ``(type, account)``: the sandbox
  cannot know that a ``loginName`` and a ``userId`` are the same person, so a settle must name a receiver
  the way it was bound. Binding again and unbinding a stranger both succeed, as on the real platform.
* ``alipay.trade.order.settle`` shares a paid trade created with ``extend_params.royalty_freeze`` "true".
  ``out_request_no`` is idempotent per trade: a repeat answers the first settle's ``settle_no`` whatever the
  rest of its body says and whatever happened to the trade since (only ``out_request_no`` and ``trade_no``
  are read), so a client may always retry an unknown outcome. Receivers get at most
  30 % of ``total_amount`` over all settles (floored to the fen) and never more than is left after refunds
  and earlier settles (``ACQ.ALLOC_AMOUNT_VALIDATE_ERROR``). A detail to a receiver that is not bound, or
  any transfer while the ``royalty_fail_error_code`` fault knob is set, ends ``FAIL`` and moves no money.
  ``extend_params.royalty_finish`` "true" then unfreezes the rest to the seller (an ``unfreeze`` detail,
  written even when nothing is left) and ends the trade's royalty: later settles get
  ``ACQ.TRADE_SETTLE_ERROR``.
* ``royalty_mode`` ``async``: transfers stay ``PROCESSING`` for ``ROYALTY_SETTLE_SECONDS / time_factor``
  of real time (like the notify schedule; the business clock only stamps times), then reach the outcome
  decided when the settle was accepted (``SUCCESS``, or ``FAIL`` for the reasons above). A running transfer
  counts as settled. Nothing runs in the background: the first read of the settle after it is due (by
  a settle, either query, or a refund of the trade) moves it on, so the state also survives a restart.
* ``alipay.trade.order.settle.query`` by ``settle_no`` or by ``out_request_no`` + ``trade_no``; an unknown
  settle is 40004 ``ACQ.TRADE_SETTLE_NOT_EXIST`` (chosen here; the platform client relies on it).
* ``alipay.trade.order.onsettle.query`` → ``unsettled_amount``: total − refunded − settled, "0.00" once
  the royalty finished (the unfrozen rest is the seller's) or while the trade is unpaid.

The amount rules read earlier settles and write the new one under the store's lock, so concurrent settles
(and refunds, which see the settled money through :meth:`RoyaltyDesk.held_fen`) cannot exceed them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from indiepay.core.clock import BUSINESS_TZ, Clock
from indiepay.core.money import fen_to_yuan
from indiepay.sandbox.alipay.config import ROYALTY_SETTLE_SECONDS
from indiepay.sandbox.alipay.store import App, Order, RoyaltyBinding, RoyaltyDetail, SandboxStore, Settle
from indiepay.sandbox.alipay.trades import (
    GatewayError,
    business,
    cn_time,
    extend_flag,
    invalid,
    now_utc,
    parse_amount,
    random_digits,
)

BIND = "alipay.trade.royalty.relation.bind"
UNBIND = "alipay.trade.royalty.relation.unbind"
SETTLE = "alipay.trade.order.settle"
SETTLE_QUERY = "alipay.trade.order.settle.query"
ONSETTLE_QUERY = "alipay.trade.order.onsettle.query"
METHODS = frozenset({BIND, UNBIND, SETTLE, SETTLE_QUERY, ONSETTLE_QUERY})

RECEIVER_TYPES = frozenset({"userId", "loginName", "openId"})
MAX_RECEIVERS = 20
MAX_ROYALTY_PARAMETERS = 50
SHARE_LIMIT_PERCENT = 30
NOT_BOUND = "RECEIVER_NOT_BIND"
_FAIL_DESCRIPTIONS = {NOT_BOUND: "分账关系未绑定", "TXN_RESULT_ACCOUNT_STATUS_NOT_VALID": "分账收入方账户状态异常",
                      "TXN_RESULT_ACCOUNT_BALANCE_NOT_ENOUGH": "分账出资方账户余额不足"}
_OUT_REQUEST_NO = re.compile(r"[0-9A-Za-z_]{1,64}")
_USER_ID = re.compile(r"2088\d{12}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+")
_MOBILE = re.compile(r"\d{11}")


def _text(data: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise invalid("isv.missing-parameter", f"缺少必选参数 {name}")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise invalid("isv.invalid-parameter", f"参数 {name} 类型错误")
    return str(value)


def _required(data: dict[str, Any], name: str) -> str:
    value = _text(data, name, required=True)
    assert value is not None
    return value


def _out_request_no(biz: dict[str, Any]) -> str:
    value = _required(biz, "out_request_no")
    if not _OUT_REQUEST_NO.fullmatch(value):
        raise invalid("isv.invalid-parameter", "out_request_no 只能包含字母、数字、下划线，长度不超过64")
    return value


def _account_ok(receiver_type: str, account: str) -> bool:
    """userId ``2088`` + 12 digits; loginName an email or an 11-digit mobile; openId 1–128 characters."""
    if receiver_type == "userId":
        return _USER_ID.fullmatch(account) is not None
    if receiver_type == "loginName":
        return (len(account) <= 100 and _EMAIL.fullmatch(account) is not None) or _MOBILE.fullmatch(account) is not None
    return 0 < len(account) <= 128


@dataclass(frozen=True)
class Receiver:
    type: str
    account: str
    name: str | None
    memo: str | None


def parse_receivers(biz: dict[str, Any]) -> list[Receiver]:
    """``receiver_list`` of bind/unbind: 1–20 well-formed entries (any bad entry → isv.invalid-parameter)."""
    _out_request_no(biz)
    entries = biz.get("receiver_list")
    if entries is None:
        raise invalid("isv.missing-parameter", "缺少必选参数 receiver_list")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_RECEIVERS:
        raise invalid("isv.invalid-parameter", f"receiver_list 应包含 1 至 {MAX_RECEIVERS} 个分账接收方")
    receivers = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise invalid("isv.invalid-parameter", "receiver_list 的元素必须是对象")
        kind, account = entry.get("type"), entry.get("account")
        name, memo = entry.get("name"), entry.get("memo")
        if kind not in RECEIVER_TYPES or not isinstance(account, str) or not _account_ok(kind, account) \
                or not isinstance(name, str | None) or not isinstance(memo, str | None):
            raise invalid("isv.invalid-parameter", f"分账接收方信息错误: type={kind!r} account={account!r}")
        receivers.append(Receiver(type=kind, account=account, name=name or None, memo=memo or None))
    return receivers


@dataclass(frozen=True)
class Transfer:
    trans_in_type: str
    trans_in: str
    amount_fen: int
    desc: str | None


@dataclass(frozen=True)
class SettleRequest:
    out_request_no: str
    trade_no: str
    transfers: tuple[Transfer, ...]
    finish: bool
    asynchronous: bool


def _transfer(entry: Any) -> Transfer:
    if not isinstance(entry, dict):
        raise invalid("isv.invalid-parameter", "royalty_parameters 的元素必须是对象")
    if entry.get("royalty_type") not in (None, "", "transfer"):
        raise invalid("isv.invalid-parameter", "royalty_type 只支持 transfer")
    kind, trans_in = _required(entry, "trans_in_type"), _required(entry, "trans_in")
    if kind not in RECEIVER_TYPES or not _account_ok(kind, trans_in):
        raise invalid("isv.invalid-parameter", f"分账收入方信息错误: {kind}={trans_in}")
    try:
        amount = parse_amount(entry, "amount")
    except GatewayError as err:  # the trade amounts' rules, under this method's sub code
        if err.sub_code == "isv.missing-parameter":
            raise
        raise invalid("isv.invalid-parameter", err.sub_msg) from None
    desc = entry.get("desc")
    if not isinstance(desc, str | None):
        raise invalid("isv.invalid-parameter", "desc 类型错误")
    return Transfer(trans_in_type=kind, trans_in=trans_in, amount_fen=amount, desc=desc or None)


def parse_settle(biz: dict[str, Any]) -> SettleRequest:
    """The well-formedness rules of ``alipay.trade.order.settle`` (40002 before any business rule)."""
    out_request_no, trade_no = _out_request_no(biz), _required(biz, "trade_no")
    finish = extend_flag(biz, "royalty_finish")
    mode = biz.get("royalty_mode") or "sync"
    if mode not in ("sync", "async"):
        raise invalid("isv.invalid-parameter", "royalty_mode 只能为 sync 或 async")
    entries = biz.get("royalty_parameters")
    if entries is None:
        entries = [] if finish else None
    if entries is None or (entries == [] and not finish):
        raise invalid("isv.missing-parameter", "缺少必选参数 royalty_parameters")
    if not isinstance(entries, list) or len(entries) > MAX_ROYALTY_PARAMETERS:
        raise invalid("isv.invalid-parameter", f"royalty_parameters 最多 {MAX_ROYALTY_PARAMETERS} 条")
    return SettleRequest(out_request_no=out_request_no, trade_no=trade_no,
                         transfers=tuple(_transfer(entry) for entry in entries), finish=finish,
                         asynchronous=mode == "async")


def _new_number(at: datetime, digits: int) -> str:
    """Beijing date + random digits: unguessable, and sorted by day like Alipay's numbers."""
    return at.astimezone(BUSINESS_TZ).strftime("%Y%m%d") + random_digits(digits)


class RoyaltyDesk:
    """The royalty rules over a :class:`SandboxStore`; ``time_factor`` compresses the async settle delay."""

    def __init__(self, store: SandboxStore, clock: Clock, time_factor: float) -> None:
        self.store = store
        self.clock = clock
        self.settle_after = timedelta(seconds=ROYALTY_SETTLE_SECONDS / max(time_factor, 1e-9))

    def handle(self, method: str, app: App, biz: dict[str, Any]) -> dict[str, Any]:
        """Answer one of :data:`METHODS` (body without ``code``/``msg``), or raise :class:`GatewayError`."""
        if method in (BIND, UNBIND):
            return self.relation(app, biz, bind=method == BIND)
        if method == SETTLE:
            return self.settle(app, biz)
        if method == SETTLE_QUERY:
            return self.settle_query(app, biz)
        return self.onsettle_query(app, biz)

    def relation(self, app: App, biz: dict[str, Any], *, bind: bool) -> dict[str, Any]:
        receivers = parse_receivers(biz)
        stamp = self.clock.now().isoformat()
        with self.store.lock:
            for r in receivers:
                if bind:
                    earlier = self.store.binding(app.app_id, r.type, r.account)
                    self.store.save_binding(RoyaltyBinding(
                        app_id=app.app_id, receiver_type=r.type, account=r.account, name=r.name, memo=r.memo,
                        bound_at=earlier.bound_at if earlier else stamp))
                else:
                    self.store.delete_binding(app.app_id, r.type, r.account)
        return {"result_code": "SUCCESS"}

    def _trade(self, app: App, trade_no: str) -> Order:
        order = self.store.order_by_trade_no(app.app_id, trade_no)
        if order is None or order.status == "NOT_CREATED":
            raise business("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return order

    def _ripen(self, settle: Settle) -> Settle:
        """Move the settle's due PROCESSING transfers to their decided outcome (persisted)."""
        now, changed = now_utc(), False
        for detail in settle.details:
            if detail.state == "PROCESSING" and detail.due_at and datetime.fromisoformat(detail.due_at) <= now:
                failed = bool(detail.pending_error_code)
                detail.state = "FAIL" if failed else "SUCCESS"
                detail.error_code, detail.error_desc = detail.pending_error_code, detail.pending_error_desc
                detail.executed_at, changed = self.clock.now().isoformat(), True
        if changed:
            self.store.save_settle(settle)
        return settle

    def _settles(self, app_id: str, trade_no: str) -> list[Settle]:
        with self.store.lock:
            return [self._ripen(s) for s in self.store.settles_of(app_id, trade_no)]

    def held_fen(self, order: Order) -> int:
        """What the trade's settles gave or are giving to receivers (a refund may not take it back)."""
        if not order.royalty_freeze:
            return 0
        return sum(s.held_fen for s in self._settles(order.app_id, order.trade_no))

    def _detail(self, transfer: Transfer, error_code: str | None, asynchronous: bool, now: datetime) -> RoyaltyDetail:
        """A transfer detail whose outcome is ``error_code`` (None: success): shown at once in sync mode,
        kept pending until its due time in async mode."""
        error_desc = _FAIL_DESCRIPTIONS.get(error_code, "分账失败") if error_code else None
        detail = RoyaltyDetail(detail_id=_new_number(now, 24), operation_type="transfer",
                               trans_in_type=transfer.trans_in_type, trans_in=transfer.trans_in,
                               amount_fen=transfer.amount_fen, state="FAIL" if error_code else "SUCCESS",
                               executed_at=now.isoformat(), desc=transfer.desc)
        if asynchronous:
            detail.state, detail.due_at = "PROCESSING", (datetime.now(UTC) + self.settle_after).isoformat()
            detail.pending_error_code, detail.pending_error_desc = error_code, error_desc
        else:
            detail.error_code, detail.error_desc = error_code, error_desc
        return detail

    def settle(self, app: App, biz: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            trade_no = _required(biz, "trade_no")
            earlier = self.store.settle_by_request(app.app_id, trade_no, _out_request_no(biz))
            if earlier is not None:  # a retry, whatever its body: the first answer again
                return {"trade_no": earlier.trade_no, "settle_no": earlier.settle_no}
            request = parse_settle(biz)
            order = self._trade(app, request.trade_no)
            if order.status != "TRADE_SUCCESS":
                raise business("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if not order.royalty_freeze:
                raise business("ACQ.TRADE_SETTLE_ERROR", "交易未冻结分账资金")
            settles = self._settles(app.app_id, order.trade_no)
            if any(s.finish for s in settles):
                raise business("ACQ.TRADE_SETTLE_ERROR", "分账已完结")
            settled = sum(s.held_fen for s in settles)
            asked = sum(t.amount_fen for t in request.transfers)
            limit = order.total_fen * SHARE_LIMIT_PERCENT // 100
            if settled + asked > limit or asked > order.total_fen - order.refunded_fen - settled:
                raise business("ACQ.ALLOC_AMOUNT_VALIDATE_ERROR", "分账金额超过最大可分账金额")
            now = self.clock.now()
            fault = self.store.faults(app.app_id).royalty_fail_error_code or None
            details = []
            for transfer in request.transfers:
                bound = self.store.binding(app.app_id, transfer.trans_in_type, transfer.trans_in) is not None
                details.append(self._detail(transfer, fault or (None if bound else NOT_BOUND), request.asynchronous,
                                            now))
            settle = Settle(app_id=app.app_id, trade_no=order.trade_no, out_request_no=request.out_request_no,
                            settle_no=_new_number(now, 24), operated_at=now.isoformat(), finish=request.finish,
                            details=details)
            if request.finish:
                left = order.total_fen - order.refunded_fen - settled - settle.held_fen
                settle.details.append(RoyaltyDetail(
                    detail_id=_new_number(now, 24), operation_type="unfreeze", trans_in_type="userId",
                    trans_in=app.seller_id, amount_fen=left, state="SUCCESS", executed_at=now.isoformat()))
            self.store.save_settle(settle)
        return {"trade_no": order.trade_no, "settle_no": settle.settle_no}

    def settle_query(self, app: App, biz: dict[str, Any]) -> dict[str, Any]:
        settle_no = _text(biz, "settle_no", required=False)
        out_request_no = _text(biz, "out_request_no", required=False)
        trade_no = _text(biz, "trade_no", required=False)
        if settle_no is None and (out_request_no is None or trade_no is None):
            raise invalid("isv.missing-parameter", "settle_no 与 out_request_no+trade_no 不能同时为空")
        with self.store.lock:
            if settle_no is not None:
                found = self.store.settle(app.app_id, settle_no)
            else:
                assert out_request_no is not None and trade_no is not None
                found = self.store.settle_by_request(app.app_id, trade_no, out_request_no)
            if found is None:
                raise business("ACQ.TRADE_SETTLE_NOT_EXIST", "分账请求不存在")
            settle = self._ripen(found)
        return {"out_request_no": settle.out_request_no, "operation_dt": cn_time(settle.operated_at),
                "royalty_detail_list": [self._detail_view(app, d) for d in settle.details]}

    @staticmethod
    def _detail_view(app: App, detail: RoyaltyDetail) -> dict[str, Any]:
        """One ``royalty_detail_list`` entry; ``error_code``/``error_desc`` only on a failed detail."""
        view = {"operation_type": detail.operation_type, "execute_dt": cn_time(detail.executed_at),
                "trans_out": app.seller_id, "trans_out_type": "userId", "trans_in": detail.trans_in,
                "trans_in_type": detail.trans_in_type, "amount": fen_to_yuan(detail.amount_fen),
                "state": detail.state, "error_code": detail.error_code, "error_desc": detail.error_desc,
                "detail_id": detail.detail_id}
        return {k: v for k, v in view.items() if v is not None}

    def onsettle_query(self, app: App, biz: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            order = self._trade(app, _required(biz, "trade_no"))
            settles = self._settles(app.app_id, order.trade_no)
            if order.paid_at is None or any(s.finish for s in settles):
                left = 0
            else:
                left = order.total_fen - order.refunded_fen - sum(s.held_fen for s in settles)
        return {"unsettled_amount": fen_to_yuan(max(left, 0))}
