"""The local side of a day leaves the database as CSV lines the database formats itself and DuckDB reads
back exactly — awkward order numbers (quotes, commas, backslashes) and missing fees included (SQLite and
PostgreSQL); on a SQLite file the ADBC export loads the very same rows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from indiepay.reconciliation import repository
from indiepay.reconciliation import rules as r
from indiepay.reconciliation.matcher import Matcher
from tests.reconciliation.world import DAY, World, beijing


def test_awkward_text_and_nulls_survive_the_export(world: World, tmp_path: Path) -> None:
    odd = ["it's,\"quoted\"", "back\\slash", "NULL-ish", "plain_000001"]
    payments = [world.payment(100 + n, beijing(DAY, 10 + n), out_trade_no=number) for n, number in enumerate(odd)]
    world.refund(payments[0], 50, beijing(DAY, 23, 59, 30))
    late = world.payment(7, beijing(DAY + timedelta(days=1), 0, 5), out_trade_no="next_day_01")
    window = repository.Window(DAY, timedelta(seconds=r.CURRENT.boundary_seconds))
    with world.ctx.db.read() as session, (tmp_path / "local.csv").open("w", encoding="utf-8") as out:
        assert repository.export_local(session, world.account_id, window, out) == 6
    with Matcher(tmp_path) as matcher:
        matcher.load_local(tmp_path / "local.csv")
        rows = matcher._db.execute("""
            SELECT kind, out_trade_no, out_refund_no, amount, channel_fee, livemode, day_offset, near
            FROM local_raw ORDER BY kind, amount""").fetchall()
    refund_no = rows[-1][2]
    assert rows == [("payment", "next_day_01", "", 7, None, 1, 1, 0),
                    *[("payment", number, "", 100 + n, None, 1, 0, 0) for n, number in enumerate(odd)],
                    ("refund", odd[0], refund_no, 50, None, 1, 0, 1)]
    assert refund_no and late.out_trade_no == "next_day_01"


