"""Configuration of one UnionPay sandbox gateway instance, and the timings it simulates.

Kept apart from the platform's settings on purpose: the sandbox is a separate application that happens to
share the process, and the standalone ``indiepay sandbox`` server builds it from its own flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from decimal import Decimal

# Seconds to wait before each notify send: the first goes at once, then UnionPay's documented gaps of
# 1, 2, 4 and 5 minutes (five sends in all). Divided by ``time_factor``.
NOTIFY_GAPS: tuple[float, ...] = (0.0, 60.0, 120.0, 240.0, 300.0)

# A notify counts as delivered when the merchant answers HTTP 200 within this many seconds.
NOTIFY_TIMEOUT_SECONDS = 10.0

# How long an accepted refund stays processing (origRespCode 05) before it ends (divided by ``time_factor``):
# long enough for a client to see the intermediate state, short enough for a compressed test run.
REFUND_SETTLE_SECONDS = 2.0


@dataclass(frozen=True)
class UnionpaySandboxConfig:
    """How the simulated gateway keeps state and how fast its clock of retries runs.

    Attributes:
        state_path: ``None`` keeps everything in memory; otherwise a SQLite file, so that the gateway's
            certificate chain, provisioned merchants, orders, refunds, fault knobs and undelivered notifies
            survive a restart.
        time_factor: divides the notify resend gaps (1, 2, 4, 5 minutes) and the refund processing delay
            (``REFUND_SETTLE_SECONDS``); 1000 turns 12 minutes of resends into under a second. ``payTimeout``
            and the recorded times are not compressed.
        public_base_url: the sandbox's own externally visible base URL *including* its mount point
            (e.g. ``https://pay.example.com/sandbox/unionpay``), used for ``qrCode`` links, page forms and
            the provisioning answer. ``None`` derives it from each request.
        fee_rate: the merchants' fee rate (0.6 %), charged per payment row of the reconciliation file and
            returned pro rata on refund rows, rounded to the fen.
        bill_publish_after: Beijing wall time on the morning after a clearing day (which ended at 23:00 the
            evening before) from which its reconciliation file exists; before it ``fileTransfer`` answers 98.
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
