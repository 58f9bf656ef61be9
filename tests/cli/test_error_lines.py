"""Every command reports a refusal the same way — one ``error (code): message`` line on stderr with the
stable code the API uses, nothing on stdout, exit 1 (refused) or 2 (a bad option) — so that scripts and cron
jobs can match on the code whichever command failed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indiepay.cli.main import app
from indiepay.db.migrate import upgrade

ERROR_LINE = re.compile(r"^error \(([a-z_]+)\): \S")

REFUSALS = [  # (arguments, expected code, expected exit code)
    (["statement", "--merchant", "mch_nope", "--month", "2026-10"], "merchant_not_found", 1),
    (["statement", "--merchant", "mch_nope", "--month", "2026-13"], "invalid_month", 1),
    (["advisor", "--merchant", "mch_nope"], "merchant_not_found", 1),
    (["settle", "--date", "2026-02-30"], None, 2),
    (["archive", "export", "--before", "2026-13"], "invalid_month", 2),
    (["reconcile", "run", "--date", "2026-11-26", "--account", "acct_nope"], "account_not_found", 1),
    (["reconcile", "import", "/no/such/bill.csv", "--account", "acct_nope"], "bill_file_unreadable", 1),
    (["reconcile", "run", "--date", "24.11.2026"], "invalid_date", 2),
    (["reconcile", "import", "/no/such/bill.csv", "--account", "acct_nope", "--kind", "daily"], "invalid_bill_kind", 2),
    (["jobs", "list", "--status", "zombie"], "invalid_job_status", 2),
    (["jobs", "show", "job_nope"], "job_not_found", 1),
    (["jobs", "requeue", "job_nope"], "job_not_found", 1),
]


@pytest.mark.parametrize(("arguments", "code", "exit_code"), REFUSALS, ids=lambda value: str(value))
def test_a_refusal_is_one_error_line_with_its_code(arguments: list[str], code: str | None, exit_code: int,
                                                    sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    upgrade(sqlite_url)
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path))
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    found = ERROR_LINE.match(line)
    assert found is not None, line
    if code is not None:
        assert found.group(1) == code
