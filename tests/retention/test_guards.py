"""Migration 0005: the database refuses to delete financial records or to change the ledger, on SQLite and
PostgreSQL, while the platform's normal updates keep working; the guards exist at head and downgrade
removes them."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from indiepay.db.engine import Database
from indiepay.db.migrate import alembic_config, upgrade
from indiepay.ledger.verify import verify
from tests.retention.conftest import Books, beijing

APPEND_ONLY = ("ledger_entries", "ledger_postings")
NEVER_DELETED = ("payments", "refunds", "settlements", "payouts", "statements", "collection_mode_changes",
                 "channel_calls", "received_notifications", "sharing_receivers", "sharing_orders", "sharing_lines",
                 "sharing_returns", "bank_statement_lines")
EXPECTED = {f"{t}_refuse_{op}" for t in APPEND_ONLY for op in ("update", "delete")} | {
    f"{t}_refuse_delete" for t in NEVER_DELETED}
AT = beijing(2026, 10, 5)


def triggers(db: Database) -> set[str]:
    sql = ("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal" if db.is_postgres
           else "SELECT name FROM sqlite_master WHERE type = 'trigger'")
    with db.engine.connect() as conn:
        return {str(name) for name in conn.execute(text(sql)).scalars()}


def refused(db: Database, sql: str) -> str:
    """Run ``sql`` expecting the database to refuse it; returns the database's message."""
    with pytest.raises(IntegrityError) as caught, db.engine.begin() as conn:
        conn.execute(text(sql))
    return str(caught.value.orig)


def count(conn: Connection, table: str) -> int:
    return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_every_guard_exists_at_head(db: Database) -> None:
    found = triggers(db)
    assert found >= EXPECTED, EXPECTED - found
    if db.is_postgres:
        assert found >= {f"{t}_refuse_truncate" for t in (*APPEND_ONLY, *NEVER_DELETED)}
    assert not any(name.startswith("ledger_chain_head") for name in found)


def test_deleting_any_financial_record_is_refused(db: Database, books: Books) -> None:
    payment_id = books.payment(AT)
    books.refund(payment_id, AT)
    books.sharing(payment_id, AT)
    books.transfer_line(payment_id, AT)
    books.settlement(AT)
    books.statement("2026-10", AT)
    books.mode_change(AT)
    with db.engine.connect() as conn:
        before = {table: count(conn, table) for table in (*APPEND_ONLY, *NEVER_DELETED)}
    assert all(before.values()), before
    for table in (*APPEND_ONLY, *NEVER_DELETED):
        message = refused(db, f"DELETE FROM {table}")
        assert table in message and "financial records are never deleted" in message, message
    with db.engine.connect() as conn:
        assert {table: count(conn, table) for table in before} == before


def test_a_payment_delete_is_refused_but_its_state_changes_go_through(db: Database, books: Books) -> None:
    payment_id = books.payment(AT)
    message = refused(db, f"DELETE FROM payments WHERE id = '{payment_id}'")
    assert "payments holds financial records: DELETE refused" in message
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE payments SET refunded_amount = 100, status = 'succeeded' WHERE id = :id"),
                     {"id": payment_id})
        conn.execute(text("UPDATE payouts SET status = 'failed', failure_code = 'bank_rejected'"))
        conn.execute(text("UPDATE statements SET status = 'final'"))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT refunded_amount FROM payments WHERE id = :id"),
                            {"id": payment_id}).scalar_one() == 100


def test_deletes_matching_no_row_are_harmless(db: Database) -> None:
    with db.engine.begin() as conn:  # row triggers only fire for rows that exist
        conn.execute(text("DELETE FROM payments WHERE id = 'pay_none'"))
        conn.execute(text("UPDATE ledger_entries SET description = 'x' WHERE sequence = -1"))


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(postgres_url: str) -> None:
    upgrade(postgres_url)
    db = Database(postgres_url)
    try:
        Books(db).payment(AT)
        for table in ("payments", "ledger_postings"):
            message = refused(db, f"TRUNCATE {table} CASCADE")
            assert "TRUNCATE refused" in message, message
    finally:
        db.dispose()


def test_downgrade_drops_the_guards_and_upgrade_restores_them(db: Database, books: Books) -> None:
    books.payment(AT)
    config = alembic_config(db.url)
    command.downgrade(config, "0004")
    assert not triggers(db) & EXPECTED
    with db.engine.begin() as conn:  # without the guards the old behaviour is back
        conn.execute(text("UPDATE ledger_entries SET description = description"))
    command.upgrade(config, "head")
    assert triggers(db) >= EXPECTED
    refused(db, "DELETE FROM payments")
    with db.read() as session:
        assert verify(session).ok
