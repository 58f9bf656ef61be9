"""Appending entries to the ledger, one or thousands per transaction, with few statements.

Posting is on the path of every callback and of every settlement batch, so it is written in SQL Core
rather than the ORM and does the same small, fixed number of statements whatever the batch size: lock the
chain head, look up which event keys exist, resolve account ids (from a per-database cache, then one
SELECT, then inserts for accounts never used before), insert the entries and their postings with
executemany, move the head. Hashes are computed in Python in sequence order.

The account-id cache only learns ids after the transaction that read or created them commits, so a
rolled-back account insert can never leave a dangling id behind. Accounts are never deleted, so a
cached id stays valid for the life of the database.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.core.clock import Clock, as_utc
from indiepay.core.errors import Conflict, InvalidRequest
from indiepay.core.ids import new_id
from indiepay.db.prepared import Prepared
from indiepay.ledger import chain, repository
from indiepay.ledger.accounts import AccountRef
from indiepay.ledger.models import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerPosting
from indiepay.ledger.postings import PostingPlan

ENTRIES: Table = LedgerEntry.__table__  # type: ignore[assignment]
POSTINGS: Table = LedgerPosting.__table__  # type: ignore[assignment]
ACCOUNTS: Table = LedgerAccount.__table__  # type: ignore[assignment]
HEAD: Table = LedgerChainHead.__table__  # type: ignore[assignment]
IN_CHUNK = 500  # keys per IN (...) lookup

# Compiled once and run on the driver (indiepay.db.prepared): a callback posts one entry, and building or
# even running these through SQLAlchemy costs more than SQLite spends on them. Batches (settlement runs)
# take the executemany and expanding-IN forms below.
_HEAD_FOR_UPDATE = Prepared(select(HEAD.c.sequence, HEAD.c.hash).where(HEAD.c.id == repository.HEAD_ID)
                            .with_for_update())
_MOVE_HEAD = Prepared(update(HEAD).where(HEAD.c.id == repository.HEAD_ID)
                      .values(sequence=bindparam("new_sequence", type_=HEAD.c.sequence.type),
                              hash=bindparam("new_hash", type_=HEAD.c.hash.type)))
_STORED_COLUMNS = (ENTRIES.c.id, ENTRIES.c.event_key, ENTRIES.c.event_type, ENTRIES.c.sequence,
                   ENTRIES.c.reverses_entry_id)
_EXISTING = select(*_STORED_COLUMNS).where(ENTRIES.c.event_key.in_(bindparam("keys", expanding=True)))
_EXISTING_ONE = Prepared(select(*_STORED_COLUMNS).where(ENTRIES.c.event_key == bindparam("key")))
_ENTRY_COLUMNS = ("id", "event_key", "event_type", "merchant_id", "description", "occurred_at", "created_at",
                  "reverses_entry_id", "sequence", "prev_hash", "hash")
_INSERT_ENTRY = Prepared(insert(ENTRIES), _ENTRY_COLUMNS)
_ACCOUNT_IDS = select(ACCOUNTS.c.id, ACCOUNTS.c.code).where(ACCOUNTS.c.code.in_(bindparam("codes", expanding=True)))
_INSERT_ENTRIES = insert(ENTRIES)
_INSERT_ACCOUNTS = insert(ACCOUNTS)
_RAW_POSTINGS_QMARK = "INSERT INTO ledger_postings (id, entry_id, account_id, amount) VALUES (?, ?, ?, ?)"
_RAW_POSTINGS_FORMAT = "INSERT INTO ledger_postings (id, entry_id, account_id, amount) VALUES (%s, %s, %s, %s)"

_PENDING_IDS = "indiepay.ledger.pending_account_ids"


class _Stored(NamedTuple):
    """An entry already posted for an event key (as the single-key read returns it)."""

    id: str
    event_key: str
    event_type: str
    sequence: int
    reverses_entry_id: str | None


@dataclass(frozen=True)
class PostRequest:
    """One business event to post: its key, its balanced plan, when it happened."""

    event_key: str
    plan: PostingPlan
    occurred_at: datetime | None = None
    reverses_entry_id: str | None = None


@dataclass(frozen=True)
class PostedEntry:
    """The entry for a request: new, or the one posted earlier for the same event (``replayed``)."""

    id: str
    sequence: int
    event_key: str
    event_type: str
    replayed: bool
    reverses_entry_id: str | None = None


class _AccountIds:
    """``code -> id`` per database engine, filled only with committed rows."""

    def __init__(self) -> None:
        self._by_engine: weakref.WeakKeyDictionary[Engine, dict[str, str]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def known(self, engine: Engine) -> dict[str, str]:
        with self._lock:
            return self._by_engine.setdefault(engine, {})

    def learn_after_commit(self, session: Session, engine: Engine, ids: dict[str, str]) -> None:
        pending: dict[str, str] | None = session.info.get(_PENDING_IDS)
        if pending is None:
            pending = session.info[_PENDING_IDS] = {}

            def committed(_session: Session) -> None:
                learned = session.info.pop(_PENDING_IDS, {})
                with self._lock:
                    self._by_engine.setdefault(engine, {}).update(learned)

            def rolled_back(_session: Session) -> None:
                session.info.pop(_PENDING_IDS, None)

            event.listen(session, "after_commit", committed, once=True)
            event.listen(session, "after_rollback", rolled_back, once=True)
        pending.update(ids)


ACCOUNT_IDS = _AccountIds()


def _check(request: PostRequest) -> datetime | None:
    if not request.event_key or len(request.event_key) > 200:
        raise InvalidRequest("an event key must be 1-200 characters", code="invalid_event_key")
    if request.occurred_at is not None and request.occurred_at.tzinfo is None:
        raise InvalidRequest("occurred_at must be timezone-aware", code="invalid_request")
    return as_utc(request.occurred_at) if request.occurred_at is not None else None


def append(session: Session, clock: Clock, requests: Sequence[PostRequest]) -> list[PostedEntry]:
    """Post every request once (idempotent by event key), in order; returns one entry per request.

    Raises:
        Conflict (``ledger_event_mismatch``): an event key was posted before (or earlier in the batch)
            with different postings.
        InvalidRequest: an event key is empty or too long, or an ``occurred_at`` is naive.
    """
    times = [_check(r) for r in requests]
    head_sequence, head_hash = _lock_head(session)  # serialises appenders; reads below see their commits
    existing = _existing(session, [r.event_key for r in requests])
    now = clock.now()
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    account_ids = _account_ids(session, engine, [r.plan for r in requests], now)
    results: list[PostedEntry] = []
    new_in_batch: dict[str, tuple[PostedEntry, PostingPlan]] = {}
    entry_rows: list[dict[str, Any]] = []
    posting_rows: list[tuple[str, str, str, int]] = []
    for request, when in zip(requests, times, strict=True):
        plan = request.plan
        if request.event_key in existing:
            results.append(_replayed(session, existing[request.event_key], plan))
            continue
        if request.event_key in new_in_batch:
            earlier, earlier_plan = new_in_batch[request.event_key]
            if earlier_plan.event_type != plan.event_type or earlier_plan.lines() != plan.lines():
                raise _mismatch(request.event_key, earlier.id)
            results.append(PostedEntry(earlier.id, earlier.sequence, earlier.event_key, earlier.event_type, True,
                                       earlier.reverses_entry_id))
            continue
        occurred = when or now
        head_sequence += 1
        description = plan.description[:255]
        prev_hash = head_hash
        head_hash = chain.entry_hash(prev_hash, sequence=head_sequence, event_key=request.event_key,
                                     event_type=plan.event_type, occurred_at=occurred,
                                     merchant_id=plan.merchant_id, description=description,
                                     reverses_entry_id=request.reverses_entry_id, postings=plan.lines())
        entry_id = entry_id_for(head_sequence)
        entry_rows.append({"id": entry_id, "event_key": request.event_key, "event_type": plan.event_type,
                           "merchant_id": plan.merchant_id, "description": description, "occurred_at": occurred,
                           "created_at": now, "reverses_entry_id": request.reverses_entry_id,
                           "sequence": head_sequence, "prev_hash": prev_hash,
                           "hash": head_hash})
        posting_rows.extend((f"lp_{head_sequence:014d}_{n}", entry_id, account_ids[p.account.code], p.amount)
                            for n, p in enumerate(plan.postings))
        entry = PostedEntry(entry_id, head_sequence, request.event_key, plan.event_type, False,
                            request.reverses_entry_id)
        new_in_batch[request.event_key] = (entry, plan)
        results.append(entry)
    if entry_rows:
        # the head lock is held and the keys were checked under it: no other writer can insert them now;
        # the unique constraint on event_key stays as the backstop (it fails the whole unit of work)
        if len(entry_rows) == 1:
            _INSERT_ENTRY.execute(session, entry_rows[0])
        else:
            session.execute(_INSERT_ENTRIES, entry_rows)
        _insert_postings(session, posting_rows)
        _MOVE_HEAD.execute(session, {"new_sequence": head_sequence, "new_hash": head_hash})
    return results


def entry_id_for(sequence: int) -> str:
    """Entry and posting ids follow the sequence (``le_00000000000042``, ``lp_00000000000042_0``): unique
    because sequences are, and in append order, so their primary-key indexes grow at the end instead of
    splitting pages at random — the difference is large on a busy ledger. The sequence is public anyway."""
    return f"le_{sequence:014d}"


def _insert_postings(session: Session, rows: list[tuple[str, str, str, int]]) -> None:
    """Postings straight through the driver's executemany: five plain columns per row and five rows per
    entry, where SQLAlchemy's per-row parameter processing would cost more than the insert itself."""
    connection = session.connection()
    statement = _RAW_POSTINGS_QMARK if connection.dialect.paramstyle == "qmark" else _RAW_POSTINGS_FORMAT
    connection.exec_driver_sql(statement, rows)


