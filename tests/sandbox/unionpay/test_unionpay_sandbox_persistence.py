"""With a state file, the certificate chain, merchants, orders, knobs, undelivered notifies and processing
refunds survive a restart; the combined sandbox app keeps it in ``sandbox-unionpay.db``."""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.sandbox.unionpay.unionpay_sandbox_support import BACK, Receiver, running_sandbox, wait_for
from tests.support.servers import free_port, serve_in_thread

from indiepay.sandbox.app import create_sandbox_app
from indiepay.sandbox.unionpay import UnionpaySandboxConfig


def test_state_survives_a_restart(tmp_path: Path) -> None:
    state, port, receiver = str(tmp_path / "unionpay.db"), free_port(), Receiver()
    # time factor 2: the second notify send would come 30 s later, the refund ends after 1 s
    with running_sandbox(UnionpaySandboxConfig(state_path=state, time_factor=2), receiver, port) as first:
        merchant = first.provision()
        unpaid = merchant.qr_order()
        receiver.refuse[merchant.mer_id] = 1
        refused, _ = merchant.paid_order()
        wait_for(lambda: merchant.inspect(refused["orderId"])["notifies"][0]["attempts"] == 1)
        _, query_id = merchant.paid_order()
        refund_fields = merchant.refund_fields("R" + refused["orderId"][1:], query_id, 100)
        accepted = merchant.call(BACK, refund_fields)
        assert accepted["respCode"] == "00"
        merchant.faults(drop_callbacks=0, hang_seconds=0.01)
    with running_sandbox(UnionpaySandboxConfig(state_path=state, time_factor=1000), receiver, port) as second:
        merchant.sandbox = second
        answer = merchant.query(unpaid["orderId"], unpaid["txnTime"])  # verified with the chain from before
        assert answer["respCode"] == "34" and answer["signPubKeyCert"] == accepted["signPubKeyCert"]
        assert merchant.faults()["hang_seconds"] == 0.01
        merchant.faults(hang_seconds=0)
        notify = wait_for(lambda: (n := merchant.inspect(refused["orderId"])["notifies"][0])["delivered"] and n)
        assert [line.split(": ", 1)[1] for line in notify["log"]] == ["HTTP 500", "HTTP 200"]
        refund = wait_for(lambda: (r := merchant.query(refund_fields["orderId"], refund_fields["txnTime"]))
                          ["origRespCode"] == "00" and r, timeout=5)
        assert refund["queryId"] == accepted["queryId"]
        wait_for(lambda: any(form["txnType"] == "04" and ok for form, ok in receiver.notifies(merchant.mer_id)))
        paid = second.http.post(second.base + "/_buyer/pay", json={"qr_code": unpaid["qrCode"]})
        assert paid.status_code == 200


def test_combined_sandbox_app_mounts_unionpay_with_its_state_file(tmp_path: Path) -> None:
    with serve_in_thread(create_sandbox_app(state_dir=tmp_path, time_factor=1000)) as url, httpx.Client() as http:
        reply = http.post(url + "/unionpay/_provision", json={})
    assert reply.status_code == 201 and reply.json()["gateway_url"] == url + "/unionpay"
    assert (tmp_path / "sandbox-unionpay.db").exists()
