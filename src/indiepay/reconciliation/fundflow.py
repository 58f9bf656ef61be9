"""The fund-flow check: does the money that moved through the WeChat Pay BASIC account on a business day
(its fund-flow bill, 资金账单) agree with what the day's trade bill (交易账单) says? Pure rules, no I/O.

The trade bill lists orders; the fund-flow bill lists the bookings they caused on the account, one row per
movement with its 业务类型 and its direction (收支类型 收入 / 支出), amounts always positive:

=====================  ========  =================================================================
业务类型                收支类型    matches, in the trade bill of the same day
=====================  ========  =================================================================
交易                    收入        each payment row: its 应结订单金额 (what is settled to the account;
                                  a non-recharge coupon is the merchant's, so it never arrives)
扣除交易手续费           支出        each payment row's 手续费, rounded to the fen (no row for a zero fee)
退款                    支出        each refund row: its 退款金额 (the settlement refund)
退还交易手续费           收入        each refund row's returned 手续费 (printed negative there)
anything else           either     nothing: withdrawals, top-ups, transfers — reported, never compared
=====================  ========  =================================================================

So, per day: the fund-flow's 交易 income equals the trade bill's payments, its 退款 expense the refunds,
its fee deductions the fees charged and its fee returns the fees returned, in count (rows; fee rows only
for non-zero fees) and in fen; the day's net (payments − refunds − fees charged + fees returned) follows.
Each of the four items that differs is one entry of :attr:`FundFlowCheck.disagreements`: one dropped,
duplicated or changed booking gives exactly one. Signed sums are used (a 交易 row booked as 支出 lowers
the income), so a booking with the wrong direction is a disagreement too, never silently skipped.

The stored form (:meth:`FundFlowCheck.as_dict`, the run's ``fundflow`` field) is what the API and the CLI
show; its keys are stable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from indiepay.reconciliation.parsers.wechat_fundflow import INCOME, WechatFundFlowRow

TRADE, REFUND, FEE_CHARGED, FEE_RETURNED = "交易", "退款", "扣除交易手续费", "退还交易手续费"
ITEMS = ("payments", "refunds", "fees_charged", "fees_returned")
"""The compared items, in the order they are reported."""
_ITEM_OF = {TRADE: "payments", REFUND: "refunds", FEE_CHARGED: "fees_charged", FEE_RETURNED: "fees_returned"}
_INWARD = {"payments": True, "refunds": False, "fees_charged": False, "fees_returned": True}
"""The direction each item's money normally moves in (True: into the account)."""

AGREED, DISAGREED, MISSING = "agreed", "disagreed", "missing"
"""A run's fund-flow status: the bills agree, they do not, or no fund-flow bill is stored for the day."""


@dataclass(frozen=True)
class Figure:
    """A count of rows and their amount in fen (positive in the item's usual direction)."""

    count: int = 0
    amount: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "amount": self.amount}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Figure:
        return cls(int(data["count"]), int(data["amount"]))


@dataclass(frozen=True)
class Totals:
    """One bill's side of the comparison: a :class:`Figure` per item of :data:`ITEMS`."""

    payments: Figure = Figure()
    refunds: Figure = Figure()
    fees_charged: Figure = Figure()
    fees_returned: Figure = Figure()

    @property
    def net(self) -> int:
        """What the trade moved into the account, in fen: payments − refunds − fees charged + fees returned."""
        return (self.payments.amount - self.refunds.amount - self.fees_charged.amount
                + self.fees_returned.amount)

    def item(self, name: str) -> Figure:
        figure: Figure = getattr(self, name)
        return figure

    def as_dict(self) -> dict[str, Any]:
        return {**{name: self.item(name).as_dict() for name in ITEMS}, "net": self.net}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Totals:
        return cls(**{name: Figure.of(data[name]) for name in ITEMS})


