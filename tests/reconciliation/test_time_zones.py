"""The server's ``TZ`` plays no part: the same records and bills give byte-identical runs under
``TZ=UTC`` and ``TZ=Asia/Shanghai`` (each in its own process, so the zone is really in effect)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.reconciliation.world import DAY

REPO = Path(__file__).resolve().parents[2]


def _probe(tmp_path: Path, tz: str) -> str:
    workdir = tmp_path / tz.replace("/", "_")
    workdir.mkdir()
    env = {**os.environ, "TZ": tz, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "tests.reconciliation.tz_probe", str(workdir)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_runs_are_identical_under_utc_and_shanghai(tmp_path: Path) -> None:
    utc, shanghai = _probe(tmp_path, "UTC"), _probe(tmp_path, "Asia/Shanghai")
    assert utc == shanghai
    runs = json.loads(utc)["runs"]
    assert [r["date"] for r in runs] == [DAY.isoformat(), "2026-11-25"]
    assert [r["matched_count"] for r in runs] == [1, 2]
    assert [(d["class"], d["out_trade_no"], d["status"]) for r in runs for d in r["differences"]] == [
        ("cross_day", "LATE", "resolved"), ("missing_in_channel", "GONE", "open")]
