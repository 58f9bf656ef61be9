"""Bank transfer (对公/对私转账) behind the channel port, for one receiving bank account.

No gateway stands behind it: the buyer transfers the amount to the merchant's account from their own bank
and writes the payment's **reference code** in the transfer's memo (附言). The payment is matched when the
transfer shows up — on a bank statement the merchant imports, or confirmed by hand (see
:mod:`indiepay.transfers`). So the adapter only prepares what the buyer is shown; the bank can be asked
nothing, has no callbacks, no bills here, and a refund is a transfer the merchant sends back themselves.

The reference is derived from the account number and ``out_trade_no`` (so a retried prepare shows the same
code): ``IP`` and eight Crockford base-32 characters (no I, L, O or U, so it survives being read aloud or
typed by hand), 40 bits — two pending payments of one account sharing a code is a ~1-in-10¹² event, and
the matcher refuses to guess if it ever happens.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime

from indiepay.channels.base import (
    BillFile,
    BillKindUnsupported,
    ChannelAdapter,
    ChannelMethod,
    ChannelPayment,
    ChannelRefund,
    IncomingNotification,
    Notification,
    NotificationRejected,
    NotificationReply,
    PrepayRequest,
    PrepayResult,
    RefundRequest,
    RefundState,
    TerminalChannelError,
    TradeState,
)
from indiepay.channels.without_sharing import ProfitSharingNotOffered

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PREFIX = "IP"
# a reference as a payer may have typed it: any case, spaces or hyphens inside
_REFERENCE_IN_TEXT = re.compile(r"IP[0-9A-HJKMNP-TV-Z]{8}")
AWAITING = "AWAITING_TRANSFER"
MANUAL_REFUND = "REFUND_MANUAL"


def reference_code(account_number: str, out_trade_no: str) -> str:
    """The code the buyer writes in the transfer memo for this order."""
    digest = int.from_bytes(hashlib.sha256(f"{account_number}:{out_trade_no}".encode()).digest()[:5], "big")
    return REFERENCE_PREFIX + "".join(CROCKFORD[(digest >> shift) & 31] for shift in range(35, -1, -5))


def references_in(memo: str) -> list[str]:
    """Every reference code in a statement line's memo, tolerant of case, spaces and hyphens."""
    squeezed = re.sub(r"[\s\-_]", "", memo.upper())
    return list(dict.fromkeys(_REFERENCE_IN_TEXT.findall(squeezed)))


class BankTransferAdapter(ProfitSharingNotOffered):
    """:class:`indiepay.channels.base.ChannelAdapter` for a receiving bank account."""

    channel = "bank_transfer"

    def __init__(self, *, account_name: str, bank_name: str, account_number: str, branch: str | None) -> None:
        self.account_name = account_name
        self.bank_name = bank_name
        self.account_number = account_number
        self.branch = branch

    def prepay(self, request: PrepayRequest) -> PrepayResult:
        """What the buyer needs to transfer: the account, the exact amount and the reference code."""
        if request.method != ChannelMethod.BANK_TRANSFER:
            raise TerminalChannelError(f"{request.method} is not a bank transfer method")
        if request.currency != "CNY":
            raise TerminalChannelError(f"bank transfers are taken in CNY here, not {request.currency}")
        details = {"bank_name": self.bank_name, "account_name": self.account_name,
                   "account_number": self.account_number,
                   "reference": reference_code(self.account_number, request.out_trade_no),
                   "amount": str(request.amount)}
        if self.branch:
            details["branch"] = self.branch
        return PrepayResult(action_type="bank_transfer", transfer=details)

    def query_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> ChannelPayment:
        """The bank cannot be asked: until a statement or a confirmation says otherwise, it is awaited."""
        return ChannelPayment(out_trade_no=out_trade_no, state=TradeState.PENDING, raw_state=AWAITING)

    def close_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> None:
        """Nothing to close at a bank; a transfer that still arrives is matched as a late payment."""

    def refund(self, request: RefundRequest) -> ChannelRefund:
        raise TerminalChannelError("a bank transfer is refunded by the merchant's own transfer back",
                                   channel_code=MANUAL_REFUND)

    def query_refund(self, out_trade_no: str, out_refund_no: str, *,
                     requested_at: datetime | None = None) -> ChannelRefund:
        return ChannelRefund(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND, raw_state=MANUAL_REFUND)

    def parse_notification(self, incoming: IncomingNotification) -> Notification:
        raise NotificationRejected("bank transfers have no callbacks: import the statement instead")

    def carry_over(self, replaced: ChannelAdapter) -> None:
        """Nothing learnt from a bank."""

    def notification_reply(self, accepted: bool, message: str = "") -> NotificationReply:
        return NotificationReply(status_code=404, body=b"no callbacks", content_type="text/plain; charset=utf-8")

    def fetch_bill(self, kind: str, bill_date: date) -> BillFile:
        raise BillKindUnsupported("a bank account's statement is imported, not fetched",
                                  channel_code="BILL_UNSUPPORTED")
