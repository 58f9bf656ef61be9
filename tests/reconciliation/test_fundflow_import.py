"""A fund-flow bill imported by hand (``indiepay reconcile import FILE`` tells it from a trade bill by its header,
or ``--kind fundflow``): stored, checked against the trade totals the day's run stored, the check shown in
the CLI's JSON under ``fundflow``; a fund-flow bill imported before the trade bill is checked when the trade
bill comes. Plus the pure rules of :mod:`indiepay.reconciliation.fundflow`."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from indiepay.alerts.models import Alert
from indiepay.app import create_app
from indiepay.cli.main import app as cli
from indiepay.context import ServiceContext
from indiepay.core.clock import BUSINESS_TZ, FixedClock
from indiepay.core.errors import InvalidRequest
from indiepay.db.migrate import upgrade
from indiepay.reconciliation import bills, fundflow_service
from indiepay.reconciliation import fundflow as ff
from indiepay.reconciliation.parsers.common import fee_fen
from indiepay.reconciliation.parsers.wechat_fundflow import EXPENSE, INCOME, WechatFundFlowRow
from indiepay.reconciliation.writers.wechat import render_wechat_fundflow_bill
from indiepay.runtime import Runtime
from tests.reconciliation.factories import fund_row
from tests.reconciliation.world import DAY, Local, World, beijing, fee_yuan
from tests.support.platform import settings_for_test


def _flow(world: World, items: list[Local]) -> list[WechatFundFlowRow]:
    """The BASIC account's bookings for ``items``, as WeChat Pay books them (see :mod:`.fundflow`)."""
    rows: list[WechatFundFlowRow] = []
    for n, item in enumerate(items):
        at, fee = item.at.astimezone(BUSINESS_TZ), fee_fen(fee_yuan(item.amount))
        money, back = ("交易", INCOME) if item.kind == "payment" else ("退款", EXPENSE)
        charge, way = ("扣除交易手续费", EXPENSE) if item.kind == "payment" else ("退还交易手续费", INCOME)
        rows.append(fund_row(n, booked_at=at, business_name=money, business_type=money, direction=back,
                             amount_fen=item.amount, voucher_no=item.out_refund_no or item.out_trade_no))
        rows.append(fund_row(n, booked_at=at, business_name=money, business_type=charge, direction=way,
                             amount_fen=fee, flow_no=f"F{n:020d}2"))
    return rows


def _day(world: World) -> tuple[list[Local], bytes]:
    paid = world.payment(10_000, beijing(DAY, 10))
    other = world.payment(2_550, beijing(DAY, 11))
    back = world.refund(paid, 4_000, beijing(DAY, 15))
    items = [paid, other, back]
    return items, world.wechat_bill(world.wechat_row(item) for item in items)


