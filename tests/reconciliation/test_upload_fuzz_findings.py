"""What an API fuzz audit of ``POST /v1/reconciliation/bills`` found answering 500, each now a 4xx with a stable
code and nothing stored (or, where the bill is good, reconciled as it should be):

* a broken gzip body (two bytes of magic, a bad header, a cut stream) — the upload, the CLI import and, from
  a channel, the worker, which alerts it like a bad hash and tries again later instead of failing in a loop;
* a corrupt or truncated zip (Alipay, UnionPay);
* a trade bill whose last line ends in LF where the others end in CRLF — DuckDB's CSV reader refused it, and
  the refusal escaped instead of handing the bill to the Python reader, which reads it;
* a fee (or amount) past what any bill holds — ``decimal`` could not round it — and amounts that cancel out
  in the printed totals but add up past the run's ``BIGINT`` figures (the bill was stored, the run was not);
* a time at either end of the calendar (year 1 does not convert to UTC), and a ``date`` outside the storable
  range (its neighbours overflow ``datetime``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from indiepay.alerts.models import Alert
from indiepay.app import create_app
from indiepay.channels.base import BillFile
from indiepay.cli.main import app as cli
from indiepay.context import ServiceContext
from indiepay.db.jobs.worker import RetryLater
from indiepay.reconciliation import bills, fundflow_service, service, tasks
from indiepay.reconciliation.columnar_bill import SCANNED, PlainText, scan_trade_bill
from indiepay.reconciliation.errors import BillAmountError, BillArchiveError
from indiepay.reconciliation.models import ReconciliationRun
from indiepay.reconciliation.parsers.normalised import write_normalised_csv
from indiepay.reconciliation.parsers.wechat_trade import WechatTradeBillReader
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.reconciliation.writers.unionpay import render_unionpay_bill_zip
from indiepay.reconciliation.writers.wechat import render_wechat_trade_bill
from indiepay.runtime import Runtime
from tests.reconciliation.factories import alipay_row, rewrite_zip_entry, wechat_payment
from tests.reconciliation.test_interfaces import _key, runtime  # noqa: F401 -- the fixture, both databases
from tests.reconciliation.test_unionpay_bill import row as unionpay_row
from tests.reconciliation.world import DAY, World, beijing


def _stored(rt: Runtime) -> tuple[int, ...]:
    """How many bills, runs and differences are stored."""
    with rt.ctx.db.read() as session:
        return tuple(int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                     for table in ("reconciliation_bills", "reconciliation_runs", "reconciliation_differences"))


def _upload(rt: Runtime, shop: World, body: bytes, query: str = "") -> Any:
    with TestClient(create_app(rt.settings, runtime=rt), raise_server_exceptions=False) as http:
        return http.post(f"/v1/reconciliation/bills?account_id={shop.account_id}{query}", content=body,
                         headers={**_key(rt, shop.merchant_id, live=True), "Content-Type": "application/octet-stream"})


def _day_bill(shop: World) -> bytes:
    paid = shop.payment(10_000, beijing(DAY, 10))
    other = shop.payment(2_550, beijing(DAY, 11))
    return shop.wechat_bill([shop.wechat_row(paid), shop.wechat_row(other)])


BROKEN_GZIP = [b"\x1f\x8b", b"\x1f\x8bXXXXXXXXXXXX"]


# 1. a broken gzip -------------------------------------------------------------------------------------------

def test_a_broken_gzip_upload_is_refused_as_a_corrupt_archive_and_nothing_is_stored(
        runtime: Runtime) -> None:  # noqa: F811
    shop = World(runtime.ctx)
    packed = gzip.compress(_day_bill(shop))
    bodies = [*BROKEN_GZIP, packed[:-12], packed[: len(packed) // 2], packed + b"trailing bytes"]
    for body in bodies:
        for query in ("", "&kind=trade", "&kind=fundflow", f"&date={DAY}", f"&kind=trade&date={DAY}"):
            answer = _upload(runtime, shop, body, query)
            assert answer.status_code == 422, (body[:16], query, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "bill_archive_invalid" and "gzip" in error["message"], error
    assert _stored(runtime) == (0, 0, 0)
    assert _upload(runtime, shop, packed, f"&date={DAY}").status_code == 201  # the whole stream reads


def test_a_broken_gzip_is_refused_by_every_reader_with_the_archive_error(tmp_path: Path) -> None:
    for body in BROKEN_GZIP:
        for read in (lambda s: bills.sniff_kind(s), lambda s: bills.read_fundflow_bill(s),
                     lambda s: bills.read_bill(s, tmp_path / "bill.csv")):
            with pytest.raises(BillArchiveError) as refused:
                read(io.BytesIO(body))
            assert refused.value.code == "bill_archive_invalid" and refused.value.http_status == 422


def test_a_corrupt_or_truncated_zip_upload_is_refused_as_a_corrupt_archive(runtime: Runtime) -> None:  # noqa: F811
    alipay = World(runtime.ctx, channel="alipay")
    paid = alipay.payment(10_000, beijing(DAY, 10))
    archive = alipay.alipay_bill([alipay.alipay_row(paid)])
    unionpay = render_unionpay_bill_zip([unionpay_row()], mer_id="777290058110097", clearing_day=date(2027, 1, 1))
    flipped = bytearray(archive)
    flipped[60] ^= 0xFF  # inside the first entry's compressed data
    version = archive.replace(b"PK\x01\x02\x14\x03\x14\x00", b"PK\x01\x02\x14\x03T\x00", 1)  # "needs zip 8.4"
    for body in (archive[: len(archive) // 2], archive[:-30], bytes(flipped), version, unionpay[:-30],
                 unionpay[: len(unionpay) // 2]):
        answer = _upload(runtime, alipay, body, f"&date={DAY}")
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "bill_archive_invalid"
    assert _stored(runtime) == (0, 0, 0)


def test_the_cli_refuses_a_broken_gzip_with_the_archive_code(runtime: Runtime, tmp_path: Path,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    shop = World(runtime.ctx)
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("INDIEPAY_MASTER_KEY", runtime.settings.master_key or "")
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    bill = tmp_path / "bill.csv.gz"
    for body in (*BROKEN_GZIP, gzip.compress(_day_bill(shop))[:-12]):
        bill.write_bytes(body)
        for kind in ("auto", "trade", "fundflow"):
            refused = CliRunner().invoke(cli, ["reconcile", "import", str(bill), "--account", shop.account_id,
                                               "--kind", kind, "--date", DAY.isoformat()])
            assert refused.exit_code == 1, refused.output
            assert "error (bill_archive_invalid)" in refused.stderr
    assert _stored(runtime) == (0, 0, 0)


def test_a_fetched_bill_whose_gzip_is_corrupt_is_alerted_like_a_bad_hash_and_fetched_again(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The channel client checks the SHA1 of the first gzip member; bytes after it (which the reader's gzip
    view reads as a second, broken member) used to fail the job with a traceback, attempt after attempt."""
    content = _day_bill(world)
    sha1 = hashlib.sha1(content).hexdigest()
    answers = [BillFile("wechatpay", "trade", DAY, content, sha1, content_gz=gzip.compress(content) + b"garbage"),
               BillFile("wechatpay", "trade", DAY, content, sha1, content_gz=gzip.compress(content))]

    def fetch(ctx: ServiceContext, account: object, day: date) -> BillFile:
        return answers.pop(0)

    monkeypatch.setattr(service, "fetch_bill_for", fetch)
    monkeypatch.setattr(fundflow_service, "fetch_and_store", lambda ctx, account, day: False)
    args = {"date": DAY.isoformat(), "account_id": world.account_id}
    now = world.ctx.clock.now()
    corrupt = tasks.run_day_job(world.ctx, args)
    assert isinstance(corrupt, RetryLater) and corrupt.at == now + tasks.RETRY_NOT_READY
    with world.ctx.db.read() as session:
        [alert] = session.scalars(select(Alert)).all()
        assert session.scalars(select(ReconciliationRun)).all() == []
    assert (alert.kind, alert.severity, alert.details["bill"]) == ("bill_hash_mismatch", "critical", "trade")
    assert "gzip" in alert.details["error"]
    assert tasks.run_day_job(world.ctx, args) is None  # the next download is good
    with world.ctx.db.read() as session:
        run = session.scalars(select(ReconciliationRun)).one()
    assert (run.status, run.matched_count, run.bill_sha1) == ("balanced", 2, sha1)


