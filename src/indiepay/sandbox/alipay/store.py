"""The Alipay sandbox's own state: apps, trades, refunds, fault knobs and notifies, in stdlib SQLite.

The sandbox never touches the platform's database. Rows hold a JSON document per object (the simulator
needs no queries beyond lookups by key), so the schema stays tiny. One connection guarded by a lock
serves both the event loop and worker threads; ``:memory:`` when no ``state_path`` is configured.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

_SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (app_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    app_id TEXT NOT NULL, out_trade_no TEXT NOT NULL, qr_code TEXT UNIQUE, trade_no TEXT UNIQUE,
    data TEXT NOT NULL,
    PRIMARY KEY (app_id, out_trade_no));
CREATE TABLE IF NOT EXISTS refunds (
    app_id TEXT NOT NULL, out_trade_no TEXT NOT NULL, out_request_no TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (app_id, out_trade_no, out_request_no));
CREATE TABLE IF NOT EXISTS faults (app_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notifies (
    notify_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, out_trade_no TEXT NOT NULL, done INTEGER NOT NULL,
    data TEXT NOT NULL);
"""


@dataclass
class App:
    """A provisioned sandbox app: the app's public key and the gateway's own key pair for it."""

    app_id: str
    seller_id: str
    app_public_key: str
    alipay_private_key: str
    alipay_public_key: str
    created_at: str


@dataclass
class Order:
    """A trade. ``status`` ``NOT_CREATED`` is a precreated QR nobody has scanned (Alipay has no trade yet)."""

    app_id: str
    out_trade_no: str
    trade_no: str
    total_fen: int
    subject: str
    status: str
    method: str
    product_code: str
    notify_url: str | None
    return_url: str | None
    qr_code: str | None
    created_at: str
    expires_at: str | None
    gmt_create: str | None = None
    paid_at: str | None = None
    buyer_id: str | None = None
    buyer_logon_id: str | None = None
    refunded_fen: int = 0
    bill_time: str | None = None  # when the bill books the payment, if a shift knob moved it from paid_at


@dataclass
class Refund:
    app_id: str
    out_trade_no: str
    out_request_no: str
    amount_fen: int
    refunded_at: str
    reason: str | None = None


@dataclass
class Faults:
    """Fault knobs of one app (see the package docstring)."""

    drop_callbacks: int = 0
    duplicate_callbacks: bool = False
    callback_delay_seconds: float = 0.0
    fail_with_500: int = 0
    hang_seconds: float = 0.0
    bill_faults: list[dict[str, Any]] = field(default_factory=list)  # queued, see indiepay.sandbox.billing


@dataclass
class NotifyRecord:
    """One async notify and its delivery attempts (``log`` holds one line per attempt)."""

    notify_id: str
    app_id: str
    out_trade_no: str
    url: str
    form: dict[str, str]
    attempts: int = 0
    delivered: bool = False
    log: list[str] = field(default_factory=list)


T = TypeVar("T")


def _load(cls: type[T], text: str) -> T:
    data = json.loads(text)
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _dump(obj: Any) -> str:
    return json.dumps(asdict(obj), ensure_ascii=False, sort_keys=True)