@pytest.fixture
def env(sqlite_ctx: ServiceContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ServiceContext:
    """The CLI's environment pointing at the test's database."""
    settings = sqlite_ctx.settings
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("INDIEPAY_MASTER_KEY", settings.master_key or "")
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    return sqlite_ctx


def _import(tmp_path: Path, name: str, content: bytes, account_id: str, *extra: str) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(content)
    done = CliRunner().invoke(cli, ["reconcile", "import", str(path), "--account", account_id, "--json", *extra])
    assert done.exit_code == 0, done.output
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _alerts(ctx: ServiceContext) -> list[dict[str, Any]]:
    with ctx.db.read() as session:
        return [a.details for a in session.scalars(select(Alert).where(Alert.kind == "fundflow_disagreement"))]


def test_an_imported_fundflow_bill_is_sniffed_and_checked_against_the_run(env: ServiceContext, tmp_path: Path) -> None:
    world = World(env)
    items, trade = _day(world)
    [run] = _import(tmp_path, "trade.csv", trade, world.account_id)["runs"]
    assert run["fundflow"]["status"] == "missing" and run["fundflow"]["fundflow"] is None
    expected = {"payments": {"count": 2, "amount": 12_550}, "refunds": {"count": 1, "amount": 4_000},
                "fees_charged": {"count": 2, "amount": 60 + 15}, "fees_returned": {"count": 1, "amount": 24},
                "net": 12_550 - 4_000 - 75 + 24}
    assert run["fundflow"]["trade"] == expected
    good = render_wechat_fundflow_bill(_flow(world, items))
    [checked] = _import(tmp_path, "flow.csv.gz", gzip.compress(good), world.account_id)["runs"]  # sniffed
    assert checked["fundflow"]["status"] == "agreed" and checked["fundflow"]["fundflow"] == expected
    assert {k: v for k, v in checked.items() if k != "fundflow"} == {k: v for k, v in run.items() if k != "fundflow"}
    assert _alerts(env) == []
    rows = _flow(world, items)
    rows[2] = replace(rows[2], amount_fen=rows[2].amount_fen + 100)  # the second payment booked 1 yuan high
    [bad] = _import(tmp_path, "flow2.csv", render_wechat_fundflow_bill(rows), world.account_id,
                    "--kind", "fundflow")["runs"]
    assert bad["fundflow"]["disagreements"] == [
        {"item": "payments", "trade_count": 2, "fundflow_count": 2, "trade_amount": 12_550,
         "fundflow_amount": 12_650, "difference": 100}]
    assert bad["differences"] == run["differences"] == []
    [alert] = _alerts(env)
    assert alert["disagreements"] == bad["fundflow"]["disagreements"]


def test_a_fundflow_bill_imported_first_is_checked_when_the_trade_bill_comes(env: ServiceContext,
                                                                            tmp_path: Path) -> None:
    world = World(env)
    items, trade = _day(world)
    flow = _flow(world, items)[:-1]  # the refund's returned fee never booked
    assert _import(tmp_path, "flow.csv", render_wechat_fundflow_bill(flow), world.account_id) == {"runs": []}
    [run] = _import(tmp_path, "trade.csv", trade, world.account_id)["runs"]
    assert run["fundflow"]["status"] == "disagreed"
    assert [d["item"] for d in run["fundflow"]["disagreements"]] == ["fees_returned"]


def test_a_fundflow_bill_for_an_alipay_account_is_refused(sqlite_ctx: ServiceContext) -> None:
    world = World(sqlite_ctx, channel="alipay")
    content = render_wechat_fundflow_bill([fund_row(0)])
    with pytest.raises(InvalidRequest) as info:
        fundflow_service.import_fundflow(sqlite_ctx, world.account_id, io.BytesIO(content))
    assert info.value.code == "bill_channel_mismatch"


def test_sniffing_tells_the_bills_apart() -> None:
    flow = render_wechat_fundflow_bill([fund_row(0)])
    assert bills.sniff_kind(io.BytesIO(flow)) == bills.sniff_kind(io.BytesIO(gzip.compress(flow))) == "fundflow"
    trade = Path("../shared/samples/wechatpay_tradebill_ALL_wechatpay-php-fixture.csv")
    head = trade.read_bytes() if trade.exists() else "\ufeff交易时间,公众账号ID\r\n".encode()
    assert bills.sniff_kind(io.BytesIO(head)) == "trade"
    stream = io.BytesIO(flow)
    bills.sniff_kind(stream)
    assert stream.tell() == 0


def test_the_rules_sign_each_booking_and_report_one_entry_per_item() -> None:
    trade = ff.Totals(payments=ff.Figure(1, 1_000), fees_charged=ff.Figure(1, 6))
    rows = [fund_row(0, amount_fen=1_000), fund_row(1, business_type="扣除交易手续费", direction=EXPENSE, amount_fen=6),
            fund_row(2, business_type="提现", direction=EXPENSE, amount_fen=500)]
    clean = ff.check(trade, ff.tally(rows), "sha")
    assert (clean.status, clean.disagreements, clean.fundflow and clean.fundflow.net) == (ff.AGREED, [], 994)
    assert clean.other == {"income": {"count": 0, "amount": 0}, "expense": {"count": 1, "amount": 500}}
    wrong_way = ff.check(trade, ff.tally([replace(rows[0], direction=EXPENSE), rows[1]]), "sha")
    assert [(d["item"], d["fundflow_amount"]) for d in wrong_way.disagreements] == [("payments", -1_000)]
    assert ff.check(trade, None, None).as_dict()["status"] == ff.MISSING
    again = ff.recheck(clean.as_dict(), ff.tally(rows), "sha")
    assert again.as_dict() == clean.as_dict()


def test_the_upload_endpoint_takes_a_fundflow_bill_before_and_after_the_trade_bill(tmp_path: Path,
                                                                                   clock: FixedClock) -> None:
    url_db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url_db)
    runtime = Runtime.build(settings_for_test(tmp_path, url_db, 0, run_worker=False, mount_sandbox=False), clock)
    world = World(runtime.ctx)
    items, trade = _day(world)
    flow = render_wechat_fundflow_bill(_flow(world, items))
    admin = {"Authorization": f"Bearer {runtime.settings.admin_key}"}
    url = f"/v1/reconciliation/bills?account_id={world.account_id}&date={DAY}"
    with TestClient(create_app(runtime.settings, runtime=runtime)) as http:
        early = http.post(url, content=gzip.compress(flow), headers=admin)  # told apart by its header
        assert early.status_code == 202, early.text
        assert early.json() == {"account_id": world.account_id, "date": DAY.isoformat(), "bill": "fundflow",
                                "status": "stored", "run": None}
        run = http.post(url, content=trade, headers=admin)
        assert run.status_code == 201, run.text
        assert run.json()["fundflow"]["status"] == "agreed"
        changed = [replace(row, amount_fen=row.amount_fen + 1) if n == 0 else row
                   for n, row in enumerate(_flow(world, items))]
        again = http.post(url + "&kind=fundflow", content=render_wechat_fundflow_bill(changed), headers=admin)
        assert again.status_code == 201, again.text
        assert again.json()["id"] == run.json()["id"]
        assert again.json()["fundflow"]["status"] == "disagreed"
        wrong = http.post(url + "&kind=fundflow", content=trade, headers=admin)  # a trade bill said to be one
        assert wrong.status_code in (400, 422) and wrong.json()["error"]["code"], wrong.text
        unknown = http.post(url + "&kind=ledger", content=trade, headers=admin)
        assert unknown.status_code == 400 and "kind" in unknown.text, unknown.text
    runtime.close()


def test_a_tally_stored_with_its_bill_reads_back_the_same(world: World) -> None:
    items, _ = _day(world)
    rows = [*_flow(world, items), fund_row(99, business_name="提现", business_type="提现", direction=EXPENSE,
                                           amount_fen=777)]
    tally = ff.tally(rows)
    again = ff.FlowTally.of_record(json.loads(json.dumps(tally.as_record())))
    assert again == tally and again.totals() == tally.totals() and again.other() == tally.other()
    assert again.other()["expense"] == {"count": 1, "amount": 777}