def test_a_fetched_fundflow_bill_whose_gzip_is_corrupt_is_alerted_and_fetched_again(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    class Adapter:
        def fetch_bill(self, kind: str, day: date) -> BillFile:
            return BillFile("wechatpay", kind, day, b"", "", content_gz=b"\x1f\x8bXXXXXXXXXXXX")

    monkeypatch.setattr(fundflow_service, "adapter_for", lambda ctx, account: Adapter())
    monkeypatch.setattr(service, "fetch_bill_for", lambda *args: pytest.fail("the trade bill waits"))
    answer = tasks.run_day_job(world.ctx, {"date": DAY.isoformat(), "account_id": world.account_id})
    assert isinstance(answer, RetryLater)
    with world.ctx.db.read() as session:
        alerts = [(a.kind, a.details["bill"]) for a in session.scalars(select(Alert))]
    assert alerts == [("bill_hash_mismatch", "fundflow")]


# 2. a last line ending in LF --------------------------------------------------------------------------------

def _last_line_lf(bill: bytes) -> bytes:
    assert bill.endswith(b"\r\n")
    return bill[:-2] + b"\n"


def test_a_bill_whose_last_line_ends_in_lf_reconciles_as_the_consistent_one(runtime: Runtime) -> None:  # noqa: F811
    results = []
    for last in (lambda bill: bill, _last_line_lf):
        shop = World(runtime.ctx)
        paid = shop.payment(10_000, beijing(DAY, 10))
        shop.payment(2_000, beijing(DAY, 11))  # not in the bill: missing in the channel
        row = shop.wechat_row(paid)
        bill = last(shop.wechat_bill([replace(row, order_total_fen=10_050, settlement_total_fen=10_050)]))
        answer = _upload(runtime, shop, bill, f"&date={DAY}")
        assert answer.status_code == 201, answer.text
        run = answer.json()
        results.append((run["matched_count"], run["matched_amount"],
                        sorted(d["class"] for d in run["differences"])))
    assert results[0] == results[1] == (0, 0, ["amount_mismatch", "missing_in_channel"])


def test_duckdb_refusing_a_bill_hands_it_to_the_python_reader_and_leaves_no_table(tmp_path: Path) -> None:
    consistent = render_wechat_trade_bill([wechat_payment(1, product="tea"), wechat_payment(2, product="tea")])
    path = tmp_path / "bill.csv"
    path.write_bytes(_last_line_lf(consistent))
    check = PlainText()
    check.update(path.read_bytes())
    assert check.finish()  # it passes the byte checks: DuckDB is asked, and refuses it
    with duckdb.connect(str(tmp_path / "matcher.duckdb")) as into:
        assert scan_trade_bill(path, tmp_path / "n.parquet", newlines=check.newlines, commas=check.commas,
                               into=into) is None
        assert into.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = $t",
                            {"t": SCANNED}).fetchone() == (0,)
        with path.open("rb") as stream:
            read = bills.read_bill(stream, tmp_path / "bill.csv.normalised", into=into)
    expected = WechatTradeBillReader(io.BytesIO(consistent))
    rows = io.StringIO(newline="")
    assert read.rows == write_normalised_csv(expected, rows) == 2
    assert read.normalised.read_text(encoding="utf-8") == rows.getvalue()  # the Python reader's normalised CSV
    assert (read.first_day, read.summary, read.merchant_no) == (date(2024, 5, 1), expected.summary, "1900000109")


