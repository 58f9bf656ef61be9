"""Payments near midnight: held as ``cross_day`` until the neighbouring day's bill comes, matched across the
boundary when it does, never reported twice; reported ``missing_in_channel`` once the grace window ends."""

from __future__ import annotations

from datetime import timedelta

from indiepay.core.clock import BUSINESS_TZ, FixedClock
from indiepay.reconciliation import rules, service
from indiepay.reconciliation.models import ReconciliationDifference
from tests.reconciliation.world import DAY, World, beijing

NEXT = DAY + timedelta(days=1)


def test_a_payment_shifted_across_midnight_is_held_then_matched_with_the_next_days_bill(world: World) -> None:
    noon = world.payment(1_000, beijing(DAY, 12))
    late = world.payment(2_000, beijing(DAY, 23, 59, 58))
    held = world.import_bill(world.wechat_bill([world.wechat_row(noon)]))
    assert [(d.klass, d.out_trade_no) for d in held.differences] == [(rules.CROSS_DAY, late.out_trade_no)]
    shifted = world.wechat_row(late, trade_time=beijing(NEXT, 0, 0, 1).astimezone(BUSINESS_TZ))
    next_day = world.import_bill(world.wechat_bill([shifted]), day=NEXT)
    assert next_day.differences == [] and next_day.run.matched_count == 1
    with world.ctx.db.read() as session:
        before = session.get(ReconciliationDifference, held.differences[0].id)
    assert before is not None and (before.status, before.resolved_by) == (rules.RESOLVED, rules.SYSTEM_ACTOR)
    again = service.run_day(world.ctx, world.account_id, DAY)
    assert again.differences == [] and again.run.status == "balanced"


def test_a_held_payment_becomes_missing_in_channel_after_the_grace_window(world: World) -> None:
    noon = world.payment(1_000, beijing(DAY, 12))
    late = world.payment(2_000, beijing(DAY, 23, 59, 58))
    world.import_bill(world.wechat_bill([world.wechat_row(noon)]))
    clock = world.ctx.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=rules.CURRENT.grace_days + 1))
    assert service.recheck_held(world.ctx, world.account_id, DAY + timedelta(days=5)) == 1
    final = service.run_day(world.ctx, world.account_id, DAY)
    assert [(d.klass, d.out_trade_no) for d in final.differences] == [(rules.MISSING_IN_CHANNEL, late.out_trade_no)]


def test_a_payment_made_at_23_59_59_9_and_paid_at_00_00_00_1_is_matched_once(world: World) -> None:
    created = beijing(DAY, 23, 59, 59, 900_000)
    paid = beijing(NEXT, 0, 0, 0, 100_000)
    edge = world.payment(3_300, paid, created_at=created)
    other = world.payment(500, beijing(NEXT, 9))
    today = world.import_bill(world.wechat_bill([]), day=DAY)
    tomorrow = world.import_bill(world.wechat_bill([world.wechat_row(edge), world.wechat_row(other)]), day=NEXT)
    assert today.differences == [] and tomorrow.differences == []
    assert (today.run.matched_count, tomorrow.run.matched_count) == (0, 2)


def test_the_same_payment_in_the_earlier_days_bill_is_matched_across_the_boundary_once(world: World) -> None:
    created = beijing(DAY, 23, 59, 59, 900_000)
    paid = beijing(NEXT, 0, 0, 0, 100_000)
    edge = world.payment(3_300, paid, created_at=created)
    stamped_at_creation = world.wechat_row(edge, trade_time=beijing(DAY, 23, 59, 59).astimezone(BUSINESS_TZ))
    today = world.import_bill(world.wechat_bill([stamped_at_creation]), day=DAY)
    tomorrow = world.import_bill(world.wechat_bill([]), day=NEXT)
    assert today.differences == [] and today.run.matched_count == 1
    assert tomorrow.differences == [] and tomorrow.run.matched_count == 0
    assert service.run_day(world.ctx, world.account_id, DAY).differences == []
