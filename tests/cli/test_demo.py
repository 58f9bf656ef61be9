"""``indiepay demo`` runs the whole story on every channel and by bank transfer and exits 0; ``migrate``
works on a fresh path."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from indiepay.cli.demo import run_demo
from indiepay.cli.main import app


def test_demo_tells_the_whole_story() -> None:
    lines: list[str] = []
    assert run_demo(lines.append) == 0
    text = "\n".join(lines)
    for channel in ("wechatpay", "alipay", "unionpay"):
        assert f"[{channel}] callback verified: payment succeeded" in text
        assert f"[{channel}] refund succeeded; webhook refund.succeeded received" in text
    assert "[bank_transfer] statement imported: 1 credit(s), 1 matched" in text
    assert "[bank_transfer] refund confirmed; webhook refund.succeeded received; final payment: status=succeeded " \
        "amount=52000 refunded=12000" in text
    assert "8 webhooks delivered, 0 rejected" in text


def test_migrate_command_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "newest schema" in result.output
    assert (tmp_path / "x.db").exists()
