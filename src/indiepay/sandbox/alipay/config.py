"""Configuration of one Alipay sandbox gateway instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import Decimal

# How long an ``alipay.trade.order.settle`` in ``royalty_mode`` ``async`` stays PROCESSING before its details
# settle (divided by ``time_factor``, like the notify retry schedule): long enough for a client to see the
# intermediate state, short enough for a compressed test run.
ROYALTY_SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class AlipaySandboxConfig:
    """How the simulated gateway keeps state and how fast its clock of retries runs.

    Attributes:
        state_path: ``None`` keeps everything in memory; otherwise a SQLite file, so that provisioned
            apps, orders, refunds, fault knobs and undelivered notifies survive a restart.
        time_factor: divides the real notify retry schedule (4m, 10m, 10m, 1h, 2h, 6h, 15h) and the async
            royalty settlement delay (``ROYALTY_SETTLE_SECONDS``); 1000 turns ~25 h into ~90 s. Order expiry
            and timestamps are not compressed.
        public_base_url: the sandbox's own externally visible base URL *including* its mount point
            (e.g. ``https://pay.example.com/sandbox/alipay``); used in provisioning answers and page
            links and bill download URLs. ``None`` derives it from each request.
        fee_rate: the apps' service-fee rate, charged per bill row (0.6 %).
        bill_publish_after: Beijing wall time on the next morning from which a day's bill exists.
    """

    callbacks_to: str | None = None  # mounted in the platform: its notify address, the only one called back
    state_path: str | None = None
    time_factor: float = 1.0
    public_base_url: str | None = None
    fee_rate: Decimal = Decimal("0.006")
    bill_publish_after: time = time(9, 0)