class SandboxStore:
    """Key lookups over SQLite; every method is atomic under one lock."""

    def __init__(self, path: str | None) -> None:
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        # a simulator's state: WAL without fsync per commit keeps the gateway from stalling its event loop
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()
        with self._lock:
            self._db.executescript(_SCHEMA)

    @property
    def lock(self) -> threading.RLock:
        """Held by callers that read-modify-write several rows as one step."""
        return self._lock

    def _one(self, sql: str, args: tuple[Any, ...]) -> str | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else str(row[0])

    def _put(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    # apps
    def add_app(self, app: App) -> None:
        self._put("INSERT INTO apps (app_id, data) VALUES (?, ?)", (app.app_id, _dump(app)))

    def replace_app(self, app: App) -> None:
        """Store an app's new keys (a rotation)."""
        self._put("UPDATE apps SET data = ? WHERE app_id = ?", (_dump(app), app.app_id))

    def app(self, app_id: str) -> App | None:
        text = self._one("SELECT data FROM apps WHERE app_id = ?", (app_id,))
        return None if text is None else _load(App, text)

    # orders
    def order(self, app_id: str, out_trade_no: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE app_id = ? AND out_trade_no = ?", (app_id, out_trade_no))
        return None if text is None else _load(Order, text)

    def order_by_qr(self, qr_code: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE qr_code = ?", (qr_code,))
        return None if text is None else _load(Order, text)

    def order_by_trade_no(self, app_id: str, trade_no: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE app_id = ? AND trade_no = ?", (app_id, trade_no))
        return None if text is None else _load(Order, text)

    def save_order(self, order: Order) -> None:
        self._put("INSERT OR REPLACE INTO orders (app_id, out_trade_no, qr_code, trade_no, data) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (order.app_id, order.out_trade_no, order.qr_code, order.trade_no, _dump(order)))

    def orders_of(self, app_id: str) -> list[Order]:
        """Every trade of an app, in creation order (bills scan them; a sandbox app has few)."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM orders WHERE app_id = ? ORDER BY rowid", (app_id,)).fetchall()
        return [_load(Order, str(row[0])) for row in rows]

    # refunds
    def all_refunds(self, app_id: str) -> list[Refund]:
        """Every refund of an app, in creation order."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM refunds WHERE app_id = ? ORDER BY rowid", (app_id,)).fetchall()
        return [_load(Refund, str(row[0])) for row in rows]

    def refund(self, app_id: str, out_trade_no: str, out_request_no: str) -> Refund | None:
        text = self._one("SELECT data FROM refunds WHERE app_id = ? AND out_trade_no = ? AND out_request_no = ?",
                         (app_id, out_trade_no, out_request_no))
        return None if text is None else _load(Refund, text)

    def refunds(self, app_id: str, out_trade_no: str) -> list[Refund]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM refunds WHERE app_id = ? AND out_trade_no = ? ORDER BY rowid",
                                    (app_id, out_trade_no)).fetchall()
        return [_load(Refund, str(row[0])) for row in rows]

    def add_refund(self, refund: Refund) -> None:
        self._put("INSERT INTO refunds (app_id, out_trade_no, out_request_no, data) VALUES (?, ?, ?, ?)",
                  (refund.app_id, refund.out_trade_no, refund.out_request_no, _dump(refund)))

    # faults
    def faults(self, app_id: str) -> Faults:
        text = self._one("SELECT data FROM faults WHERE app_id = ?", (app_id,))
        return Faults() if text is None else _load(Faults, text)

    def save_faults(self, app_id: str, faults: Faults) -> None:
        self._put("INSERT OR REPLACE INTO faults (app_id, data) VALUES (?, ?)", (app_id, _dump(faults)))

    def clear_faults(self, app_id: str) -> None:
        self._put("DELETE FROM faults WHERE app_id = ?", (app_id,))

    def take_fault(self, app_id: str, knob: str) -> bool:
        """Atomically consume one unit of a counting knob (``drop_callbacks`` / ``fail_with_500``)."""
        with self._lock:
            faults = self.faults(app_id)
            left = int(getattr(faults, knob))
            if left <= 0:
                return False
            setattr(faults, knob, left - 1)
            self.save_faults(app_id, faults)
            return True

    # notifies
    def save_notify(self, record: NotifyRecord) -> None:
        self._put("INSERT OR REPLACE INTO notifies (notify_id, app_id, out_trade_no, done, data) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (record.notify_id, record.app_id, record.out_trade_no, int(record.delivered), _dump(record)))

    def notify(self, notify_id: str) -> NotifyRecord | None:
        text = self._one("SELECT data FROM notifies WHERE notify_id = ?", (notify_id,))
        return None if text is None else _load(NotifyRecord, text)

    def notifies_for(self, app_id: str, out_trade_no: str) -> list[NotifyRecord]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM notifies WHERE app_id = ? AND out_trade_no = ? "
                                    "ORDER BY rowid", (app_id, out_trade_no)).fetchall()
        return [_load(NotifyRecord, str(row[0])) for row in rows]

    def pending_notifies(self) -> list[NotifyRecord]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM notifies WHERE done = 0 ORDER BY rowid").fetchall()
        return [_load(NotifyRecord, str(row[0])) for row in rows]
