"""How SQLite reads a merchant's refund list: a merchant's page walks ``ix_refunds_merchant_created`` in
order (a creation window is a range of it); one payment's refunds are found by ``ix_refunds_payment_id`` (a
handful, then sorted), never by walking all of the merchant's refunds for that payment's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.db.pagination import created_window
from indiepay.refunds import repository
from indiepay.refunds.models import Refund


def plans(db: Database, **filters: Any) -> list[str]:
    statements: list[tuple[str, Any]] = []
    with db.read() as session:
        connection = session.connection()

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            statements.append((statement, parameters))

        event.listen(connection, "before_cursor_execute", capture)
        repository.list_page(session, "mch_1", False, **{"payment_id": None, "status": None, "out_refund_no": None,
                                                         **filters}, limit=20, starting_after=None)
        event.remove(connection, "before_cursor_execute", capture)
        [(statement, parameters)] = statements
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    return [row[-1] for row in rows]


def test_the_list_reads_the_index_that_fits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    db = Database(url)
    try:
        assert plans(db) == ["SEARCH refunds USING INDEX ix_refunds_merchant_created (merchant_id=? AND livemode=?)"]
        day = created_window(Refund, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
        assert plans(db, window=day) == ["SEARCH refunds USING INDEX ix_refunds_merchant_created "
                                         "(merchant_id=? AND livemode=? AND created_at>? AND created_at<?)"]
        one_payment = plans(db, payment_id="pay_1")
        assert one_payment[0] == "SEARCH refunds USING INDEX ix_refunds_payment_id (payment_id=?)", one_payment
    finally:
        db.dispose()