# 3. a huge fee ----------------------------------------------------------------------------------------------

def test_a_fee_or_amount_past_every_cap_is_refused_with_its_line(runtime: Runtime) -> None:  # noqa: F811
    shop = World(runtime.ctx)
    paid = shop.payment(10_000, beijing(DAY, 10))
    row = shop.wechat_row(paid, fee=Decimal("0.06000"))
    bill = shop.wechat_bill([row])
    for old, new, column in ((b"`0.06000", b"`4200000000000000000000000001", "手续费"),
                             (b"`0.06000", b"`1000000000000.00000", "手续费"),
                             (b"`100.00,`0.00", b"`1" + b"0" * 40 + b",`0.00", "应结订单金额")):
        assert old in bill
        answer = _upload(runtime, shop, bill.replace(old, new, 1), f"&date={DAY}")
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "bill_amount_invalid", error
        assert error["details"]["line"] == 2 and error["details"]["column"] == column
    assert _stored(runtime) == (0, 0, 0)
    within = bill.replace(b"`0.06000", b"`999999999999.99999", 1)  # the largest fee a bill may print: read
    answer = _upload(runtime, shop, within, f"&date={DAY}")
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "bill_totals_mismatch"


def test_amounts_that_cancel_out_in_the_totals_but_add_up_past_a_bigint_are_refused(
        runtime: Runtime) -> None:  # noqa: F811
    """Each amount within its cap and the printed totals zero — a payment of 999 999 999 999 999.99 yuan and a
    revoked one of minus that, 150 times — yet the day's succeeded payments add up past what the run's BIGINT
    figures hold: the bill was stored, then the run failed to insert (a 500, and a stored bill every re-run
    failed on)."""
    shop = World(runtime.ctx)
    big, when = 99_999_999_999_999_999, beijing(DAY, 10)
    rows = [row for i in range(150) for row in (
        wechat_payment(i, trade_time=when, settlement_total_fen=big, order_total_fen=big, fee=Decimal(0),
                       product="tea"),
        wechat_payment(1_000 + i, trade_time=when, trade_state="REVOKED", settlement_total_fen=-big,
                       order_total_fen=-big, fee=Decimal(0), product="tea"))]
    answer = _upload(runtime, shop, render_wechat_trade_bill(rows), f"&date={DAY}")
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "bill_amount_invalid" and error["details"]["line"] > 2, error
    assert _stored(runtime) == (0, 0, 0)


