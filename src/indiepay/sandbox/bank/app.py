"""The sandbox bank's two endpoints and its ledger of received transfers (see the package docstring)."""

from __future__ import annotations

import csv
import io
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from indiepay.core.clock import BUSINESS_TZ

_ACCOUNT = re.compile(r"\d{8,30}")
MAX_AMOUNT = 100_000_000_000


@dataclass(frozen=True)
class BankSandboxConfig:
    """``state_path`` None keeps the transfers in memory (tests); otherwise a SQLite file."""

    state_path: str | None = None


class Ledger:
    """Received transfers, one table; thread-safe."""

    def __init__(self, path: str | None) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS transfers (bank_txn_id TEXT PRIMARY KEY, account_number TEXT, "
                         "amount INTEGER, memo TEXT, payer_name TEXT, booked_at TEXT)")

    def add(self, account_number: str, amount: int, memo: str, payer_name: str) -> dict[str, Any]:
        booked_at = datetime.now(UTC)
        row = {"bank_txn_id": "SBX" + booked_at.strftime("%Y%m%d") + secrets.token_hex(6).upper(),
               "account_number": account_number, "amount": amount, "memo": memo, "payer_name": payer_name,
               "booked_at": booked_at.isoformat()}
        with self._lock:
            self._db.execute("INSERT INTO transfers VALUES (:bank_txn_id, :account_number, :amount, :memo, "
                             ":payer_name, :booked_at)", row)
        return row

    def of(self, account_number: str) -> list[tuple[str, str, int, str, str]]:
        with self._lock:
            return list(self._db.execute(
                "SELECT booked_at, bank_txn_id, amount, payer_name, memo FROM transfers WHERE account_number = ? "
                "ORDER BY booked_at, bank_txn_id", (account_number,)))


def _refuse(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def create_bank_sandbox(config: BankSandboxConfig) -> FastAPI:
    app = FastAPI(title="IndiePay sandbox bank", docs_url=None, redoc_url=None, openapi_url=None)
    ledger = Ledger(config.state_path)

    @app.post("/_buyer/transfer")
    async def transfer(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _refuse("the body is not JSON")
        if not isinstance(body, dict):
            return _refuse("the body is not a JSON object")
        account, amount = body.get("account_number"), body.get("amount")
        memo, payer = body.get("memo", ""), body.get("payer_name", "沙箱买家")
        if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
            return _refuse("account_number must be 8 to 30 digits")
        if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
            return _refuse("amount must be a positive whole number of fen")
        if not isinstance(memo, str) or len(memo) > 140 or not isinstance(payer, str) or len(payer) > 60:
            return _refuse("memo (≤ 140) and payer_name (≤ 60) must be short strings")
        return JSONResponse(ledger.add(account, amount, memo, payer), status_code=201)

    @app.get("/statement")
    def statement(account_number: str, on: Annotated[str | None, Query(alias="date")] = None) -> Response:
        day: date | None = None
        if on is not None:
            try:
                day = date.fromisoformat(on)
            except ValueError:
                return _refuse("date must be YYYY-MM-DD")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["交易时间", "交易流水号", "金额", "对方户名", "附言"])
        for booked_at, txn_id, amount, payer, memo in ledger.of(account_number):
            local = datetime.fromisoformat(booked_at).astimezone(BUSINESS_TZ)
            if day is None or local.date() == day:
                writer.writerow([local.strftime("%Y-%m-%d %H:%M:%S"), txn_id, f"{amount / 100:.2f}", payer, memo])
        return Response(out.getvalue().encode("gbk"), media_type="text/csv; charset=GBK")

    return app

