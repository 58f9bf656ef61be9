"""A bill holding a NUL character in a field — which no channel writes, and PostgreSQL cannot store in a
difference — is refused as ``bill_encoding_invalid`` naming its line, nothing stored; on PostgreSQL it once
reached the differences table and answered 500."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from indiepay.app import create_app
from indiepay.runtime import Runtime
from tests.reconciliation.test_interfaces import _key, runtime  # noqa: F401 -- the fixture, both databases
from tests.reconciliation.world import DAY, World, beijing


@pytest.mark.parametrize("channel", ["wechatpay", "alipay"])
def test_a_nul_in_a_bill_is_refused_and_nothing_is_stored(runtime: Runtime, channel: str) -> None:  # noqa: F811
    shop = World(runtime.ctx, channel=channel)
    paid = shop.payment(10_000, beijing(DAY, 10))
    if channel == "wechatpay":
        row = shop.wechat_row(paid)
        bill = shop.wechat_bill([replace(row, out_trade_no=row.out_trade_no[:-1] + "\x00")])
    else:
        alipay_row = shop.alipay_row(paid)
        bill = shop.alipay_bill([replace(alipay_row, out_trade_no=alipay_row.out_trade_no[:-1] + "\x00")])
    with TestClient(create_app(runtime.settings, runtime=runtime), raise_server_exceptions=False) as http:
        answer = http.post(f"/v1/reconciliation/bills?account_id={shop.account_id}&date={DAY}", content=bill,
                           headers=_key(runtime, shop.merchant_id, live=True))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "bill_encoding_invalid" and "NUL" in answer.json()["error"]["message"]
    with runtime.ctx.db.read() as session:
        assert session.execute(text("SELECT count(*) FROM reconciliation_runs")).scalar() == 0
        assert session.execute(text("SELECT count(*) FROM reconciliation_differences")).scalar() == 0
