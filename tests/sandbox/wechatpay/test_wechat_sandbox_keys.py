"""Both key modes: platform certificates (fetched, decrypted, rotated) and the WeChat Pay public key."""

from __future__ import annotations

import secrets

import pytest
from wechat_sandbox_support import Sandbox, prepay_request, wait_for

from indiepay.channels.base import TradeState, UnknownOutcomeError


def test_certificate_mode_fetches_rotates_and_switches(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision("platform_certificate")
    assert "wechatpay_public_key_id" not in credentials
    mchid = credentials["mchid"]
    out_trade_no = f"C{secrets.token_hex(8)}"
    result = adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(mchid)))
    keys = adapter.client.keys
    assert keys.fetch_count == 1 and len(keys.known_serials()) == 1
    sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"code_url": result.code_url})
    assert wait_for(lambda: sandbox.accepted(mchid))[0].payment is not None

    view = sandbox.faults(mchid, rotate_platform_certificate=True)
    assert len(view["platform_certificate_serials"]) == 2
    assert view["signing_serial"] == view["platform_certificate_serials"][1]
    assert adapter.query_payment(out_trade_no).state is TradeState.SUCCEEDED  # new serial → one re-fetch
    assert keys.fetch_count == 2 and view["signing_serial"] in keys.known_serials()
    assert adapter.query_payment(out_trade_no).state is TradeState.SUCCEEDED
    assert keys.fetch_count == 2

    view = sandbox.faults(mchid, switch_to_public_key=True)
    assert view["key_mode"] == "public_key" and view["signing_serial"].startswith("PUB_KEY_ID_01")
    with pytest.raises(UnknownOutcomeError):  # this client does not hold the new public key yet
        adapter.query_payment(out_trade_no)
    migrated = sandbox.adapter({**credentials, "wechatpay_public_key_id": view["wechatpay_public_key_id"],
                                "wechatpay_public_key": view["wechatpay_public_key"]})
    assert migrated.query_payment(out_trade_no).state is TradeState.SUCCEEDED
    second = f"C{secrets.token_hex(8)}"
    result = migrated.prepay(prepay_request(second, sandbox.notify_url(mchid)))
    sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"code_url": result.code_url})
    notes = wait_for(lambda: [n for n in sandbox.accepted(mchid) if n.payment and n.payment.out_trade_no == second])
    assert notes[0].payment.state is TradeState.SUCCEEDED


def test_certificate_callbacks_after_rotation_verify(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision("platform_certificate")
    mchid = credentials["mchid"]
    out_trade_no = f"C{secrets.token_hex(8)}"
    result = adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(mchid)))
    sandbox.faults(mchid, rotate_platform_certificate=True)
    sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"code_url": result.code_url})
    notes = wait_for(lambda: sandbox.accepted(mchid))
    assert notes[0].payment is not None and sandbox.rejected(mchid) == []
    assert adapter.client.keys.fetch_count == 2


def test_public_key_mode_never_fetches_certificates(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision("public_key")
    assert credentials["wechatpay_public_key_id"].startswith("PUB_KEY_ID_01")
    adapter.prepay(prepay_request(f"P{secrets.token_hex(8)}", sandbox.notify_url(credentials["mchid"])))
    assert adapter.client.keys.fetch_count == 0
    certs = sandbox.http.get(f"{sandbox.base_url}/_faults", params={"mchid": credentials["mchid"]}).json()
    assert certs["platform_certificate_serials"] == []
