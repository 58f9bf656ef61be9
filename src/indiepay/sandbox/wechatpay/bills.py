"""The WeChat Pay sandbox's daily bills, built from its own records with the real-format writers.

A trade bill (``bill_type`` ALL, SUCCESS or REFUND) lists, for one Beijing business day, a row per payment
that succeeded that day (its success time) and, in ALL and REFUND, a row per refund that succeeded that
day — the way the real ALL bill lists refunds as their own ``REFUND`` rows. Fees are charged per payment
at the configured rate, printed with five decimals, and returned (negative) on refunds. The fund-flow bill
of the BASIC account books each payment in, its fee out, each refund out and its returned fee in, with a
running balance over everything the merchant ever did in the sandbox.

Rows are ordered by time, then payment before refund, then id, so a day's bill is the same bytes on every
fetch; queued fault knobs (:mod:`indiepay.sandbox.billing`) are applied on the way out.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from indiepay.reconciliation.parsers.common import fee_fen
from indiepay.reconciliation.parsers.wechat_fundflow import EXPENSE, INCOME, WechatFundFlowRow
from indiepay.reconciliation.parsers.wechat_trade import TradeBillLayout, WechatTradeRow
from indiepay.reconciliation.writers.wechat import render_wechat_fundflow_bill, render_wechat_trade_bill
from indiepay.sandbox import billing
from indiepay.sandbox.billing import BillFault, RowKey
from indiepay.sandbox.wechatpay.state import SandboxState

FEE_PLACES = 5
Doc = dict[str, Any]


def paid_at(order: Doc) -> datetime | None:
    """When the channel booked the payment: its success time, unless a shift knob moved it."""
    text = order.get("bill_time") or order.get("success_time")
    return datetime.fromisoformat(str(text)) if text else None


def _rate(state: SandboxState) -> str:
    return f"{state.config.fee_rate * 100:.2f}%"


def _payment_row(state: SandboxState, order: Doc, layout: TradeBillLayout) -> WechatTradeRow:
    at = paid_at(order)
    assert at is not None
    refunds = layout is not TradeBillLayout.SUCCESS
    return WechatTradeRow(
        trade_time=at, app_id=order["appid"], mch_id=order["mchid"], sub_mch_id=None, device=None,
        transaction_id=order["transaction_id"], out_trade_no=order["out_trade_no"],
        openid=order.get("payer_openid") or "", trade_type=order["trade_type"], trade_state="SUCCESS",
        bank="OTHERS", currency="CNY", settlement_total_fen=order["total"], coupon_fen=0,
        product=str(order.get("description") or ""), attach=str(order.get("attach") or ""),
        fee=billing.fee(order["total"], state.config.fee_rate, FEE_PLACES), rate=_rate(state),
        refund_fen=0 if refunds else None, recharge_coupon_refund_fen=0 if refunds else None,
        order_total_fen=order["total"], refund_requested_fen=0 if refunds else None,
    )


def _refund_row(state: SandboxState, refund: Doc, order: Doc, layout: TradeBillLayout) -> WechatTradeRow:
    succeeded = datetime.fromisoformat(refund["success_time"])
    by_layout = layout is TradeBillLayout.REFUND
    payment = _payment_row(state, order, layout)
    return replace(
        payment,
        trade_time=payment.trade_time if by_layout else succeeded, trade_state="REFUND", settlement_total_fen=0,
        fee=billing.opposite(billing.fee(refund["refund"], state.config.fee_rate, FEE_PLACES)),
        refund_requested_at=datetime.fromisoformat(refund["create_time"]) if by_layout else None,
        refund_succeeded_at=succeeded if by_layout else None,
        refund_id=refund["refund_id"], out_refund_no=refund["out_refund_no"], refund_fen=refund["refund"],
        recharge_coupon_refund_fen=0, refund_type="ORIGINAL", refund_status="SUCCESS", order_total_fen=0,
        refund_requested_fen=refund["refund"],
    )


def _within(at: datetime | None, bill_date: date) -> bool:
    start, end = billing.day_bounds(bill_date)
    return at is not None and start <= at < end


def _paid_orders(state: SandboxState, mchid: str) -> list[Doc]:
    return [o for o in state.store.orders_of(mchid) if o["trade_state"] in ("SUCCESS", "REFUND") and paid_at(o)]


def trade_rows(state: SandboxState, mchid: str, bill_date: date,
               layout: TradeBillLayout) -> list[tuple[RowKey, WechatTradeRow]]:
    """The day's trade-bill rows, keyed by (out_trade_no, out_refund_no)."""
    orders = {o["out_trade_no"]: o for o in _paid_orders(state, mchid)}
    events: list[tuple[tuple[datetime, int, int], RowKey, WechatTradeRow]] = []
    if layout is not TradeBillLayout.REFUND:
        for seq, order in enumerate(orders.values()):
            at = paid_at(order)
            if at is not None and _within(at, bill_date):
                events.append(((at, 0, seq), (order["out_trade_no"], None), _payment_row(state, order, layout)))
    if layout is not TradeBillLayout.SUCCESS:
        for seq, refund in enumerate(state.store.all_refunds_of(mchid)):
            paid = orders.get(refund["out_trade_no"])
            if refund["status"] != "SUCCESS" or paid is None:
                continue
            at = datetime.fromisoformat(refund["success_time"])
            if _within(at, bill_date):
                events.append(((at, 1, seq), (refund["out_trade_no"], refund["out_refund_no"]),
                               _refund_row(state, refund, paid, layout)))
    events.sort(key=lambda event: event[0])
    return [(key, row) for _, key, row in events]


