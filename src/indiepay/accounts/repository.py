"""Reading one channel account by id — on every payment (the routed account) and every callback (the
account the callback names) — with statements built once (``session.get`` builds its load per call)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount

_ACCOUNT = select(ChannelAccount).where(ChannelAccount.id == bindparam("id"))
_ACCOUNT_FOR_UPDATE = _ACCOUNT.with_for_update()


def get_account(session: Session, account_id: str, *, lock: bool = False) -> ChannelAccount | None:
    """The account, or None; ``lock``: ``FOR UPDATE`` on PostgreSQL (SQLite's writer lock covers it)."""
    return session.scalars(_ACCOUNT_FOR_UPDATE if lock else _ACCOUNT, {"id": account_id}).one_or_none()
