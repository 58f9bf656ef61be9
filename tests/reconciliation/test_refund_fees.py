"""The fee a refund returned, per the bill: written back onto the refund by the fee job, and — where the ledger
booked another returned fee — exactly one ``refund_fee_correction:<refund id>`` entry, never twice: not on a
re-run of the day, nor after a crash between batches (SQLite and PostgreSQL). Plus the sandbox round trip."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import select

from indiepay.context import ServiceContext
from indiepay.ledger import accounts as acc
from indiepay.ledger import repository as ledger_repository
from indiepay.ledger.models import LedgerEntry
from indiepay.payments.models import Payment
from indiepay.reconciliation import fees, rules, service
from indiepay.reconciliation.models import ReconciliationFees, ReconciliationRun
from indiepay.refunds.models import Refund
from tests.e2e.test_reconciliation_round_trip import DAY as SANDBOX_DAY
from tests.e2e.test_reconciliation_round_trip import trade_day
from tests.reconciliation.world import DAY, Local, World, beijing, fee_yuan
from tests.support.platform import PlatformUnderTest

EXTRA = Decimal("0.06000")  # the channel returned 6 fen more than the ledger's pro-rata share


class Crash(Exception):
    pass


def _returned(ctx: ServiceContext) -> dict[str, int | None]:
    with ctx.db.read() as session:
        return {rid: fee for rid, fee in session.execute(select(Refund.id, Refund.channel_fee_returned))}


def _corrections(ctx: ServiceContext) -> dict[str, list[tuple[str, int]]]:
    """``event key -> postings`` of every fee correction in the ledger."""
    with ctx.db.read() as session:
        entries = dict(session.execute(select(LedgerEntry.id, LedgerEntry.event_key).where(
            LedgerEntry.event_key.like("%fee_correction:%"))).tuples().all())
        lines = ledger_repository.entry_lines(session, list(entries))
    return {key: lines[entry_id] for entry_id, key in entries.items()}


def _day(world: World, count: int = 3, extra: Decimal = EXTRA) -> tuple[list[Local], bytes]:
    """``count`` payments of 10,000 fen, each refunded 4,000: booked returned fee 24 fen, the bill's 24 + extra."""
    payments = [world.payment(10_000, beijing(DAY, 9 + n)) for n in range(count)]
    refunds = [world.refund(p, 4_000, beijing(DAY, 15 + n)) for n, p in enumerate(payments)]
    rows = [world.wechat_row(p) for p in payments]
    rows += [world.wechat_row(r, fee=-(fee_yuan(r.amount) + extra)) for r in refunds]
    return refunds, world.wechat_bill(rows)


def _import(world: World, content: bytes, *, apply_fees: bool = True) -> service.RunResult:
    return service.import_bill(world.ctx, world.account_id, io.BytesIO(content), day=DAY, apply_fees=apply_fees)


def test_the_returned_fee_is_written_back_with_one_correction_each(world: World) -> None:
    refunds, bill = _day(world)
    result = _import(world, bill)
    assert result.differences == []  # a returned fee is written back, not reported as a difference
    assert _returned(world.ctx) == {r.id: 24 + 6 for r in refunds}
    with world.ctx.db.read() as session:
        assert set(session.scalars(select(Payment.channel_fee))) == {60}  # the payments' fees as booked
    corrections = _corrections(world.ctx)
    assert sorted(corrections) == sorted(f"refund_fee_correction:{r.id}" for r in refunds)
    lines = {acc.channel_fee_expense("wechatpay").code: -6, acc.platform_clearing("wechatpay").code: 6,
             acc.merchant_payable(world.merchant_id).code: -6, acc.channel_fee_recharged("wechatpay").code: 6}
    assert all(dict(entry) == lines for entry in corrections.values())
    assert result.run.fee_corrections == 3
    again = service.run_day(world.ctx, world.account_id, DAY)  # nothing left to write or correct
    assert again.run.fee_corrections == 0 and len(_corrections(world.ctx)) == 3
    with world.ctx.db.read() as session:
        row = session.get(ReconciliationFees, again.run.id)
    assert row is not None and (row.fee_count, row.applied_at) == (0, world.ctx.clock.now())


