"""Fault knobs: dropped / duplicated callbacks, SIGNTEST probes, 500s and hangs."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from wechat_sandbox_support import Sandbox, prepay_request, wait_for

from indiepay.channels.base import RetryableChannelError, TradeState, UnknownOutcomeError


def _paid(sandbox: Sandbox, adapter: Any, mchid: str) -> str:
    out_trade_no = f"F{secrets.token_hex(8)}"
    result = adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(mchid)))
    paid = sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"code_url": result.code_url})
    assert paid.status_code == 200
    return out_trade_no


def _log(sandbox: Sandbox, mchid: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = sandbox.http.get(f"{sandbox.base_url}/_callbacks",
                                                  params={"mchid": mchid}).json()["deliveries"]
    return data


def test_dropped_callbacks_are_resent(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    mchid = credentials["mchid"]
    sandbox.faults(mchid, drop_callbacks=2)
    _paid(sandbox, adapter, mchid)
    assert len(wait_for(lambda: sandbox.accepted(mchid))) == 1

    def logged() -> list[tuple[str, int]]:  # the gateway logs a delivery once the receiver's answer is back
        kinds = [(entry["kind"], entry["attempt"]) for entry in _log(sandbox, mchid)]
        return kinds if len(kinds) >= 3 else []

    assert wait_for(logged) == [("dropped", 1), ("dropped", 2), ("delivery", 3)]


def test_duplicate_callbacks(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    mchid = credentials["mchid"]
    sandbox.faults(mchid, duplicate_callbacks=True)
    _paid(sandbox, adapter, mchid)
    notes = wait_for(lambda: sandbox.accepted(mchid) if len(sandbox.accepted(mchid)) == 2 else None)
    assert notes[0].notification_id == notes[1].notification_id


def test_signtest_probe_is_rejected_then_real_callback_accepted(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    mchid = credentials["mchid"]
    sandbox.faults(mchid, signtest_probe=True)
    _paid(sandbox, adapter, mchid)
    wait_for(lambda: sandbox.accepted(mchid))
    assert sandbox.rejected(mchid) == ["SIGNTEST"]
    probe = next(entry for entry in _log(sandbox, mchid) if entry["kind"] == "signtest_probe")
    assert probe["status"] == 400


def test_fail_with_500_is_unknown_outcome_then_recovers(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    mchid = credentials["mchid"]
    sandbox.faults(mchid, fail_with_500=1)
    request = prepay_request(f"F{secrets.token_hex(8)}", sandbox.notify_url(mchid))
    with pytest.raises(UnknownOutcomeError) as exc:
        adapter.prepay(request)
    assert exc.value.channel_code == "SYSTEM_ERROR" and exc.value.http_status == 500
    assert adapter.prepay(request).code_url


def test_hang_is_unknown_for_mutations_and_retryable_for_queries(sandbox: Sandbox) -> None:
    credentials, _ = sandbox.provision()
    mchid = credentials["mchid"]
    impatient = sandbox.adapter(credentials, timeout=0.3)
    out_trade_no = f"F{secrets.token_hex(8)}"
    sandbox.faults(mchid, hang_seconds=0.8)
    try:
        with pytest.raises(UnknownOutcomeError):
            impatient.prepay(prepay_request(out_trade_no, sandbox.notify_url(mchid)))
        with pytest.raises(RetryableChannelError):
            impatient.query_payment(out_trade_no)
    finally:
        sandbox.http.delete(f"{sandbox.base_url}/_faults", params={"mchid": mchid})
    assert impatient.query_payment(out_trade_no).state is TradeState.PENDING  # it did happen


def test_fault_api_validation(sandbox: Sandbox) -> None:
    credentials, _ = sandbox.provision()
    bad = sandbox.http.post(f"{sandbox.base_url}/_faults", json={"mchid": credentials["mchid"], "explode": True})
    assert bad.status_code == 400
    unknown = sandbox.http.get(f"{sandbox.base_url}/_faults", params={"mchid": "1"})
    assert unknown.status_code == 404
    view = sandbox.faults(credentials["mchid"], drop_callbacks=3, callback_delay_seconds=0.5)
    assert view["faults"]["drop_callbacks"] == 3 and view["faults"]["callback_delay_seconds"] == 0.5
    reset = sandbox.http.delete(f"{sandbox.base_url}/_faults", params={"mchid": credentials["mchid"]}).json()
    assert reset["faults"]["drop_callbacks"] == 0
