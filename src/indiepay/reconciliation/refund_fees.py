"""Ledger corrections for the channel fee returned on refunds, per the bill (part of the fee job, :mod:`.fees`).

A refund's ledger entry (``refund_succeeded:<refund id>``) returned a share of the payment's channel fee by
the cumulative proportional rule (:func:`indiepay.ledger.fees.refund_fee`), computed from the rate. The
bill prints what the channel actually returned (WeChat Pay: the 手续费 of the refund row, negative). Where
the two differ, one correction entry, ``refund_fee_correction:<refund id>``, moves the books to the bill's
figure (:func:`.rules.refund_fee_correction_lines`) — never an edit of the refund's entry, and posted once:
an existing key is skipped, so re-runs, resumed jobs and racing workers add nothing.

What was booked is read from the refund's own ledger entry (its posting on the channel fee account of the
payment's mode), not recomputed: the share a partial refund returned depends on the refunds before it, in
the order the payment core recorded them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.ledger import accounts as acc
from indiepay.ledger import postings
from indiepay.ledger import repository as ledger_repository
from indiepay.ledger.appender import PostRequest
from indiepay.ledger.service import post_many
from indiepay.reconciliation import rules as r

Row = tuple[Any, ...]  # a fee-set row: id, fee, write, fix, merchant_id, mode, currency, booked, kind


def correction_key(refund_id: str) -> str:
    return f"refund_fee_correction:{refund_id}"


def _fee_account(channel: str, merchant_id: str, mode: str, currency: str) -> str:
    """The code of the account a refund's returned channel fee is booked on, in the payment's mode."""
    if mode == "platform":
        return acc.channel_fee_expense(channel, currency).code
    return acc.memo_channel_fee(merchant_id, channel, currency).code


def booked_returns(session: Session, channel: str, refunds: Sequence[Row]) -> dict[str, int]:
    """``refund id -> returned channel fee`` as the refunds' ledger entries booked it (refunds without an
    entry are left out: nothing was booked, so there is nothing to correct)."""
    keys = {f"refund_succeeded:{item[0]}": item for item in refunds}
    entries = ledger_repository.entry_ids_by_key(session, list(keys))
    lines = ledger_repository.entry_lines(session, list(entries.values()))
    booked: dict[str, int] = {}
    for key, entry_id in entries.items():
        refund_id, _fee, _write, _fix, merchant_id, mode, currency, *_ = keys[key]
        code = _fee_account(channel, merchant_id, mode, currency)
        booked[refund_id] = -sum(amount for line_code, amount in lines[entry_id] if line_code == code)
    return booked


def correct(session: Session, clock: Clock, channel: str, fixes: Sequence[Row]) -> int:
    """Post one ``refund_fee_correction:<refund id>`` per refund in ``fixes`` whose booked returned fee
    differs from the bill's and that was not corrected before; returns how many were posted."""
    if not fixes:
        return 0
    done = ledger_repository.entry_ids_by_key(session, [correction_key(item[0]) for item in fixes])
    todo = [item for item in fixes if correction_key(item[0]) not in done]
    booked = booked_returns(session, channel, todo)
    requests = []
    for refund_id, actual, _write, _fix, merchant_id, mode, currency, *_ in todo:
        if refund_id not in booked or booked[refund_id] == actual:
            continue
        lines = r.refund_fee_correction_lines(mode=mode, channel=channel, merchant_id=merchant_id,
                                              currency=currency, delta=actual - booked[refund_id])
        plan = postings.correction(lines=lines, merchant_id=merchant_id,
                                   description=(f"channel fee returned on {refund_id} per the bill: {actual} fen, "
                                                f"booked {booked[refund_id]} fen"))
        requests.append(PostRequest(correction_key(refund_id), plan, None, None))
    for start in range(0, len(requests), 1000):
        post_many(session, clock, requests[start:start + 1000])
    return len(requests)