def _lock_head(session: Session) -> tuple[int, str]:
    rows = _HEAD_FOR_UPDATE.rows(session, {})
    if not rows:
        repository.lock_head(session)  # a database not built by the migrations: create the genesis row
        rows = _HEAD_FOR_UPDATE.rows(session, {})
    sequence, hash_ = rows[0]
    return int(sequence), str(hash_)


def _existing(session: Session, keys: Sequence[str]) -> dict[str, Any]:
    unique = list(dict.fromkeys(keys))
    if len(unique) == 1:  # a callback's one entry
        return {row[1]: _Stored._make(row) for row in _EXISTING_ONE.rows(session, {"key": unique[0]})}
    found: dict[str, Any] = {}
    for start in range(0, len(unique), IN_CHUNK):
        chunk = unique[start:start + IN_CHUNK]
        found.update({row.event_key: row for row in session.execute(_EXISTING, {"keys": chunk})})
    return found


def _replayed(session: Session, row: Any, plan: PostingPlan) -> PostedEntry:
    stored = repository.entry_lines(session, [row.id])[row.id]
    if row.event_type != plan.event_type or stored != plan.lines():
        raise _mismatch(row.event_key, row.id)
    return PostedEntry(row.id, int(row.sequence), row.event_key, row.event_type, True, row.reverses_entry_id)


