"""The hash chain that makes the ledger tamper-evident, as pure functions.

Entry ``n`` stores ``hash_n = sha256(hash_{n-1} + canonical_json(entry_n))`` with ``hash_0`` the genesis
value. The canonical JSON covers the sequence, event key and type, occurrence time (ISO 8601 in UTC), the
merchant, description, the reversed entry and the postings sorted by account code. Changing any stored
amount, account or field of an entry, or deleting or inserting an entry, breaks the chain from there on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from indiepay.core.clock import as_utc

GENESIS_HASH = "0" * 64


def canonical(*, sequence: int, event_key: str, event_type: str, occurred_at: datetime, merchant_id: str | None,
              description: str, reverses_entry_id: str | None, postings: Iterable[tuple[str, int]]) -> str:
    body = {
        "sequence": sequence,
        "event_key": event_key,
        "event_type": event_type,
        "occurred_at": as_utc(occurred_at).isoformat(),
        "merchant_id": merchant_id,
        "description": description,
        "reverses_entry_id": reverses_entry_id,
        "postings": [[code, amount] for code, amount in sorted(postings)],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(prev_hash: str, *, sequence: int, event_key: str, event_type: str, occurred_at: datetime,
               merchant_id: str | None, description: str, reverses_entry_id: str | None,
               postings: Iterable[tuple[str, int]]) -> str:
    """``sha256(prev_hash + canonical JSON)`` as lowercase hex."""
    payload = prev_hash + canonical(sequence=sequence, event_key=event_key, event_type=event_type,
                                    occurred_at=occurred_at, merchant_id=merchant_id, description=description,
                                    reverses_entry_id=reverses_entry_id, postings=postings)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
