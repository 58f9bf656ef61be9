"""Royalty (交易分账) over time and load: async settles, persistence across a restart, concurrent settles."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.sandbox.alipay.alipay_harness import MOUNT, Receiver, SandboxApp, provision, sandbox_parent
from tests.sandbox.alipay.royalty_harness import (
    NOT_BOUND,
    USER_A,
    bind,
    details,
    failure,
    paid_trade,
    refund,
    settle,
    states,
    unsettled,
)
from tests.support.servers import serve_in_thread

from indiepay.sandbox.alipay import AlipaySandboxConfig
from indiepay.sandbox.alipay.config import ROYALTY_SETTLE_SECONDS
from indiepay.sandbox.alipay.royalty import RoyaltyDesk
from indiepay.sandbox.alipay.store import App, Order, SandboxStore
from indiepay.sandbox.alipay.trades import GatewayError, TradeBook
from indiepay.sandbox.clock import SandboxClock

TOO_MUCH = ("40004", "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR")
TRADE_NO = "2024010122001000000000000001"


@pytest.fixture(scope="module")
def slow_base() -> Iterator[str]:
    """A gateway whose async settles stay PROCESSING for one real second."""
    with serve_in_thread(sandbox_parent(AlipaySandboxConfig(time_factor=ROYALTY_SETTLE_SECONDS))) as base:
        yield base + MOUNT


def wait_settled(sbx: SandboxApp, settle_no: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = details(sbx, settle_no)
        if all(d["state"] != "PROCESSING" for d in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_async_settle_runs_then_settles(slow_base: str, receiver_base: str, receiver: Receiver) -> None:
    sbx = provision(slow_base, receiver_base, receiver)
    trade_no = paid_trade(sbx, "100.00")
    bind(sbx, USER_A)
    started = time.monotonic()
    response = settle(sbx, trade_no, "as_1", (USER_A, "10.00"), (NOT_BOUND, "1.00"), mode="async")
    assert response.ok
    settle_no = response.field("settle_no") or ""
    running = details(sbx, settle_no)
    assert time.monotonic() - started < 1.0, "too slow to observe PROCESSING"
    assert states(running) == [("transfer", USER_A, "10.00", "PROCESSING", None),
                               ("transfer", NOT_BOUND, "1.00", "PROCESSING", None)]
    assert all(d["execute_dt"] for d in running)
    assert unsettled(sbx, trade_no) == "89.00"  # running transfers count as settled
    assert failure(refund(sbx, trade_no, "89.01")) == ("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH")

    finished = paid_trade(sbx, "10.00")
    last = settle(sbx, finished, "as_2", (USER_A, "1.00"), finish=True, mode="async")
    assert states(details(sbx, last.field("settle_no") or "")) == [
        ("transfer", USER_A, "1.00", "PROCESSING", None),
        ("unfreeze", sbx.credentials["seller_id"], "9.00", "SUCCESS", None)]

    done = wait_settled(sbx, settle_no)
    assert time.monotonic() - started >= 1.0
    assert states(done) == [("transfer", USER_A, "10.00", "SUCCESS", None),
                            ("transfer", NOT_BOUND, "1.00", "FAIL", "RECEIVER_NOT_BIND")]
    assert done[1]["error_desc"] == "分账关系未绑定"
    assert unsettled(sbx, trade_no) == "90.00"  # the failed transfer gave its money back
    assert states(wait_settled(sbx, last.field("settle_no") or ""))[0][3] == "SUCCESS"

    sbx.faults(royalty_fail_error_code="TXN_RESULT_ACCOUNT_STATUS_NOT_VALID")
    knocked = settle(sbx, trade_no, "as_3", (USER_A, "1.00"), mode="async")
    assert states(details(sbx, knocked.field("settle_no") or ""))[0][3] == "PROCESSING"
    assert states(wait_settled(sbx, knocked.field("settle_no") or "")) == [
        ("transfer", USER_A, "1.00", "FAIL", "TXN_RESULT_ACCOUNT_STATUS_NOT_VALID")]


def _forget_royalty_freeze(db_path: Path, app_id: str, trade_no: str) -> None:
    """Rewrite a trade's row as a sandbox from before royalty support stored it (no ``royalty_freeze``)."""
    with sqlite3.connect(db_path) as db:
        (text,) = db.execute("SELECT data FROM orders WHERE app_id = ? AND trade_no = ?", (app_id, trade_no)).fetchone()
        data = json.loads(text)
        del data["royalty_freeze"]
        db.execute("UPDATE orders SET data = ? WHERE app_id = ? AND trade_no = ?", (json.dumps(data), app_id, trade_no))


