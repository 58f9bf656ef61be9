"""A bill that arrives gzip-compressed — a WeChat Pay download, a ``.gz`` import, a stored bill read again
— is stored as it came, not compressed again; a plain bill gets a gzip copy. Either way the SHA1 is of the
uncompressed file and the runs are the same."""

from __future__ import annotations

import gzip
import io
from datetime import date
from pathlib import Path

from sqlalchemy import select

from indiepay.channels.base import BillFile
from indiepay.reconciliation import bills, service
from indiepay.reconciliation.models import ReconciliationBill
from tests.reconciliation.world import World, beijing

DAY = date(2026, 11, 20)


def day_bill(world: World) -> bytes:
    items = [world.payment(1_000 * (n + 1), beijing(DAY, 9 + n)) for n in range(3)]
    return world.wechat_bill([world.wechat_row(item) for item in items])


def stored(world: World) -> bytes:
    with world.ctx.db.read() as session:
        return session.scalars(select(ReconciliationBill.content_gz).where(
            ReconciliationBill.account_id == world.account_id, ReconciliationBill.kind == "trade")).one()


def test_read_bill_keeps_a_gzip_bill_as_it_came(world: World, tmp_path: Path) -> None:
    plain = day_bill(world)
    delivered = gzip.compress(plain, compresslevel=9, mtime=1_700_000_000)  # not how IndiePay would pack it
    from_plain = bills.read_bill(io.BytesIO(plain), tmp_path / "a.csv")
    from_gzip = bills.read_bill(io.BytesIO(delivered), tmp_path / "b.csv")
    assert from_gzip.content_gz == delivered
    assert gzip.decompress(from_plain.content_gz) == plain and from_plain.content_gz != delivered
    assert (from_gzip.sha1, from_gzip.size, from_gzip.rows) == (from_plain.sha1, from_plain.size, from_plain.rows)
    again = bills.read_stored(from_gzip.content_gz, tmp_path / "c.csv")  # a re-run reads the stored copy
    assert again.content_gz == delivered and again.sha1 == from_plain.sha1


def test_a_fetched_bill_is_stored_as_the_channel_sent_it(world: World) -> None:
    plain = day_bill(world)
    download = gzip.compress(plain, mtime=1_700_000_000)
    fetched = BillFile(channel="wechatpay", kind="trade", bill_date=DAY, content=plain, sha1=None, content_gz=download)
    result = service.reconcile_fetched(world.ctx, world.account_id, fetched, apply_fees=False)
    assert result.differences == [] and stored(world) == download
    rerun = service.run_day(world.ctx, world.account_id, DAY, apply_fees=False)
    assert rerun.run.id == result.run.id and rerun.differences == [] and stored(world) == download
