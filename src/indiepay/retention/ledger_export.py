"""Exporting the ledger: one unbroken run of the hash chain, split into month files.

The chain is ordered by sequence, not by date, so the ledger part of an archive is chosen by sequence:
it ends just before the first entry recorded on or after the ``before`` month, and (with ``since``) starts
at the first entry recorded on or after ``since``. Consecutive archives (``--since A --before B``, then
``--since B --before C``) therefore tile the chain exactly, without gap or overlap, even if two servers'
clocks disagreed slightly about when an entry was recorded.

Entries are dated by ``created_at`` (when they joined the chain). An entry is filed under its own month or
the month of the entry before it, whichever is later, so that every month file holds one contiguous run
of sequences and a verifier can read the files one after another. Postings are filed with their entry.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from indiepay.ledger.chain import GENESIS_HASH
from indiepay.retention import repository
from indiepay.retention.jsonl import write_months
from indiepay.retention.manifest import FileRecord, LedgerSegment
from indiepay.retention.policy import Month
from indiepay.retention.tables import LEDGER_ENTRIES, LEDGER_POSTINGS


def sequence_range(session: Session, since: Month | None, before: Month) -> tuple[int, int]:
    """``(first, last)`` sequences of the ledger segment for ``[since, before)``; empty when first > last."""
    after_end = repository.first_sequence_from(session, before.start())
    last = after_end - 1 if after_end is not None else repository.last_sequence(session)
    if since is None:
        return 1, last
    start = repository.first_sequence_from(session, since.start())
    return (start if start is not None else last + 1), last


def _dated_entries(session: Session, first: int, last: int, since: Month | None
                   ) -> Iterator[tuple[Month, dict[str, Any]]]:
    month = since
    for row in repository.stream_entries(session, first, last):
        own = Month.of(row["created_at"])
        month = own if month is None or own > month else month
        yield month, row


def _dated_postings(session: Session, first: int, last: int, entry_files: list[FileRecord]
                    ) -> Iterator[tuple[Month, dict[str, Any]]]:
    starts = [int(record.first_sequence or 0) for record in entry_files]
    months = [Month.parse(record.month) for record in entry_files]
    for row in repository.stream_postings(session, first, last):
        yield months[bisect.bisect_right(starts, int(row["entry_sequence"])) - 1], row


def export_ledger(session: Session, root: Path, since: Month | None, before: Month
                  ) -> tuple[list[FileRecord], LedgerSegment]:
    """Write the entries and postings of the segment for ``[since, before)`` under ``root``.

    Returns:
        The files written (entries, then postings) and the segment's sequences and chain hashes.
    """
    first, last = sequence_range(session, since, before)
    if first > last:
        return [], LedgerSegment()
    prev_hash = GENESIS_HASH if first == 1 else repository.entry_hash(session, first - 1)
    entry_files = write_months(root, LEDGER_ENTRIES, _dated_entries(session, first, last, since),
                               sequence_key="sequence")
    posting_files = write_months(root, LEDGER_POSTINGS, _dated_postings(session, first, last, entry_files),
                                 sequence_key="entry_sequence")
    segment = LedgerSegment(first_sequence=first, last_sequence=last,
                            entries=sum(r.rows for r in entry_files), postings=sum(r.rows for r in posting_files),
                            prev_hash=prev_hash, first_hash=repository.entry_hash(session, first),
                            last_hash=repository.entry_hash(session, last))
    return [*entry_files, *posting_files], segment
