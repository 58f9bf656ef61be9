"""What both sandbox gateways share about daily bills: when a bill is published, per-row fees, the
bill-corruption fault knobs, and short-lived download links.

**Publishing.** A bill covers one Asia/Shanghai business day ``[00:00, 24:00)``. It exists once the day has
ended *and* the gateway's clock (:mod:`indiepay.sandbox.clock`) has passed the configured publishing hour
of the next morning (09:00 by default, as WeChat Pay generates the previous day's bills from 09:00). Until
then the gateway answers its real "no bill" error. A day that has ended without trades gets an empty bill
(header and a zero summary), so reconciling a quiet day works; WeChat Pay itself answers
``NO_STATEMENT_EXIST`` for such a day. Bills are a pure function of the gateway's records, so fetching a
day twice gives the same bytes (and the same SHA1) — unless a fault knob intervenes.

**Fees** are charged per row at the account's rate (0.6 % unless configured), exact to five decimals as
WeChat Pay prints them (two for Alipay), and returned pro rata on refunds.

**Corruption knobs** (``POST /_faults`` ``{…account…, "bill_fault": {…}}``, one per request, queued; each
is consumed by the next bill fetched that it matches, so a test produces exactly one difference):

* ``fault`` — ``drop_row`` | ``change_amount`` | ``duplicate_row`` | ``shift_across_midnight`` |
  ``wrong_hash`` (WeChat Pay only: the announced ``hash_value`` does not match the file);
* ``bill_date`` (``YYYY-MM-DD``, optional: any day) and ``bill`` (``trade`` default, or ``fundflow`` for
  WeChat Pay) — which fetch consumes it;
* ``out_trade_no`` / ``out_refund_no`` (optional) — the target row: the refund row when
  ``out_refund_no`` is given, else the payment row of ``out_trade_no``, else the first payment row;
* ``amount_delta_fen`` (``change_amount``, default 1) — added to the row's amounts (refund rows: to
  the refunded amount), fee left as charged;
* ``direction`` (``shift_across_midnight``: ``next`` default | ``previous``) — the target payment's
  time at the channel becomes 00:00:00 of the next day (or 23:59:59 of the previous one). This changes
  the gateway's record, not just one file: the payment leaves this day's bill and appears in the
  neighbouring day's, as when a payment made at 23:59:59.9 is booked by the channel at 00:00:00.1.

What was applied is listed under ``bill_faults_applied`` in the ``GET /_faults`` view.
"""

from __future__ import annotations

import re
import secrets
import threading
import time as monotonic_time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from indiepay.core.clock import BUSINESS_TZ

FAULTS = frozenset({"drop_row", "change_amount", "duplicate_row", "shift_across_midnight", "wrong_hash"})
ROW_FAULTS = frozenset({"drop_row", "change_amount", "duplicate_row"})
DOWNLOAD_LIFETIME_SECONDS = 30.0
READY, NOT_ENDED, GENERATING = "ready", "not_ended", "generating"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Row = TypeVar("Row")
RowKey = tuple[str, str | None]
"""(out_trade_no, out_refund_no or None): which payment or refund a bill row records."""


class BillFaultError(ValueError):
    """A ``bill_fault`` knob that cannot be queued."""


@dataclass(frozen=True)
class BillFault:
    """One queued bill corruption (see the module docstring)."""

    fault: str
    bill_date: date | None = None
    bill: str = "trade"
    out_trade_no: str | None = None
    out_refund_no: str | None = None
    amount_delta_fen: int = 1
    direction: str = "next"

    @classmethod
    def parse(cls, data: Any, *, faults: frozenset[str], bills: frozenset[str]) -> BillFault:
        """Validate a knob body against what this gateway supports.

        Raises:
            BillFaultError: not an object, unknown fields or values.
        """
        if not isinstance(data, dict):
            raise BillFaultError("bill_fault must be an object")
        unknown = set(data) - {"fault", "bill_date", "bill", "out_trade_no", "out_refund_no", "amount_delta_fen",
                               "direction"}
        if unknown:
            raise BillFaultError(f"unknown bill_fault fields: {sorted(unknown)}")
        fault = data.get("fault")
        if fault not in faults:
            raise BillFaultError(f"bill_fault.fault must be one of {sorted(faults)}")
        bill = data.get("bill", "trade")
        if bill not in bills:
            raise BillFaultError(f"bill_fault.bill must be one of {sorted(bills)}")
        day = data.get("bill_date")
        try:
            bill_date = date.fromisoformat(day) if isinstance(day, str) and _DATE.fullmatch(day) else None
        except ValueError:
            bill_date = None
        if day is not None and bill_date is None:
            raise BillFaultError("bill_fault.bill_date must be YYYY-MM-DD")
        delta = data.get("amount_delta_fen", 1)
        if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
            raise BillFaultError("bill_fault.amount_delta_fen must be a non-zero integer")
        direction = data.get("direction", "next")
        if direction not in ("next", "previous"):
            raise BillFaultError("bill_fault.direction must be next or previous")
        targets = [data.get(name) for name in ("out_trade_no", "out_refund_no")]
        if any(value is not None and not isinstance(value, str) for value in targets):
            raise BillFaultError("bill_fault targets must be strings")
        return cls(fault=str(fault), bill_date=bill_date, bill=str(bill), out_trade_no=targets[0],
                   out_refund_no=targets[1], amount_delta_fen=delta, direction=str(direction))

    def as_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "bill_date": self.bill_date.isoformat() if self.bill_date else None,
                "bill": self.bill, "out_trade_no": self.out_trade_no, "out_refund_no": self.out_refund_no,
                "amount_delta_fen": self.amount_delta_fen, "direction": self.direction}

    def matches(self, bill: str, bill_date: date) -> bool:
        return self.bill == bill and (self.bill_date is None or self.bill_date == bill_date)


