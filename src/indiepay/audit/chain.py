"""The audit hash chain as pure functions, the same construction as the ledger's
(:mod:`indiepay.ledger.chain`): ``hash_n = sha256(hash_{n-1} + canonical_json(event_n))``.

Every stored column except the row id and the hashes is covered, so changing who, what, when, where, the
result or any detail of an event, or deleting or inserting one, breaks the chain from there on. The mode
(``livemode``, migration 0029) is covered when an event has one; an event without one hashes as it did
before the column existed, so the events recorded before it still verify.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from indiepay.core.clock import as_utc

GENESIS_HASH = "0" * 64


def canonical(*, sequence: int, occurred_at: datetime, actor: str, merchant_id: str | None, action: str,
              target_type: str | None, target_id: str | None, origin: str | None, result: str,
              details: dict[str, Any], livemode: bool | None = None) -> str:
    body = {"sequence": sequence, "occurred_at": as_utc(occurred_at).isoformat(), "actor": actor,
            "merchant_id": merchant_id, "action": action, "target_type": target_type, "target_id": target_id,
            "origin": origin, "result": result, "details": details}
    if livemode is not None:
        body["livemode"] = livemode
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, **fields: Any) -> str:
    """``sha256(prev_hash + canonical JSON)`` as lowercase hex; ``fields`` are :func:`canonical`'s."""
    return hashlib.sha256((prev_hash + canonical(**fields)).encode("utf-8")).hexdigest()