@dataclass
class FlowTally:
    """The fund-flow bill's side, added up row by row as the parser streams them (:meth:`add`)."""

    rows: int = 0
    _items: dict[str, list[int]] = field(default_factory=lambda: {name: [0, 0] for name in ITEMS})
    other_income: list[int] = field(default_factory=lambda: [0, 0])
    other_expense: list[int] = field(default_factory=lambda: [0, 0])

    def add(self, row: WechatFundFlowRow) -> None:
        self.rows += 1
        name = _ITEM_OF.get(row.business_type)
        if name is None:
            other = self.other_income if row.direction == INCOME else self.other_expense
            other[0] += 1
            other[1] += row.amount_fen
            return
        item = self._items[name]
        item[0] += 1
        item[1] += row.signed_amount_fen if _INWARD[name] else -row.signed_amount_fen

    def totals(self) -> Totals:
        return Totals(**{name: Figure(count, amount) for name, (count, amount) in self._items.items()})

    def other(self) -> dict[str, dict[str, int]]:
        return {"income": Figure(*self.other_income).as_dict(), "expense": Figure(*self.other_expense).as_dict()}

    def as_record(self) -> dict[str, Any]:
        """The sums as stored with the bill (:meth:`of_record` reads them back), so no run reads it again."""
        return {"rows": self.rows, "items": {name: list(item) for name, item in self._items.items()},
                "other_income": list(self.other_income), "other_expense": list(self.other_expense)}

    @classmethod
    def of_record(cls, record: dict[str, Any]) -> FlowTally:
        return cls(rows=int(record["rows"]),
                   _items={name: [int(v) for v in record["items"][name]] for name in ITEMS},
                   other_income=[int(v) for v in record["other_income"]],
                   other_expense=[int(v) for v in record["other_expense"]])


def tally(rows: Iterable[WechatFundFlowRow]) -> FlowTally:
    """Add up a fund-flow bill's rows (a stream: nothing is kept but the sums)."""
    out = FlowTally()
    for row in rows:
        out.add(row)
    return out


@dataclass(frozen=True)
class FundFlowCheck:
    """The comparison of one day's fund-flow bill with its trade bill."""

    bill_sha1: str | None
    bill_rows: int
    trade: Totals
    fundflow: Totals | None
    other: dict[str, dict[str, int]]

    @property
    def disagreements(self) -> list[dict[str, Any]]:
        """One entry per item whose count or amount differs (none while no fund-flow bill is stored)."""
        if self.fundflow is None:
            return []
        found = []
        for name in ITEMS:
            ours, theirs = self.trade.item(name), self.fundflow.item(name)
            if ours != theirs:
                found.append({"item": name, "trade_count": ours.count, "fundflow_count": theirs.count,
                              "trade_amount": ours.amount, "fundflow_amount": theirs.amount,
                              "difference": theirs.amount - ours.amount})
        return found

    @property
    def status(self) -> str:
        if self.fundflow is None:
            return MISSING
        return DISAGREED if self.disagreements else AGREED

    def as_dict(self) -> dict[str, Any]:
        """The run's ``fundflow`` field (see the module docstring)."""
        return {"status": self.status, "bill_sha1": self.bill_sha1, "bill_rows": self.bill_rows,
                "trade": self.trade.as_dict(),
                "fundflow": self.fundflow.as_dict() if self.fundflow is not None else None,
                "other": self.other, "disagreements": self.disagreements}


def check(trade: Totals, flow: FlowTally | None, bill_sha1: str | None) -> FundFlowCheck:
    """Compare a day's trade-bill totals with its fund-flow tally (``None``: no fund-flow bill yet)."""
    if flow is None:
        return FundFlowCheck(bill_sha1=None, bill_rows=0, trade=trade, fundflow=None, other={})
    return FundFlowCheck(bill_sha1=bill_sha1, bill_rows=flow.rows, trade=trade, fundflow=flow.totals(),
                         other=flow.other())


def recheck(stored: dict[str, Any], flow: FlowTally, bill_sha1: str) -> FundFlowCheck:
    """Compare a fund-flow bill that arrived after the run with the trade totals the run stored."""
    return check(Totals.of(stored["trade"]), flow, bill_sha1)
