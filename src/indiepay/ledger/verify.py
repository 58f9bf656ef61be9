"""Re-check the whole ledger: the hash chain, every entry's balance and the grand total.

Used by ``indiepay ledger verify`` and by tests. The head is read *before* the entries are scanned, so
a verification running alongside writers only ever sees a chain that is at least as long as the head
it read; entries appended meanwhile are checked like the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.ledger import chain, repository
from indiepay.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting

BATCH = 1000
# plain rows, not entities: a daily check of millions of entries needs no identity map or change tracking
# (half its time went to building LedgerEntry objects)
_ENTRY_COLUMNS = (LedgerEntry.id, LedgerEntry.sequence, LedgerEntry.event_key, LedgerEntry.event_type,
                  LedgerEntry.occurred_at, LedgerEntry.merchant_id, LedgerEntry.description,
                  LedgerEntry.reverses_entry_id, LedgerEntry.prev_hash, LedgerEntry.hash)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    first_broken_sequence: int | None
    reason: str | None
    entries_checked: int
    head_sequence: int
    currency_totals: dict[str, int]


def verify(session: Session) -> VerifyResult:
    """Recompute the chain and check that every entry and all balances sum to zero.

    Returns:
        ``ok`` with the number of entries checked, or the first broken sequence and why.
    """
    head = repository.read_head(session)
    head_sequence, head_hash = (head.sequence, head.hash) if head is not None else (0, chain.GENESIS_HASH)
    expected_sequence, prev_hash = 1, chain.GENESIS_HASH
    broken: tuple[int, str] | None = None
    checked = 0
    head_seen = head_sequence == 0
    last = 0
    codes = {account_id: code for account_id, code in session.execute(select(LedgerAccount.id, LedgerAccount.code))}
    while broken is None:
        batch = list(session.connection().execute(select(*_ENTRY_COLUMNS).where(LedgerEntry.sequence > last)
                                     .order_by(LedgerEntry.sequence).limit(BATCH)))
        if not batch:
            break
        lines = _lines(session, batch[0].sequence, batch[-1].sequence, codes)
        for entry in batch:
            broken = _check(entry, lines.get(entry.id, []), expected_sequence, prev_hash)
            if broken is not None:
                break
            if entry.sequence == head_sequence:
                head_seen = True
                if entry.hash != head_hash:
                    broken = (entry.sequence, "the chain head does not match this entry's hash")
                    break
            checked += 1
            expected_sequence, prev_hash = entry.sequence + 1, entry.hash
        last = batch[-1].sequence
    if broken is None and not head_seen:
        broken = (expected_sequence, f"entries end before the chain head (sequence {head_sequence})")
    totals = repository.currency_totals(session)
    if broken is None and any(totals.values()):
        broken = (0, f"balances do not sum to zero: {totals}")
    if broken is None:
        return VerifyResult(True, None, None, checked, head_sequence, totals)
    return VerifyResult(False, broken[0], broken[1], checked, head_sequence, totals)


def _lines(session: Session, first: int, last: int, codes: dict[str, str]) -> dict[str, list[tuple[str, int]]]:
    """The postings of the entries with sequences ``first..last`` as ``(account code, amount)`` per entry.

    One range join (not an ``IN`` of a thousand ids) and account codes from ``codes`` (read once; an
    account created while verifying is read when first met). A posting on an account that does not exist
    keeps its id as the code, so its entry's hash fails to verify instead of the check crashing."""
    lines: dict[str, list[tuple[str, int]]] = {}
    rows = session.connection().execute(select(LedgerPosting.entry_id, LedgerPosting.account_id, LedgerPosting.amount)
                           .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
                           .where(LedgerEntry.sequence >= first, LedgerEntry.sequence <= last))
    for entry_id, account_id, amount in rows:
        code = codes.get(account_id)
        if code is None:
            code = session.scalar(select(LedgerAccount.code).where(LedgerAccount.id == account_id)) or account_id
            codes[account_id] = code
        lines.setdefault(entry_id, []).append((code, int(amount)))
    return lines


def _check(entry: Any, lines: list[tuple[str, int]], sequence: int, prev_hash: str) -> tuple[int, str] | None:
    """``entry``: a row of :data:`_ENTRY_COLUMNS`."""
    if entry.sequence != sequence:
        return sequence, f"sequence gap: expected {sequence}, found {entry.sequence}"
    if entry.prev_hash != prev_hash:
        return entry.sequence, "prev_hash does not match the previous entry's hash"
    if len(lines) < 2:
        return entry.sequence, "entry has fewer than two postings"
    total = sum(amount for _, amount in lines)
    if total != 0:
        return entry.sequence, f"entry postings sum to {total}, not zero"
    digest = chain.entry_hash(prev_hash, sequence=entry.sequence, event_key=entry.event_key,
                              event_type=entry.event_type, occurred_at=entry.occurred_at,
                              merchant_id=entry.merchant_id, description=entry.description,
                              reverses_entry_id=entry.reverses_entry_id, postings=lines)
    if digest != entry.hash:
        return entry.sequence, "hash mismatch: the entry or its postings were changed"
    return None