def test_bindings_and_settles_survive_restart(tmp_path: Path, receiver_base: str, receiver: Receiver) -> None:
    db_path = tmp_path / "alipay.db"
    config = AlipaySandboxConfig(state_path=str(db_path), time_factor=ROYALTY_SETTLE_SECONDS)
    with serve_in_thread(sandbox_parent(config)) as base:
        sbx = provision(base + MOUNT, receiver_base, receiver)
        trade_no, old_trade = paid_trade(sbx, "100.00"), paid_trade(sbx, "100.00")
        bind(sbx, USER_A)
        synced = settle(sbx, trade_no, "ps_1", (USER_A, "10.00"), (NOT_BOUND, "1.00"))
        pending = settle(sbx, trade_no, "ps_2", (USER_A, "5.00"), mode="async")
        before = details(sbx, synced.field("settle_no") or "")
        assert states(details(sbx, pending.field("settle_no") or ""))[0][3] == "PROCESSING"
    _forget_royalty_freeze(db_path, sbx.app_id, old_trade)

    with serve_in_thread(sandbox_parent(config)) as base:
        sbx.base = base + MOUNT
        assert details(sbx, synced.field("settle_no") or "") == before
        assert settle(sbx, trade_no, "ps_1", (USER_A, "1.00")).field("settle_no") == synced.field("settle_no")
        assert states(wait_settled(sbx, pending.field("settle_no") or "")) == [
            ("transfer", USER_A, "5.00", "SUCCESS", None)]  # a settle due while stopped settles on reading
        assert unsettled(sbx, trade_no) == "85.00"
        again = settle(sbx, trade_no, "ps_3", (USER_A, "1.00"))  # the binding survived too
        assert states(details(sbx, again.field("settle_no") or ""))[0][3] == "SUCCESS"
        old = settle(sbx, old_trade, "ps_4", (USER_A, "1.00"))
        assert failure(old) == ("40004", "ACQ.TRADE_SETTLE_ERROR")  # an older row loads as not frozen
        assert unsettled(sbx, old_trade) == "100.00"


def test_concurrent_settles_keep_the_limit(sbx: SandboxApp) -> None:
    trade_no, other = paid_trade(sbx, "100.00"), paid_trade(sbx, "100.00")  # 30.00 each: six settles of 5.00
    bind(sbx, USER_A)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda n: settle(sbx, trade_no, f"cc_{n}", (USER_A, "5.00")), range(12)))
        repeats = list(pool.map(lambda n: settle(sbx, other, "cc_same", (USER_A, "5.00")), range(8)))
    assert sum(r.ok for r in results) == 6
    assert all(failure(r) == TOO_MUCH for r in results if not r.ok)
    assert unsettled(sbx, trade_no) == "70.00"
    assert all(r.ok for r in repeats) and len({r.field("settle_no") for r in repeats}) == 1
    assert unsettled(sbx, other) == "95.00"  # one settle, however many times it was sent


def test_settles_and_refunds_race_under_the_lock() -> None:
    """Threads calling the rules directly (no event loop serialising them) never break the limits."""
    store, clock = SandboxStore(None), SandboxClock()
    desk = RoyaltyDesk(store, clock, time_factor=1.0)
    trades = TradeBook(store, clock, held_fen=desk.held_fen)
    app = App(app_id="2021000000000001", seller_id="2088000000000000", app_public_key="", alipay_private_key="",
              alipay_public_key="", created_at=clock.now().isoformat())
    store.add_app(app)
    stamp = clock.now().isoformat()
    store.save_order(Order(app_id=app.app_id, out_trade_no="race_1", trade_no=TRADE_NO,
                           total_fen=10000, subject="s", status="TRADE_SUCCESS", method="alipay.trade.precreate",
                           product_code="FACE_TO_FACE_PAYMENT", notify_url=None, return_url=None, qr_code=None,
                           created_at=stamp, expires_at=None, paid_at=stamp, royalty_freeze=True))
    desk.handle("alipay.trade.royalty.relation.bind", app, {"out_request_no": "b1", "receiver_list": [
        {"type": "userId", "account": USER_A}]})
    gate = threading.Barrier(24)

    def share(n: int) -> bool:
        gate.wait()
        try:
            desk.settle(app, {"out_request_no": f"s{n}", "trade_no": TRADE_NO, "royalty_parameters": [
                {"trans_in_type": "userId", "trans_in": USER_A, "amount": "7.00"}]})
        except GatewayError:
            return False
        return True

    def give_back(n: int) -> bool:
        gate.wait()
        try:
            trades.refund(app, {"trade_no": TRADE_NO, "refund_amount": "15.00",
                                "out_request_no": f"r{n}"})
        except GatewayError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=24) as pool:
        shares = [pool.submit(share, n) for n in range(12)]
        refunds = [pool.submit(give_back, n) for n in range(12)]
    shared, refunded = sum(f.result() for f in shares), sum(f.result() for f in refunds)
    settled = sum(s.held_fen for s in store.settles_of(app.app_id, TRADE_NO))
    assert settled == 700 * shared <= 3000 and shared >= 1
    assert settled + 1500 * refunded <= 10000