def test_a_crash_between_batches_resumes_without_posting_twice(world: World) -> None:
    refunds, bill = _day(world, 4)
    run_id = _import(world, bill, apply_fees=False).run.id

    def crash(applied: fees.Applied) -> None:  # the set: 4 payments (their fees), then 4 refunds, by id
        if applied.batches == 6:
            raise Crash

    with pytest.raises(Crash):
        fees.apply(world.ctx, run_id, batch_size=1, after_batch=crash)
    assert sum(1 for fee in _returned(world.ctx).values() if fee is not None) == 2
    assert len(_corrections(world.ctx)) == 2
    resumed = fees.apply(world.ctx, run_id, batch_size=1)
    assert resumed.done and (resumed.payments, resumed.corrections) == (2, 2)
    service.run_day(world.ctx, world.account_id, DAY)  # and a re-run on top
    assert sorted(_corrections(world.ctx)) == sorted(f"refund_fee_correction:{r.id}" for r in refunds)
    with world.ctx.db.read() as session:
        run = session.get(ReconciliationRun, run_id)
    assert run is not None and run.fee_corrections == 0 and _returned(world.ctx) == {r.id: 30 for r in refunds}


def test_a_returned_fee_as_booked_is_written_without_a_correction(world: World) -> None:
    _refunds, bill = _day(world, 2, extra=Decimal(0))
    result = _import(world, bill)
    assert set(_returned(world.ctx).values()) == {24}
    assert _corrections(world.ctx) == {} and result.run.fee_corrections == 0


def test_independent_collection_corrects_the_memo_accounts(ctx: ServiceContext) -> None:
    world = World(ctx, mode="independent")
    [refund], bill = _day(world, 1)
    _import(world, bill)
    [(key, lines)] = _corrections(ctx).items()
    assert key == f"refund_fee_correction:{refund.id}"
    assert dict(lines) == {acc.memo_channel_fee(world.merchant_id, "wechatpay").code: -6,
                           acc.memo_clearing(world.merchant_id, "wechatpay").code: 6}


def test_test_mode_refunds_get_the_fee_but_no_ledger_entry(ctx: ServiceContext) -> None:
    world = World(ctx, environment="sandbox")
    refunds, bill = _day(world, 2)
    _import(world, bill)
    assert _returned(ctx) == {r.id: 30 for r in refunds} and _corrections(ctx) == {}


def test_a_fee_set_stored_before_refunds_had_fees_still_applies(world: World, tmp_path: Path) -> None:
    item = world.payment(10_000, beijing(DAY, 9))
    result = _import(world, world.wechat_bill([world.wechat_row(item, fee=fee_yuan(item.amount) + EXTRA)]),
                     apply_fees=False)
    with duckdb.connect(":memory:") as duck:  # the set as the previous version wrote it (payment_id, no kind)
        path = f"{tmp_path}/old.parquet"
        duck.execute(f"COPY (SELECT '{item.id}' AS payment_id, 66::BIGINT AS fee, true AS write, true AS fix, "
                     f"'{world.merchant_id}' AS merchant_id, 'platform' AS mode, 'CNY' AS currency, "
                     f"60::BIGINT AS booked) TO '{path}' (FORMAT parquet)")
        content = Path(path).read_bytes()
    with world.ctx.db.transaction() as session:
        row = session.get(ReconciliationFees, result.run.id)
        assert row is not None
        row.content = content
    assert fees.apply(world.ctx, result.run.id).done
    assert list(_corrections(world.ctx)) == [f"fee_correction:{item.id}"]
    with world.ctx.db.read() as session:
        assert session.scalar(select(Payment.channel_fee).where(Payment.id == item.id)) == 66


def test_the_sandbox_bill_returns_the_refund_fee(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, _ = merchant.own_sandbox_account("wechatpay")
    payments = trade_day(platform, merchant, "wechatpay")
    ctx = platform.runtime.ctx
    with ctx.db.read() as session:
        channel_account = service.repository.account(session, account["id"])
    assert channel_account is not None
    bill = service.fetch_bill_for(ctx, channel_account, SANDBOX_DAY)
    result = service.reconcile_fetched(ctx, account["id"], bill)
    assert result.run.id == rules.run_id(account["id"], SANDBOX_DAY) and result.differences == []
    assert platform.sql("SELECT amount, channel_fee_returned FROM refunds WHERE payment_id = :p",
                        p=payments[1]["id"]) == [(550, 3)]  # 0.6 % of 5.50 yuan: 0.03300 → 3 fen
