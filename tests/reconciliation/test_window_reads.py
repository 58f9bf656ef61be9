"""A run reads its window of the account's days — found by the instants its rows were created, paid or
refunded — never the account's whole history, and still finds a payment paid (or a refund settled) inside
the window long after it was created (SQLite and PostgreSQL; on SQLite the plan is checked too)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from indiepay.db.engine import sqlite_file
from indiepay.db.prepared import Prepared
from indiepay.reconciliation import repository
from indiepay.reconciliation import rules as r
from indiepay.reconciliation.matcher import Matcher
from indiepay.refunds.models import Refund
from tests.reconciliation.world import DAY, World, beijing

WEEKS_AGO = DAY - timedelta(days=20)


def test_old_rows_stay_out_and_late_ones_come_in(world: World, tmp_path: Path) -> None:
    old = world.payment(100, beijing(WEEKS_AGO, 9), out_trade_no="old_paid")
    world.refund(old, 10, beijing(WEEKS_AGO, 10))  # an old refund, settled then
    late = world.payment(200, beijing(DAY, 9), created_at=beijing(DAY - timedelta(days=3), 9),
                         out_trade_no="paid_late")
    world.payment(300, beijing(DAY, 11), status="pending", out_trade_no="pending_today")
    slow = world.refund(old, 20, beijing(DAY, 15))
    with world.ctx.db.transaction() as session:  # asked for weeks ago, settled today
        session.execute(update(Refund).where(Refund.id == slow.id).values(created_at=beijing(WEEKS_AGO, 11)))
    window = repository.Window(DAY, timedelta(seconds=r.CURRENT.boundary_seconds))
    with world.ctx.db.read() as session, (tmp_path / "local.csv").open("w", encoding="utf-8") as out:
        assert repository.export_local(session, world.account_id, window, out) == 3
    with Matcher(tmp_path) as matcher:
        matcher.load_local(tmp_path / "local.csv")
        rows = matcher._db.execute("SELECT kind, out_trade_no, amount, day_offset FROM local_raw "
                                   "ORDER BY kind, amount").fetchall()
    assert rows == [("payment", "paid_late", 200, 0), ("payment", "pending_today", 300, 0),
                    ("refund", "old_paid", 20, 0)]
    assert late.out_trade_no == "paid_late"

    database = sqlite_file(world.ctx.db.url)
    if database is None:
        return  # PostgreSQL plans from its statistics
    with world.ctx.db.read() as session:
        connection = session.connection()
        for query in repository.local_queries(world.account_id, window):
            sql, params = _positional(query, connection.dialect)
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", tuple(params))]
            searches = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
            assert searches, plan
            for step in searches:  # every table read is bounded by time, or a lookup by primary key
                assert ("_at>?" in step and "_at<?" in step) or "autoindex_payments_1 (id=?)" in step, plan


def _positional(query: Any, dialect: Any) -> tuple[str, list[Any]]:
    """The statement as SQLite runs it: every parameter here is one of its own constants."""
    compiled = Prepared(query)._for(dialect)
    return compiled.sql, [compiled.literals[name] for name in compiled.names]
