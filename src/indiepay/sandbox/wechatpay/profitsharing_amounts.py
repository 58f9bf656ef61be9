"""Where a profit-sharing transaction's money is, and the rules that keep anyone from spending it twice.

Why a separate module: three operations spend the same paid amount — refunds, sharing orders and the
final unfreeze — and the real gateway refuses whichever comes too late. Keeping the arithmetic in one
pure place (a :class:`Book` built from the order, its refunds, its sharing orders and its returns) lets
every route and the settlement apply the same rules, and lets tests check them without HTTP.

The rules, in fen:

* *shared* = every sharing line still ``PENDING`` or ``SUCCESS`` (a ``CLOSED`` line gave its money back),
  never the merchant's own unfreeze line; *returned* = every ``SUCCESS`` return;
* at most 30 % of the order total may ever be shared (``floor(total * 30 / 100)``, gross of returns);
* *frozen* = total − refunded − shared + returned: what may still be shared, and — frozen or already
  unfrozen to the merchant — what may still be refunded;
* once an unfreeze has been asked for (``unfreeze_unsplit`` or ``orders/unfreeze``) the transaction is
  finished: nothing more is shared and the unsplit amount is 0, while refunds keep their limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from indiepay.sandbox.wechatpay.orders import beijing
from indiepay.sandbox.wechatpay.protocol import GatewayError

MAX_SHARE_PERCENT = 30
LIVE_RESULTS = ("PENDING", "SUCCESS")


def shared_lines(sharings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines that hold money: PENDING or SUCCESS, not an unfreeze line."""
    return [line for doc in sharings for line in doc["receivers"]
            if line["result"] in LIVE_RESULTS and not line.get("unfreeze")]


@dataclass(frozen=True)
class Book:
    """The money of one paid transaction (see the module docstring for the rules)."""

    total: int
    profit_sharing: bool
    refunded: int
    shared: int
    returned: int
    finished: bool

    @classmethod
    def of(cls, order: dict[str, Any], refunds: Iterable[dict[str, Any]], sharings: list[dict[str, Any]],
           returns: Iterable[dict[str, Any]]) -> Book:
        return cls(
            total=int(order["total"]),
            profit_sharing=bool(order.get("profit_sharing", False)),
            refunded=sum(r["refund"] for r in refunds if r["status"] in ("PROCESSING", "SUCCESS")),
            shared=sum(line["amount"] for line in shared_lines(sharings)),
            returned=sum(r["amount"] for r in returns if r["result"] == "SUCCESS"),
            finished=any(doc.get("unfreeze") for doc in sharings),
        )

    @property
    def frozen(self) -> int:
        """What is neither refunded nor shared (after an unfreeze: what the merchant holds)."""
        return max(0, self.total - self.refunded - self.shared + self.returned)

    @property
    def unsplit(self) -> int:
        """What may still be shared (``transactions/{id}/amounts``)."""
        if not self.profit_sharing or self.finished:
            return 0
        return self.frozen

    @property
    def share_cap(self) -> int:
        """What the 30 % rule still allows to be shared."""
        return self.total * MAX_SHARE_PERCENT // 100 - self.shared

    def check_share(self, amount: int) -> None:
        """Raise the real gateway's error when a new order sharing ``amount`` may not be placed."""
        if not self.profit_sharing:
            raise GatewayError(400, "INVALID_REQUEST", "该笔订单不支持分账")
        if self.finished:
            raise GatewayError(400, "INVALID_REQUEST", "分账已完结")
        if amount > self.share_cap:
            raise GatewayError(400, "INVALID_REQUEST", "分账金额超出最大分账比例")
        if amount > self.frozen:
            raise GatewayError(403, "NOT_ENOUGH", "分账金额不足")

    def check_refund(self, amount: int) -> None:
        """A refund of a profit-sharing order may only take money that was not shared away."""
        if self.profit_sharing and amount > self.frozen:
            raise GatewayError(403, "NOT_ENOUGH", "可退款金额不足，请先分账回退")


def returnable(sharing: dict[str, Any], return_mchid: str, returns: Iterable[dict[str, Any]]) -> int | None:
    """What ``return_mchid`` may still hand back from one sharing order; ``None`` when it is not a
    MERCHANT_ID receiver of that order that was paid (SUCCESS)."""
    lines = [line for line in sharing["receivers"] if line["type"] == "MERCHANT_ID"
             and line["account"] == return_mchid and line["result"] == "SUCCESS" and not line.get("unfreeze")]
    if not lines:
        return None
    taken: int = sum(r["amount"] for r in returns if r["out_order_no"] == sharing["out_order_no"]
                and r["return_mchid"] == return_mchid and r["result"] in ("PROCESSING", "SUCCESS"))
    paid: int = sum(line["amount"] for line in lines)
    return paid - taken


def wall_clock() -> datetime:
    """The real time settlement delays run on (like refunds'; not the business clock). Tests shift it."""
    return datetime.now(UTC)


def settle_at(delay: float) -> str:
    """When something created now may settle, ``delay`` real seconds on."""
    return (wall_clock() + timedelta(seconds=delay)).isoformat()


def seconds_until_due(doc: dict[str, Any]) -> float:
    """Real seconds until a PROCESSING sharing order or return may settle (≤ 0: now)."""
    return (datetime.fromisoformat(doc["settle_at"]) - wall_clock()).total_seconds()


def due(doc: dict[str, Any], status_field: str) -> bool:
    return bool(doc[status_field] == "PROCESSING" and seconds_until_due(doc) <= 0)


def finish_sharing(doc: dict[str, Any], related: Callable[[str, str], bool], close_reason: str,
                   now: datetime) -> None:
    """PROCESSING → FINISHED: each line SUCCESS, or CLOSED with ``close_reason`` (the fault knob) or
    ``NO_RELATION`` (the receiver is not, or no longer, declared). The unfreeze line is the merchant's
    own money and always succeeds; :func:`finish_unfreeze` sets its amount."""
    stamp = beijing(now)
    for line in doc["receivers"]:
        if line["result"] != "PENDING":
            continue
        reason = None
        if not line.get("unfreeze"):
            reason = close_reason or (None if related(line["type"], line["account"]) else "NO_RELATION")
        line["result"] = "CLOSED" if reason else "SUCCESS"
        line["fail_reason"] = reason
        line["finish_time"] = stamp
    doc["state"] = "FINISHED"
    doc["finish_time"] = stamp


def finish_unfreeze(doc: dict[str, Any], entry: dict[str, Any], amount: int, now: datetime) -> None:
    """Set the unfreeze line of a finished unfreezing order to what was left (adding ``entry`` when the
    order had none: an ``unfreeze_unsplit`` order learns the amount only now)."""
    line = next((line for line in doc["receivers"] if line.get("unfreeze")), None)
    if line is None:
        line = entry
        doc["receivers"].append(line)
    line.update(amount=amount, result="SUCCESS", fail_reason=None, finish_time=beijing(now))


def finish_return(doc: dict[str, Any], now: datetime) -> None:
    """PROCESSING → SUCCESS: the receiver's money is back with the merchant."""
    doc["result"] = "SUCCESS"
    doc["finish_time"] = beijing(now)
