"""What a profit-sharing request tells its caller when the channel did not say yes."""

from __future__ import annotations

from typing import Any

from indiepay.core.errors import ChannelUnavailable, Unprocessable
from indiepay.payments.calls import CallOutcome


def raise_for_outcome(result: CallOutcome[Any]) -> None:
    """A refusal is the merchant's to read (422 ``channel_rejected`` with the channel's code); no answer
    is 502 ``channel_unavailable`` (nothing stored for a declaration: asking again is harmless)."""
    if result.outcome == "ok":
        return
    error = result.error
    channel_code = error.channel_code if error else None
    if result.outcome == "rejected":
        raise Unprocessable(f"the channel refused: {error.message if error else ''}", code="channel_rejected",
                            details={"channel_code": channel_code})
    raise ChannelUnavailable("the channel did not answer; try again", code="channel_unavailable",
                             details={"channel_code": channel_code})
