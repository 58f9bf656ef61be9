"""The interfaces other checks rely on: ``indiepay reconcile import|run [--json]`` and the HTTP API
(runs, one run as JSON and CSV, resolve, bill upload, monthly report), with tenancy and key modes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from indiepay.app import create_app
from indiepay.cli.main import app as cli
from indiepay.core.clock import FixedClock
from indiepay.db.migrate import upgrade
from indiepay.merchants.auth import issue_key
from indiepay.reconciliation import repository
from indiepay.runtime import Runtime
from tests.reconciliation.world import DAY, World, beijing
from tests.support.platform import settings_for_test

RUN_KEYS = {"id", "account_id", "date", "bill_sha1", "matched_count", "matched_amount", "differences",
            "fundflow"}  # the fields the issue names, plus the fund-flow check
DIFF_KEYS = {"id", "class", "out_trade_no", "out_refund_no", "local_amount", "channel_amount", "status"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    upgrade(url)
    rt = Runtime.build(settings_for_test(tmp_path, url, 0, run_worker=False, mount_sandbox=False),
                       FixedClock(beijing(DAY.replace(day=DAY.day + 1), 10)))
    yield rt
    rt.close()


def _bill(world: World) -> bytes:
    pay = world.payment(10_000, beijing(DAY, 10))
    gone = world.payment(2_000, beijing(DAY, 11))
    del gone
    return world.wechat_bill([replace(world.wechat_row(pay), order_total_fen=10_050, settlement_total_fen=10_050)])


def _key(rt: Runtime, merchant_id: str, *, live: bool) -> dict[str, str]:
    with rt.ctx.db.transaction() as session:
        raw = issue_key(session, rt.ctx.clock, merchant_id=merchant_id, role="merchant", livemode=live)
    return {"Authorization": f"Bearer {raw}"}


def test_the_api_lists_shows_exports_resolves_uploads_and_reports(runtime: Runtime) -> None:
    tea, cake = World(runtime.ctx), World(runtime.ctx)
    sandbox = World(runtime.ctx, environment="sandbox", merchant_id=None)
    admin = {"Authorization": f"Bearer {runtime.settings.admin_key}"}
    with TestClient(create_app(runtime.settings, runtime=runtime)) as http:
        upload = http.post(f"/v1/reconciliation/bills?account_id={tea.account_id}&date={DAY}", content=_bill(tea),
                           headers=_key(runtime, tea.merchant_id, live=True))
        assert upload.status_code == 201, upload.text
        run = upload.json()
        assert set(run) >= RUN_KEYS and run["date"] == DAY.isoformat()
        assert sorted(d["class"] for d in run["differences"]) == ["amount_mismatch", "missing_in_channel"]
        assert all(set(d) >= DIFF_KEYS for d in run["differences"])
        http.post(f"/v1/reconciliation/bills?account_id={cake.account_id}", content=_bill(cake), headers=admin)
        test_upload = http.post(f"/v1/reconciliation/bills?account_id={sandbox.account_id}",
                                content=_bill(sandbox), headers=_key(runtime, sandbox.merchant_id, live=False))
        assert test_upload.status_code == 201, test_upload.text

        tea_live = _key(runtime, tea.merchant_id, live=True)
        mine = http.get("/v1/reconciliation/runs", headers=tea_live).json()["data"]
        assert [r["account_id"] for r in mine] == [tea.account_id]
        assert len(http.get("/v1/reconciliation/runs", headers=admin).json()["data"]) == 3
        assert http.get("/v1/reconciliation/runs", headers=_key(runtime, tea.merchant_id, live=False)).json() == {
            "data": []}
        cake_run = http.get(f"/v1/reconciliation/runs?account_id={cake.account_id}", headers=admin).json()["data"]
        assert http.get(f"/v1/reconciliation/runs/{cake_run[0]['id']}", headers=tea_live).status_code == 404
        assert http.get(f"/v1/reconciliation/runs/{run['id']}", headers=tea_live).json()["id"] == run["id"]
        csv = http.get(f"/v1/reconciliation/runs/{run['id']}?format=csv", headers=tea_live)
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[0].startswith("id,class,kind,out_trade_no") and len(csv.text.splitlines()) == 3

        amount = next(d for d in run["differences"] if d["class"] == "amount_mismatch")
        done = http.post(f"/v1/reconciliation/differences/{amount['id']}/resolve",
                         json={"action": "resolve", "note": "channel confirmed 100.50"}, headers=tea_live)
        assert done.status_code == 200, done.text
        assert (done.json()["status"], done.json()["class"]) == ("resolved", "amount_mismatch")
        assert http.post(f"/v1/reconciliation/differences/{amount['id']}/resolve", json={"action": "ignore",
                         "note": "x"}, headers=_key(runtime, cake.merchant_id, live=True)).status_code == 404
        bad = http.post(f"/v1/reconciliation/differences/{amount['id']}/resolve", json={"action": "drop", "note": "x"},
                        headers=tea_live)
        assert bad.status_code in (400, 422)

        report = http.get(f"/v1/reconciliation/reports/{DAY:%Y-%m}", headers=tea_live).json()
        assert report["runs"] == 1 and report["matched_count"] == 0
        assert report["differences"] == {"amount_mismatch": {"resolved": 1}, "missing_in_channel": {"open": 1}}
        assert http.get("/v1/reconciliation/reports/2026-13", headers=tea_live).status_code == 400


def test_the_cli_imports_and_runs_with_one_json_object(runtime: Runtime, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(runtime.ctx)
    bill = tmp_path / "bill.csv"
    bill.write_bytes(_bill(world))
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("INDIEPAY_MASTER_KEY", runtime.settings.master_key or "")
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    imported = runner.invoke(cli, ["reconcile", "import", str(bill), "--account", world.account_id, "--json"])
    assert imported.exit_code == 0, imported.output
    first = json.loads(imported.stdout)
    ran = runner.invoke(cli, ["reconcile", "run", "--date", DAY.isoformat(), "--account", world.account_id, "--json"])
    assert ran.exit_code == 0, ran.output
    document = json.loads(ran.stdout)
    assert set(document) == {"runs"} and len(document["runs"]) == 1
    [run] = document["runs"]
    assert set(run) == RUN_KEYS and run["account_id"] == world.account_id and run["date"] == DAY.isoformat()
    assert all(set(d) == DIFF_KEYS for d in run["differences"])
    assert sorted(d["class"] for d in run["differences"]) == ["amount_mismatch", "missing_in_channel"]
    assert run == first["runs"][0]
    text = runner.invoke(cli, ["reconcile", "run", "--date", DAY.isoformat(), "--account", world.account_id])
    assert text.exit_code == 0 and "amount_mismatch" in text.stdout
    assert runner.invoke(cli, ["reconcile", "run", "--date", "24.11.2026"]).exit_code == 2


def test_the_cli_refuses_an_unknown_account_and_an_unreadable_file_with_their_own_codes(
        runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(runtime.ctx)
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", runtime.settings.database_url)
    monkeypatch.setenv("INDIEPAY_MASTER_KEY", runtime.settings.master_key or "")
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    mistyped = runner.invoke(cli, ["reconcile", "run", "--date", DAY.isoformat(), "--account", "acct_nope", "--json"])
    assert mistyped.exit_code == 1  # not an empty {"runs": []}: a typo must not read as "nothing to do"
    assert mistyped.stdout == "" and "error (account_not_found)" in mistyped.stderr
    for unreadable in (tmp_path / "no-such-bill.csv", tmp_path):  # a missing file, a folder
        refused = runner.invoke(cli, ["reconcile", "import", str(unreadable), "--account", world.account_id])
        assert refused.exit_code == 1
        assert "error (bill_file_unreadable)" in refused.stderr and str(unreadable) in refused.stderr
    with runtime.ctx.db.read() as session:
        assert repository.bills_of_day(session, DAY) == []  # nothing was stored
