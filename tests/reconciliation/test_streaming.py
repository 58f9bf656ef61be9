"""Streaming: a generated 200,000-row bill is written, parsed and normalised without ever being held in memory.

The parse runs in a fresh interpreter whose resident memory is read from ``/proc/self/status`` before the
parse (``VmRSS``) and after it (``VmHWM``, the peak; per address space, unlike ``ru_maxrss``, which Linux
carries over from the parent across ``exec``). Peak minus start bounds the parse's growth from above,
without tracemalloc's ~10x slowdown. Run with ``-s`` to see the throughput figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.reconciliation.writers.wechat import iter_wechat_trade_bill
from tests.reconciliation.factories import alipay_row, wechat_rows

ROWS = 200_000
GROWTH_LIMIT_KB = 40 * 1024  # 200k parsed rows held as Python objects would take several hundred MB

PROBE = """
import json, sys, time
from indiepay.reconciliation.parsers.alipay import AlipayBillArchive
from indiepay.reconciliation.parsers.normalised import write_normalised_csv
from indiepay.reconciliation.parsers.wechat_trade import WechatTradeBillReader

kind, path, out_path = sys.argv[1:4]
def status_kb(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
def rows(source):
    return WechatTradeBillReader(source) if kind == "wechat" else AlipayBillArchive(source)
before = status_kb("VmRSS")
with open(path, "rb") as source:
    wall, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in rows(source))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
with open(path, "rb") as source, open(out_path, "w", newline="", encoding="utf-8") as out:
    n_wall = time.perf_counter()
    written = write_normalised_csv(rows(source), out)
    n_wall = time.perf_counter() - n_wall
after = status_kb("VmHWM")
print(json.dumps({"count": count, "written": written, "wall": wall, "cpu": cpu, "normalise_wall": n_wall,
                  "rss_before_kb": before, "rss_after_kb": after}))
"""


def probe(kind: str, bill: Path, out: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, kind, str(bill), str(out)],
                          capture_output=True, text=True, check=True, timeout=500)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/self/status (Linux)")


@pytest.mark.timeout(600)
def test_a_200k_row_wechat_bill_streams_in_constant_memory(tmp_path: Path) -> None:
    bill = tmp_path / "tradebill.csv"
    with bill.open("wb") as out:
        for line in iter_wechat_trade_bill(wechat_rows(ROWS)):  # the writer streams too
            out.write(line)

    result = probe("wechat", bill, tmp_path / "normalised.csv")

    assert result["count"] == result["written"] == ROWS
    growth = result["rss_after_kb"] - result["rss_before_kb"]
    assert growth < GROWTH_LIMIT_KB, f"peak RSS grew {growth / 1024:.0f} MB: rows are being held in memory"
    with (tmp_path / "normalised.csv").open(encoding="utf-8") as lines:
        assert sum(1 for _ in lines) == ROWS + 1
    print(f"\nWeChat trade bill, {ROWS:,} rows ({bill.stat().st_size / 1e6:.0f} MB): parse + summary check "
          f"{ROWS / result['wall']:,.0f} rows/s wall ({ROWS / result['cpu']:,.0f} rows/s CPU); parse + normalised "
          f"CSV {ROWS / result['normalise_wall']:,.0f} rows/s; peak RSS {result['rss_after_kb'] / 1024:.0f} MB, "
          f"at most {growth / 1024:.1f} MB above the interpreter with its imports")


@pytest.mark.timeout(600)
def test_an_alipay_zip_streams_its_detail_entry(tmp_path: Path) -> None:
    rows = 100_000
    archive = tmp_path / "bill.zip"
    archive.write_bytes(render_alipay_bill_zip(
        (alipay_row(i, refund=i % 10 == 9) for i in range(rows)), pid="2088021109625633", bill_date=date(2024, 5, 1)))

    result = probe("alipay", archive, tmp_path / "normalised.csv")

    assert result["count"] == result["written"] == rows
    growth = result["rss_after_kb"] - result["rss_before_kb"]
    assert growth < GROWTH_LIMIT_KB
    print(f"\nAlipay zip, {rows:,} rows ({archive.stat().st_size / 1e6:.1f} MB zipped): parse "
          f"{rows / result['wall']:,.0f} rows/s wall; peak RSS at most {growth / 1024:.1f} MB above the start")
