"""Rotation only re-wraps the columns listed in ``SEALED_COLUMNS``: a new place that seals secrets must be
listed there too, or its secrets would stay on a KEK the operator is about to delete."""

from __future__ import annotations

import re
from pathlib import Path

import indiepay
from indiepay.vault.repository import SEALED_COLUMNS

SRC = Path(indiepay.__file__).parent

# file that calls Vault.seal -> the table whose sealed column rotation walks for it
KNOWN_SEALING_SITES = {
    "accounts/service.py": "channel_accounts",
    "webhooks/service.py": "webhook_endpoints",
    "alerts/channels.py": "alert_channels",
}


def test_every_place_that_seals_a_secret_is_rotated() -> None:
    sites = {path.relative_to(SRC).as_posix() for path in SRC.rglob("*.py")
             if not path.is_relative_to(SRC / "vault") and re.search(r"\bvault\.seal\(", path.read_text())}
    assert sites == set(KNOWN_SEALING_SITES), (
        "the set of modules calling vault.seal(...) changed: add the new column to "
        "indiepay.vault.repository.SEALED_COLUMNS (so `indiepay vault rotate` re-wraps it), then update this map")
    assert {spec.table.name for spec in SEALED_COLUMNS} == set(KNOWN_SEALING_SITES.values())