def test_alipay_fees_amounts_and_footer_counts_past_every_cap_are_refused(tmp_path: Path) -> None:
    archive = render_alipay_bill_zip([alipay_row(1)], pid="2088021109625633", bill_date=date(2024, 5, 1))
    for old, new in ((b"-0.12", b"-4200000000000000000000000001"), (b"19.90", b"1" + b"0" * 30 + b".00"),
                     ("交易合计：1笔".encode("gbk"), ("交易合计：" + "9" * 5000 + "笔").encode("gbk"))):
        def edit(content: bytes, old: bytes = old, new: bytes = new) -> bytes:
            assert old in content
            return content.replace(old, new, 1)

        edited = rewrite_zip_entry(archive, "_业务明细.csv", edit)
        with pytest.raises(BillAmountError) as refused:
            bills.read_bill(io.BytesIO(edited), tmp_path / "bill.csv")
        assert refused.value.details["line"] > 0


# 4. times and days at the ends of the calendar --------------------------------------------------------------

def test_times_outside_the_storable_range_are_refused_with_their_line(runtime: Runtime) -> None:  # noqa: F811
    shop = World(runtime.ctx)
    bill = _day_bill(shop)
    stamp = f"{DAY} 10:00:00".encode()
    assert stamp in bill
    for when in (b"0001-01-01 00:00:00", b"1969-12-31 23:59:59", b"9999-12-31 23:59:59"):
        for query in ("", f"&date={DAY}"):
            answer = _upload(runtime, shop, bill.replace(stamp, when, 1), query)
            assert answer.status_code == 422, answer.text
            error = answer.json()["error"]
            assert (error["code"], error["details"]["line"], error["details"]["column"]) == (
                "bill_malformed", 2, "交易时间")
    assert _stored(runtime) == (0, 0, 0)


def test_an_upload_for_a_day_outside_the_storable_range_is_refused(runtime: Runtime) -> None:  # noqa: F811
    shop = World(runtime.ctx)
    bill = _day_bill(shop)
    for day in ("0001-01-01", "1969-12-31", "9999-01-01", "9999-12-31"):
        for body in (bill, gzip.compress(bill)):
            answer = _upload(runtime, shop, body, f"&date={day}")
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["code"] == "invalid_date"
    assert _stored(runtime) == (0, 0, 0)
    assert _upload(runtime, shop, bill, f"&date={DAY}").status_code == 201

