"""What an archive holds, and how each table's rows are dated into months.

Most tables are dated by an instant (``created_at``), turned into a Beijing-time month. Settlements are
dated by their business day and statements by the month they cover, so that a month's archive holds the
settlements and the statement *of* that month even though they are written just after it ends.

The ledger is archived differently (:mod:`indiepay.retention.ledger_export`): by sequence, so that
every archive holds one unbroken run of the hash chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, Table

from indiepay.ledger.models import LedgerAccount
from indiepay.merchants.models import CollectionModeChange
from indiepay.notify.models import ReceivedNotification
from indiepay.payments.models import ChannelCall, Payment
from indiepay.refunds.models import Refund
from indiepay.retention.policy import Month
from indiepay.settlements.models import Payout, Settlement
from indiepay.sharing.models import SharingLine, SharingOrder, SharingReceiver, SharingReturn
from indiepay.statements.models import Statement
from indiepay.transfers.models import StatementLine

DatedBy = Literal["instant", "day", "month"]

LEDGER_ENTRIES = "ledger_entries"
LEDGER_POSTINGS = "ledger_postings"


@dataclass(frozen=True)
class Archived:
    """One archived table: its rows are dated by ``column``, which holds an instant, a day or a month."""

    table: Table
    column: str
    dated_by: DatedBy

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def date_column(self) -> ColumnElement[object]:
        return self.table.c[self.column]

    def bound(self, month: Month) -> datetime | str:
        """The value that starts ``month`` in this table's date column (rows before it are older)."""
        if self.dated_by == "instant":
            return month.start()
        return f"{month}-01" if self.dated_by == "day" else str(month)

    def month_of(self, value: object) -> Month:
        """The month a stored date value belongs to."""
        if isinstance(value, datetime):
            return Month.of(value)
        return Month.parse(str(value)[:7])


def _table(model: type[object]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


TABLES: tuple[Archived, ...] = (
    Archived(_table(Payment), "created_at", "instant"),
    Archived(_table(Refund), "created_at", "instant"),
    Archived(_table(ChannelCall), "created_at", "instant"),
    Archived(_table(ReceivedNotification), "received_at", "instant"),
    Archived(_table(Settlement), "business_date", "day"),
    Archived(_table(Payout), "created_at", "instant"),
    Archived(_table(Statement), "month", "month"),
    Archived(_table(CollectionModeChange), "created_at", "instant"),
    Archived(_table(LedgerAccount), "created_at", "instant"),
    Archived(_table(SharingReceiver), "created_at", "instant"),
    Archived(_table(SharingOrder), "created_at", "instant"),
    Archived(_table(SharingLine), "created_at", "instant"),
    Archived(_table(SharingReturn), "created_at", "instant"),
    Archived(_table(StatementLine), "created_at", "instant"),
)
"""The tables exported month by month, in the order they are written."""
