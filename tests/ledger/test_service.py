"""Posting, replays, reversal, balances, listing and tamper detection, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from indiepay.core.clock import FixedClock
from indiepay.core.errors import Conflict, NotFound
from indiepay.db.engine import Database
from indiepay.ledger import postings as p
from indiepay.ledger import service
from indiepay.ledger.models import LedgerEntry, LedgerPosting
from indiepay.ledger.verify import verify
from tests.ledger.tamper import tamper

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
M = "mch_a"


def pay(amount: int = 10_000, mode: p.Mode = "platform", merchant_id: str = M) -> p.PostingPlan:
    return p.payment_succeeded(mode=mode, channel="wechatpay", merchant_id=merchant_id, amount=amount,
                               channel_fee=amount * 6 // 1000, platform_fee=amount * 8 // 1000)


def counts(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return session.query(LedgerEntry).count(), session.query(LedgerPosting).count()


def test_posting_is_idempotent_by_event_key(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        first = service.post(session, clock, event_key="payment_succeeded:pay_1", plan=pay())
        assert service.post(session, clock, event_key="payment_succeeded:pay_1", plan=pay()).id == first.id
    with db.transaction() as session:
        again = service.post(session, clock, event_key="payment_succeeded:pay_1", plan=pay())
    assert again.id == first.id and again.sequence == 1
    assert counts(db) == (1, 5)
    with pytest.raises(Conflict) as error, db.transaction() as session:
        service.post(session, clock, event_key="payment_succeeded:pay_1", plan=pay(amount=20_000))
    assert error.value.code == "ledger_event_mismatch"
    assert counts(db) == (1, 5)


def test_balances_are_derived_from_postings(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        service.post(session, clock, event_key="payment_succeeded:pay_1", plan=pay())
        service.post(session, clock, event_key="payment_succeeded:pay_2", plan=pay(mode="independent"))
        service.post(session, clock, event_key="payment_succeeded:pay_3", plan=pay(merchant_id="mch_b"))
        service.post(session, clock, event_key="settlement:mch_a:2026-11-25",
                     plan=p.settlement(merchant_id=M, amount=9_000))
    with db.read() as session:
        mine = {b.code: b for b in service.balances(session, M)}
        everything = service.balances(session)
        platform_only = service.balances(session, M, include_memo=False)
        payable = service.balance_of(session, "merchant_payable:mch_a:CNY")
    # owed 9_860 for the platform payment (both fees off), minus the 80 fee of the independent one, minus 9_000
    assert mine["merchant_payable:mch_a:CNY"].natural == 9_860 - 80 - 9_000 == -payable
    assert mine["payout_in_transit:mch_a:CNY"].natural == 9_000
    assert mine["memo_sales:mch_a:CNY"].natural == 10_000
    assert not any(b.code.startswith("memo_") for b in platform_only)
    assert "merchant_payable:mch_b:CNY" not in mine
    assert sum(b.balance for b in everything) == 0


def test_reversal_negates_an_entry_once(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        entry = service.post(session, clock, event_key="payment_succeeded:pay_1", plan=pay())
    with db.transaction() as session:
        undo = service.reverse(session, clock, entry.id, "posted against the wrong merchant")
        assert service.reverse(session, clock, entry.id, "again").id == undo.id
    assert undo.event_key == f"reversal:{entry.id}" and undo.reverses_entry_id == entry.id
    assert undo.event_type == "correction" and undo.sequence == 2
    with db.read() as session:
        assert all(b.balance == 0 for b in service.balances(session))
        page = service.entries(session)
    assert [e.sequence for e in page.entries] == [2, 1]
    assert dict(page.entries[0].postings) == {code: -amount for code, amount in page.entries[1].postings}
    with pytest.raises(NotFound), db.transaction() as session:
        service.reverse(session, clock, "le_missing", "x")


def test_entries_paginate_newest_first_with_filters(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        for n in range(7):
            clock.advance(timedelta(minutes=1))
            service.post(session, clock, event_key=f"payment_succeeded:pay_{n}",
                         plan=pay(merchant_id=M if n % 2 == 0 else "mch_b"))
    seen: list[int] = []
    cursor: int | None = None
    with db.read() as session:
        while True:
            page = service.entries(session, merchant_id=M, limit=2, before=cursor)
            seen += [e.sequence for e in page.entries]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert service.entries(session, event_type="settlement").entries == []
        assert service.entries(session).entries[0].occurred_at == T0 + timedelta(minutes=7)
    assert seen == [7, 5, 3, 1]


def test_verify_passes_on_an_untouched_ledger(db: Database) -> None:
    clock = FixedClock(T0)
    with db.read() as session:
        empty = verify(session)
    assert empty.ok and empty.entries_checked == 0
    with db.transaction() as session:
        for n in range(5):
            service.post(session, clock, event_key=f"payment_succeeded:pay_{n}", plan=pay(1 + n * 997))
    with db.read() as session:
        result = verify(session)
    assert result.ok and result.entries_checked == 5 and result.head_sequence == 5, result


def _ledger_of_three(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        for n in range(3):
            service.post(session, clock, event_key=f"payment_succeeded:pay_{n}", plan=pay())


def _tamper(db: Database, sql: str) -> None:
    """An attacker who owns the tables: drops the append-only triggers, then edits (see tamper.py)."""
    tamper(db, sql)


def test_verify_detects_a_changed_posting_amount(db: Database) -> None:
    _ledger_of_three(db)
    _tamper(db, "UPDATE ledger_postings SET amount = amount + 1 WHERE id = (SELECT p.id FROM ledger_postings p "
                "JOIN ledger_entries e ON e.id = p.entry_id WHERE e.sequence = 2 ORDER BY p.id LIMIT 1)")
    with db.read() as session:
        result = verify(session)
    assert not result.ok and result.first_broken_sequence == 2 and "sum" in (result.reason or "")


def test_verify_detects_a_balanced_but_changed_entry(db: Database) -> None:
    _ledger_of_three(db)
    # move one fen between two postings of entry 2: still balanced, but not what was posted
    _tamper(db, "UPDATE ledger_postings SET amount = amount + 1 WHERE id = (SELECT p.id FROM ledger_postings p "
                "JOIN ledger_entries e ON e.id = p.entry_id WHERE e.sequence = 2 ORDER BY p.amount DESC LIMIT 1)")
    _tamper(db, "UPDATE ledger_postings SET amount = amount - 1 WHERE id = (SELECT p.id FROM ledger_postings p "
                "JOIN ledger_entries e ON e.id = p.entry_id WHERE e.sequence = 2 ORDER BY p.amount ASC LIMIT 1)")
    with db.read() as session:
        result = verify(session)
    assert not result.ok and result.first_broken_sequence == 2 and "hash" in (result.reason or "")


def test_verify_detects_a_changed_entry_row(db: Database) -> None:
    _ledger_of_three(db)
    _tamper(db, "UPDATE ledger_entries SET event_type = 'fee' WHERE sequence = 3")
    with db.read() as session:
        result = verify(session)
    assert not result.ok and result.first_broken_sequence == 3 and "hash" in (result.reason or "")


def test_verify_detects_a_deleted_last_entry(db: Database) -> None:
    _ledger_of_three(db)
    _tamper(db, "DELETE FROM ledger_postings WHERE entry_id = (SELECT id FROM ledger_entries WHERE sequence = 3)")
    _tamper(db, "DELETE FROM ledger_entries WHERE sequence = 3")
    with db.read() as session:
        result = verify(session)
    assert not result.ok and result.first_broken_sequence == 3 and "head" in (result.reason or "")
