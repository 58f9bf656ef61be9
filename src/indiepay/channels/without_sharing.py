"""The profit-sharing half of the channel port for a channel that offers none."""

from __future__ import annotations

from indiepay.channels.base import TerminalChannelError
from indiepay.channels.sharing import (
    ChannelReturn,
    ChannelSharing,
    ReturnRequest,
    SharingReceiver,
    SharingRequest,
)


class ProfitSharingNotOffered:
    """The profit-sharing half of the port for a channel that offers none (UnionPay here, a bank account):
    every call is refused with ``SHARING_UNSUPPORTED``. The platform refuses such payments and receivers
    before any adapter is asked (``ChannelSpec.offers_profit_sharing``); this is the last line."""

    channel: str

    def _no_sharing(self) -> TerminalChannelError:
        return TerminalChannelError(f"profit sharing is not offered for {self.channel} accounts",
                                    channel_code="SHARING_UNSUPPORTED")

    def add_sharing_receiver(self, receiver: SharingReceiver) -> None:
        raise self._no_sharing()

    def remove_sharing_receiver(self, receiver: SharingReceiver) -> None:
        raise self._no_sharing()

    def share(self, request: SharingRequest) -> ChannelSharing:
        raise self._no_sharing()

    def query_sharing(self, channel_trade_no: str, out_order_no: str) -> ChannelSharing:
        raise self._no_sharing()

    def return_share(self, request: ReturnRequest) -> ChannelReturn:
        raise self._no_sharing()

    def query_share_return(self, out_order_no: str, out_return_no: str) -> ChannelReturn:
        raise self._no_sharing()

    def unsplit_amount(self, channel_trade_no: str) -> int:
        raise self._no_sharing()
