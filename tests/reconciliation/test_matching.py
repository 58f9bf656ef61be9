"""Matching a day's bill against the records: nothing to report when they agree, and each corruption of
the bill produces exactly its difference class, no more (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from indiepay.alerts.models import Alert
from indiepay.ledger.models import LedgerEntry
from indiepay.payments.models import Payment
from indiepay.reconciliation import rules, service
from indiepay.reconciliation.parsers.wechat_trade import WechatTradeRow
from tests.reconciliation.world import DAY, Local, World, beijing

NEXT = DAY + timedelta(days=1)


def _day_of_trade(world: World) -> tuple[list[Local], list[WechatTradeRow]]:
    """Three payments and a refund of DAY, and the bill rows that agree with them."""
    p1 = world.payment(1_000, beijing(DAY, 9))
    p2 = world.payment(25_000, beijing(DAY, 13, 30))
    p3 = world.payment(84, beijing(DAY, 18))
    r1 = world.refund(p2, 5_000, beijing(DAY, 20))
    items = [p1, p2, p3, r1]
    return items, [world.wechat_row(item) for item in items]


def _classes(result: service.RunResult) -> list[tuple[str, str]]:
    return sorted((d.klass, d.out_trade_no) for d in result.differences)


def test_a_bill_that_agrees_gives_no_difference_and_writes_the_fees_back(world: World) -> None:
    items, rows = _day_of_trade(world)
    result = world.import_bill(world.wechat_bill(rows))
    run = result.run
    assert result.differences == []
    assert (run.status, run.bill_rows, run.local_rows, run.matched_count) == ("balanced", 4, 4, 4)
    assert run.matched_amount == 1_000 + 25_000 + 84 - 5_000 == run.bill_amount == run.local_amount
    assert run.rule_version == rules.RULES_V1.version and len(run.bill_sha1) == 40
    assert run.bill_fee == 6 + 150 + 1 - 30 and run.booked_fee == 6 + 150 + 1 and run.fee_corrections == 0
    with world.ctx.db.read() as session:
        fees = {pid: fee for pid, fee in session.execute(select(Payment.id, Payment.channel_fee))}
        assert session.scalars(select(Alert)).first() is None
    assert fees == {items[0].id: 6, items[1].id: 150, items[2].id: 1}


Corruption = Callable[[World, list[Local], list[WechatTradeRow]], tuple[list[WechatTradeRow], str]]


def _drop(world: World, items: list[Local], rows: list[WechatTradeRow]) -> tuple[list[WechatTradeRow], str]:
    return rows[:1] + rows[2:], items[1].out_trade_no


def _amount(world: World, items: list[Local], rows: list[WechatTradeRow]) -> tuple[list[WechatTradeRow], str]:
    return [rows[0], replace(rows[1], order_total_fen=25_100, settlement_total_fen=25_100), *rows[2:]], \
        items[1].out_trade_no


def _duplicate(world: World, items: list[Local], rows: list[WechatTradeRow]) -> tuple[list[WechatTradeRow], str]:
    return [*rows, rows[0]], items[0].out_trade_no


def _fee(world: World, items: list[Local], rows: list[WechatTradeRow]) -> tuple[list[WechatTradeRow], str]:
    return [rows[0], replace(rows[1], fee=Decimal("1.75000")), *rows[2:]], items[1].out_trade_no


def _only_in_bill(world: World, items: list[Local], rows: list[WechatTradeRow]) -> tuple[list[WechatTradeRow], str]:
    stranger = Local("payment", "NOBODY-KNOWS", None, 700, beijing(DAY, 11), "pay_none")
    return [*rows, world.wechat_row(stranger)], "NOBODY-KNOWS"


def _late(world: World, items: list[Local], rows: list[WechatTradeRow]) -> tuple[list[WechatTradeRow], str]:
    closed = world.payment(3_000, beijing(DAY, 10), status="closed")
    return [*rows, world.wechat_row(closed)], closed.out_trade_no


@pytest.mark.parametrize(("corrupt", "klass"), [
    (_drop, rules.MISSING_IN_CHANNEL), (_amount, rules.AMOUNT_MISMATCH), (_duplicate, rules.DUPLICATE_IN_BILL),
    (_fee, rules.FEE_MISMATCH), (_only_in_bill, rules.MISSING_LOCALLY), (_late, rules.STATUS_MISMATCH),
], ids=lambda v: v if isinstance(v, str) else v.__name__)
def test_each_corruption_gives_exactly_its_class(world: World, corrupt: Corruption, klass: str) -> None:
    items, rows = _day_of_trade(world)
    corrupted, out_trade_no = corrupt(world, items, rows)
    result = world.import_bill(world.wechat_bill(corrupted))
    assert _classes(result) == [(klass, out_trade_no)]
    assert result.run.status == "differences" and result.run.open_differences == 1
    with world.ctx.db.read() as session:
        alerts = list(session.scalars(select(Alert)))
    assert [a.dedupe_key for a in alerts] == [f"reconciliation:{world.account_id}:{DAY}"]


def test_a_fee_the_bill_contradicts_is_corrected_in_the_ledger_once(world: World) -> None:
    items, rows = _day_of_trade(world)
    bill = world.wechat_bill([rows[0], replace(rows[1], fee=Decimal("1.75000")), *rows[2:]])
    first = world.import_bill(bill)
    again = world.import_bill(bill)
    assert first.run.fee_corrections == 1 and again.run.fee_corrections == 0
    with world.ctx.db.read() as session:
        entries = list(session.scalars(select(LedgerEntry).where(LedgerEntry.event_type == "correction")))
        fee = session.get(Payment, items[1].id)
    assert [e.event_key for e in entries] == [f"fee_correction:{items[1].id}"]
    assert fee is not None and fee.channel_fee == 175


def test_rerunning_a_day_gives_the_same_ids_and_keeps_resolutions(world: World) -> None:
    _items, rows = _day_of_trade(world)
    world.import_bill(world.wechat_bill(rows[:1] + rows[2:] + [replace(rows[0], out_trade_no="X-1")]))
    first = world.import_bill(world.wechat_bill(rows[:1] + rows[2:] + [replace(rows[0], out_trade_no="X-1")]))
    with world.ctx.db.transaction() as session:
        from indiepay.reconciliation.resolution import resolve

        resolve(session, world.ctx, first.differences[0].id, action="ignore", note="test order", actor="admin")
    second = service.run_day(world.ctx, world.account_id, DAY)
    assert [d.id for d in first.differences] == [d.id for d in second.differences]
    assert first.run.id == second.run.id and second.run.executions == 3
    statuses = {d.klass: d.status for d in second.differences}
    assert statuses[first.differences[0].klass] == rules.IGNORED
    assert sorted(statuses) == [rules.MISSING_IN_CHANNEL, rules.MISSING_LOCALLY]


def test_a_difference_the_next_run_no_longer_finds_is_closed_by_the_system(world: World) -> None:
    _items, rows = _day_of_trade(world)
    broken = world.import_bill(world.wechat_bill(rows[1:]))
    fixed = world.import_bill(world.wechat_bill(rows))
    assert fixed.differences == [] and fixed.run.status == "balanced"
    with world.ctx.db.read() as session:
        from indiepay.reconciliation.models import ReconciliationDifference

        gone = session.get(ReconciliationDifference, broken.differences[0].id)
    assert gone is not None and (gone.status, gone.resolved_by) == (rules.RESOLVED, rules.SYSTEM_ACTOR)


def test_an_alipay_bill_round_trips(ctx: object) -> None:
    from indiepay.context import ServiceContext

    assert isinstance(ctx, ServiceContext)
    world = World(ctx, channel="alipay")
    p1 = world.payment(1_990, beijing(DAY, 9))
    p2 = world.payment(5_000, beijing(DAY, 16))
    r1 = world.refund(p1, 990, beijing(DAY, 17))
    clean = world.import_bill(world.alipay_bill([world.alipay_row(p1), world.alipay_row(p2), world.alipay_row(r1)]))
    assert clean.differences == [] and clean.run.matched_count == 3
    dropped = world.import_bill(world.alipay_bill([world.alipay_row(p1), world.alipay_row(r1)]))
    assert _classes(dropped) == [(rules.MISSING_IN_CHANNEL, p2.out_trade_no)]