def fundflow_rows(state: SandboxState, mchid: str, bill_date: date) -> list[tuple[RowKey, WechatFundFlowRow]]:
    """The day's BASIC-account bookings, keyed by (out_trade_no, out_refund_no), with running balances."""
    orders = {o["out_trade_no"]: o for o in _paid_orders(state, mchid)}
    # (sort key: time, payment/refund, creation order, booking), row key, business no, name, direction, fen,
    # voucher
    moves: list[tuple[tuple[datetime, int, int, int], RowKey, str, str, str, int, str]] = []
    for seq, order in enumerate(orders.values()):
        at, no = paid_at(order), order["transaction_id"]
        assert at is not None
        charge = fee_fen(billing.fee(order["total"], state.config.fee_rate, FEE_PLACES))
        key: RowKey = (order["out_trade_no"], None)
        moves.append(((at, 0, seq, 0), key, no, "交易", INCOME, order["total"], order["out_trade_no"]))
        if charge:
            moves.append(((at, 0, seq, 1), key, no, "扣除交易手续费", EXPENSE, charge, order["out_trade_no"]))
    for seq, refund in enumerate(state.store.all_refunds_of(mchid)):
        if refund["status"] != "SUCCESS" or refund["out_trade_no"] not in orders:
            continue
        at, no = datetime.fromisoformat(refund["success_time"]), refund["refund_id"]
        back = fee_fen(billing.fee(refund["refund"], state.config.fee_rate, FEE_PLACES))
        key = (refund["out_trade_no"], refund["out_refund_no"])
        moves.append(((at, 1, seq, 0), key, no, "退款", EXPENSE, refund["refund"], refund["out_refund_no"]))
        if back:
            moves.append(((at, 1, seq, 1), key, no, "退还交易手续费", INCOME, back, refund["out_refund_no"]))
    moves.sort(key=lambda move: move[0])
    balance = 0
    rows: list[tuple[RowKey, WechatFundFlowRow]] = []
    for (at, _, _, suffix), key, no, name, direction, fen, voucher in moves:
        balance += fen if direction == INCOME else -fen
        if _within(at, bill_date):
            rows.append((key, WechatFundFlowRow(
                booked_at=at, business_no=no, flow_no=f"{no}{suffix + 1:02d}", business_name=name,
                business_type=name, direction=direction, amount_fen=fen, balance_fen=balance,
                applicant=f"{mchid}API" if name == "退款" else "system", note="", voucher_no=voucher)))
    return rows


def _change(row: Any, key: RowKey, delta: int) -> Any:
    if isinstance(row, WechatFundFlowRow):
        return replace(row, amount_fen=row.amount_fen + delta)
    if key[1] is None:
        return replace(row, settlement_total_fen=row.settlement_total_fen + delta,
                       order_total_fen=(row.order_total_fen or 0) + delta)
    return replace(row, refund_fen=(row.refund_fen or 0) + delta,
                   refund_requested_fen=(row.refund_requested_fen or 0) + delta)


def _shift(state: SandboxState, mchid: str, fault: BillFault, bill_date: date) -> dict[str, Any]:
    """Move the target payment's booking time across midnight, in the gateway's record."""
    start, _ = billing.day_bounds(bill_date)
    candidates = sorted((o for o in _paid_orders(state, mchid) if _within(paid_at(o), bill_date)),
                        key=lambda o: paid_at(o) or start)  # stable: same-second payments by creation
    if fault.out_trade_no is not None:
        candidates = [o for o in candidates if o["out_trade_no"] == fault.out_trade_no]
    entry: dict[str, Any] = {**fault.as_dict(), "applied_to": bill_date.isoformat(), "target": None}
    if candidates:
        order = candidates[0]
        order["bill_time"] = billing.shifted_time(bill_date, fault.direction).isoformat()
        state.store.put_order(order)
        entry.update(target=[order["out_trade_no"], None], moved_to=order["bill_time"])
    return entry


def publish(state: SandboxState, mchid: str, kind: str, bill_date: date,
            layout: TradeBillLayout = TradeBillLayout.ALL) -> tuple[bytes, str]:
    """The bill's (uncompressed) bytes and the SHA1 to announce, with any matching fault knobs applied."""
    knobs = state.faults_for(mchid)
    with state.lock:
        taken, knobs.bill_faults = billing.take_faults(knobs.bill_faults, kind, bill_date)
    log = [_shift(state, mchid, f, bill_date) for f in taken if f.fault == "shift_across_midnight"]
    content: bytes
    if kind == "trade":
        trade, row_log = billing.corrupt_rows(trade_rows(state, mchid, bill_date, layout), taken, _change)
        content = render_wechat_trade_bill((row for _, row in trade), layout)
    else:
        flow, row_log = billing.corrupt_rows(fundflow_rows(state, mchid, bill_date), taken, _change)
        content = render_wechat_fundflow_bill(row for _, row in flow)
    digest = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    for fault in taken:
        if fault.fault == "wrong_hash":
            digest = hashlib.sha1(b"corrupted by the wrong_hash knob\n" + content, usedforsecurity=False).hexdigest()
            log.append({**fault.as_dict(), "announced": digest})
    applied = [{**entry, "applied_to": bill_date.isoformat()} for entry in row_log] + log
    if applied:
        with state.lock:
            state.bill_log.setdefault(mchid, []).extend(applied)
    return content, digest

