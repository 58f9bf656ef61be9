"""A merchant's profile changed through the API is on the audit log with each changed field's old and new
value — fees and limits decide what a merchant pays and may collect — and a change to nothing records
nothing."""

from __future__ import annotations

import json

from tests.support.platform import PlatformUnderTest


def test_patch_records_what_changed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Audited Tea")
    changed = platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"platform_fee_bps": 55,
                                                                           "kyc_status": "complete"})
    assert changed.status_code == 200, changed.text
    rows = platform.sql("SELECT actor, details FROM audit_events WHERE action = 'merchant.updated' "
                        "AND target_id = :m", m=merchant.id)
    assert len(rows) == 1 and rows[0][0] == "admin"
    changes = json.loads(rows[0][1])["changes"]
    assert changes["platform_fee_bps"]["to"] == 55 and changes["kyc_status"] == {"from": "pending", "to": "complete"}
    same = platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"platform_fee_bps": 55})
    assert same.status_code == 200
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'merchant.updated' AND target_id = :m",
                        m=merchant.id) == [(1,)]
    refused = platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"platform_fee_bps": -1})
    assert refused.status_code == 400
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'merchant.updated' AND target_id = :m",
                        m=merchant.id) == [(1,)]
