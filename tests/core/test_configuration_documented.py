"""The README's configuration table is the operator's only list of settings: every setting the service reads
must be in it, and it must name none that does not exist (a renamed setting would leave a dead row)."""

from __future__ import annotations

import re
from pathlib import Path

from indiepay.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_variables() -> set[str]:
    """The ``INDIEPAY_*`` names in the first column of the table under ``## Configuration``."""
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `INDIEPAY_")]
    return {name for row in rows for name in re.findall(r"`(INDIEPAY_[A-Z0-9_]+)`", row.split(" | ")[0])}


def test_every_setting_has_a_row_in_the_readme_and_every_row_is_a_setting() -> None:
    settings = {f"INDIEPAY_{name.upper()}" for name in Settings.model_fields}
    documented = _table_variables()
    assert sorted(settings - documented) == []
    assert sorted(documented - settings) == []
