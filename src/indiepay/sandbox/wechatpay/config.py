"""Settings of one WeChat Pay sandbox instance.

Kept apart from the platform's settings on purpose: the sandbox is a separate application that happens to
share the process, and the standalone ``indiepay sandbox`` server builds it from its own flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import Decimal

# WeChat's real callback resend schedule after the first attempt (15 retries over ~24 h), in seconds.
RETRY_SCHEDULE: tuple[float, ...] = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)

# How long a refund stays PROCESSING before it succeeds (divided by ``time_factor``).
REFUND_SETTLE_SECONDS = 5.0

# How long a profit-sharing order, unfreeze or return stays PROCESSING (divided by ``time_factor``).
PROFITSHARING_SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class WechatSandboxConfig:
    """``state_path``: ``None`` keeps everything in memory; a file path keeps provisioned merchants,
    orders and refunds in a SQLite file so they survive restarts.
    ``time_factor``: divides callback resend delays and the refund and profit-sharing settlement delays
    (1000 → 15 s is 15 ms).
    ``public_base_url``: the sandbox's own URL as buyers reach it (for ``h5_url`` and bill download
    links); by default it is derived from each request (scheme, host and mount point).
    ``fee_rate``: the merchants' fee rate, charged per bill row (0.6 %, the common WeChat Pay rate).
    ``bill_publish_after``: Beijing wall time on the next morning from which a day's bills exist
    (WeChat Pay starts generating them at 09:00).
    """

    callbacks_to: str | None = None  # mounted in the platform: its notify address, the only one called back
    state_path: str | None = None
    time_factor: float = 1.0
    public_base_url: str | None = None
    fee_rate: Decimal = Decimal("0.006")
    bill_publish_after: time = time(9, 0)

    def __post_init__(self) -> None:
        if self.time_factor <= 0:
            raise ValueError("time_factor must be positive")