def take_faults(pending: list[dict[str, Any]], bill: str, bill_date: date) -> tuple[list[BillFault],
                                                                                     list[dict[str, Any]]]:
    """Split queued knobs (as stored) into those this fetch consumes and those that stay queued."""
    taken: list[BillFault] = []
    kept: list[dict[str, Any]] = []
    for stored in pending:
        fault = BillFault.parse(stored, faults=FAULTS, bills=frozenset({"trade", "fundflow"}))
        if fault.matches(bill, bill_date):
            taken.append(fault)
        else:
            kept.append(stored)
    return taken, kept


def bill_status(bill_date: date, now: datetime, publish_after: time) -> str:
    """``ready`` once the day has ended and the next morning's publishing hour has passed (Beijing time);
    ``not_ended`` while the day is still running (or in the future); ``generating`` in between."""
    local = now.astimezone(BUSINESS_TZ)
    next_day = bill_date + timedelta(days=1)
    if local < datetime.combine(next_day, time(), BUSINESS_TZ):
        return NOT_ENDED
    if local < datetime.combine(next_day, publish_after, BUSINESS_TZ):
        return GENERATING
    return READY


def day_bounds(bill_date: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of the business day as aware Asia/Shanghai datetimes."""
    start = datetime.combine(bill_date, time(), BUSINESS_TZ)
    return start, start + timedelta(days=1)


def shifted_time(bill_date: date, direction: str) -> datetime:
    """Where ``shift_across_midnight`` puts a payment of ``bill_date``: 00:00:00 of the next day or
    23:59:59 of the previous one, Beijing time."""
    start, end = day_bounds(bill_date)
    return end if direction == "next" else start - timedelta(seconds=1)


def fee(amount_fen: int, rate: Decimal, places: int) -> Decimal:
    """The fee on ``amount_fen`` at ``rate`` in yuan, ROUND_HALF_UP to ``places`` decimals (5 for WeChat
    Pay, whose bills print ``0.00600``; 2 for Alipay)."""
    return (Decimal(amount_fen) * rate / 100).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def opposite(value: Decimal) -> Decimal:
    """A fee as printed on the other side (charge ↔ return), without printing ``-0.00``."""
    return -value if value else value


def corrupt_rows(rows: list[tuple[RowKey, Row]], faults: list[BillFault],
                 change: Callable[[Row, RowKey, int], Row]) -> tuple[list[tuple[RowKey, Row]], list[dict[str, Any]]]:
    """Apply the row faults (drop / duplicate / change amount) to the keyed rows of one bill, in order.

    ``change(row, key, delta)`` returns a copy of the row with its amounts moved by ``delta`` fen. Returns
    the new rows and one log entry per fault (``target`` None when the bill had no such row).
    """
    out = list(rows)
    log: list[dict[str, Any]] = []
    for fault in faults:
        if fault.fault not in ROW_FAULTS:
            continue
        index = _target(out, fault)
        entry = {**fault.as_dict(), "target": None if index is None else list(out[index][0])}
        log.append(entry)
        if index is None:
            continue
        key, row = out[index]
        if fault.fault == "drop_row":
            del out[index]
        elif fault.fault == "duplicate_row":
            out.insert(index + 1, (key, row))
        else:
            out[index] = (key, change(row, key, fault.amount_delta_fen))
    return out, log


def _target(rows: list[tuple[RowKey, Any]], fault: BillFault) -> int | None:
    for index, ((out_trade_no, out_refund_no), _) in enumerate(rows):
        if fault.out_refund_no is not None:
            if out_refund_no == fault.out_refund_no:
                return index
        elif fault.out_trade_no is not None:
            if out_trade_no == fault.out_trade_no and out_refund_no is None:
                return index
        elif out_refund_no is None:
            return index
    return None


class BillDownloads:
    """Published bill files behind unguessable tokens, each valid for 30 seconds (as the real links)."""

    def __init__(self, lifetime: float = DOWNLOAD_LIFETIME_SECONDS) -> None:
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._files: dict[str, tuple[str, bytes, float]] = {}

    def publish(self, owner: str, content: bytes) -> str:
        """Keep ``content`` for ``owner`` (the account) and return its download token."""
        now = monotonic_time.monotonic()
        token = secrets.token_urlsafe(24)
        with self._lock:
            for stale in [t for t, (_, _, expires) in self._files.items() if expires <= now]:
                del self._files[stale]
            self._files[token] = (owner, content, now + self._lifetime)
        return token

    def get(self, token: str) -> tuple[str, bytes] | None:
        """(owner, content) while the token is valid; None when unknown or expired."""
        with self._lock:
            entry = self._files.get(token)
        if entry is None or entry[2] <= monotonic_time.monotonic():
            return None
        return entry[0], entry[1]