def _mismatch(event_key: str, entry_id: str) -> Conflict:
    return Conflict(f"ledger event {event_key} was already posted with different postings",
                    code="ledger_event_mismatch", details={"event_key": event_key, "entry_id": entry_id})


def _account_ids(session: Session, engine: Engine, plans: Sequence[PostingPlan], now: datetime) -> dict[str, str]:
    refs: dict[str, AccountRef] = {p.account.code: p.account for plan in plans for p in plan.postings}
    cached = ACCOUNT_IDS.known(engine)
    ids = {code: cached[code] for code in refs if code in cached}
    missing = [code for code in refs if code not in ids]
    learned: dict[str, str] = {}
    for start in range(0, len(missing), IN_CHUNK):
        chunk = missing[start:start + IN_CHUNK]
        learned.update({row.code: row.id for row in session.execute(_ACCOUNT_IDS, {"codes": chunk})})
    created = [{"id": new_id("lacct"), "code": code, "kind": refs[code].kind, "merchant_id": refs[code].merchant_id,
                "channel": refs[code].channel, "currency": refs[code].currency, "created_at": now}
               for code in missing if code not in learned]
    if created:
        try:
            session.execute(_INSERT_ACCOUNTS, created)  # under the head lock: no other appender races us
        except IntegrityError as exc:  # pragma: no cover - only a writer outside append() could cause this
            raise Conflict("a ledger account was created concurrently; retry", code="ledger_busy") from exc
        learned.update({str(row["code"]): str(row["id"]) for row in created})
    if learned:
        ACCOUNT_IDS.learn_after_commit(session, engine, learned)
    ids.update(learned)
    return ids
