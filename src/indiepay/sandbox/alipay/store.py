"""The Alipay sandbox's own state: apps, trades, refunds, royalty bindings and settles, fault knobs and
notifies, in stdlib SQLite.

The sandbox never touches the platform's database. Rows hold a JSON document per object (the simulator
needs no queries beyond lookups by key), so the schema stays tiny. One connection guarded by a lock
serves both the event loop and worker threads; ``:memory:`` when no ``state_path`` is configured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from indiepay.sandbox.documents import KnobDocumentDb, build, dump, load

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
CREATE TABLE IF NOT EXISTS royalty_bindings (
    app_id TEXT NOT NULL, receiver_type TEXT NOT NULL, account TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (app_id, receiver_type, account));
CREATE TABLE IF NOT EXISTS settles (
    settle_no TEXT PRIMARY KEY, app_id TEXT NOT NULL, trade_no TEXT NOT NULL, out_request_no TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (app_id, trade_no, out_request_no));
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
    royalty_freeze: bool = False  # created with extend_params.royalty_freeze "true": money held for settles


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
    royalty_fail_error_code: str = ""  # non-empty: every transfer detail of new settles FAILs with it


@dataclass
class RoyaltyBinding:
    """A receiver bound to an app by ``alipay.trade.royalty.relation.bind`` (keyed by type and account)."""

    app_id: str
    receiver_type: str
    account: str
    bound_at: str
    name: str | None = None
    memo: str | None = None


@dataclass
class RoyaltyDetail:
    """One line of a settle: a ``transfer`` to a receiver or the final ``unfreeze`` back to the seller.

    An async transfer is ``PROCESSING`` until ``due_at`` (real time); its outcome is decided when the settle
    is accepted and kept in ``pending_error_code`` until then (empty: it will succeed).
    """

    detail_id: str
    operation_type: str
    trans_in_type: str
    trans_in: str
    amount_fen: int
    state: str
    executed_at: str
    error_code: str | None = None
    error_desc: str | None = None
    desc: str | None = None
    due_at: str | None = None
    pending_error_code: str | None = None
    pending_error_desc: str | None = None


@dataclass
class Settle:
    """An accepted ``alipay.trade.order.settle`` request; ``finish`` means it ended the trade's royalty."""

    app_id: str
    trade_no: str
    out_request_no: str
    settle_no: str
    operated_at: str
    finish: bool
    details: list[RoyaltyDetail] = field(default_factory=list)

    @property
    def held_fen(self) -> int:
        """Money this settle gave (or is giving) to receivers: transfers that succeeded or are running."""
        return sum(d.amount_fen for d in self.details
                   if d.operation_type == "transfer" and d.state in ("SUCCESS", "PROCESSING"))


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




def _load_settle(text: str) -> Settle:
    """A settle with its details rebuilt as dataclasses (:func:`_load` would leave them as dicts)."""
    data = json.loads(text)
    details = [build(RoyaltyDetail, d) for d in data.pop("details", [])]
    return build(Settle, {**data, "details": details})


class SandboxStore(KnobDocumentDb[Faults]):
    """Key lookups over SQLite; every method is atomic under one lock."""

    FAULTS = Faults
    FAULTS_KEY = "app_id"

    def __init__(self, path: str | None) -> None:
        super().__init__(path, _SCHEMA)

    # apps
    def add_app(self, app: App) -> None:
        self._put("INSERT INTO apps (app_id, data) VALUES (?, ?)", (app.app_id, dump(app)))

    def replace_app(self, app: App) -> None:
        """Store an app's new keys (a rotation)."""
        self._put("UPDATE apps SET data = ? WHERE app_id = ?", (dump(app), app.app_id))

    def app(self, app_id: str) -> App | None:
        text = self._one("SELECT data FROM apps WHERE app_id = ?", (app_id,))
        return None if text is None else load(App, text)

    # orders
    def order(self, app_id: str, out_trade_no: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE app_id = ? AND out_trade_no = ?", (app_id, out_trade_no))
        return None if text is None else load(Order, text)

    def order_by_qr(self, qr_code: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE qr_code = ?", (qr_code,))
        return None if text is None else load(Order, text)

    def order_by_trade_no(self, app_id: str, trade_no: str) -> Order | None:
        text = self._one("SELECT data FROM orders WHERE app_id = ? AND trade_no = ?", (app_id, trade_no))
        return None if text is None else load(Order, text)

    def save_order(self, order: Order) -> None:
        self._put("INSERT OR REPLACE INTO orders (app_id, out_trade_no, qr_code, trade_no, data) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (order.app_id, order.out_trade_no, order.qr_code, order.trade_no, dump(order)))

    def orders_of(self, app_id: str) -> list[Order]:
        """Every trade of an app, in creation order (bills scan them; a sandbox app has few)."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM orders WHERE app_id = ? ORDER BY rowid", (app_id,)).fetchall()
        return [load(Order, str(row[0])) for row in rows]

    # refunds
    def all_refunds(self, app_id: str) -> list[Refund]:
        """Every refund of an app, in creation order."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM refunds WHERE app_id = ? ORDER BY rowid", (app_id,)).fetchall()
        return [load(Refund, str(row[0])) for row in rows]

    def refund(self, app_id: str, out_trade_no: str, out_request_no: str) -> Refund | None:
        text = self._one("SELECT data FROM refunds WHERE app_id = ? AND out_trade_no = ? AND out_request_no = ?",
                         (app_id, out_trade_no, out_request_no))
        return None if text is None else load(Refund, text)

    def refunds(self, app_id: str, out_trade_no: str) -> list[Refund]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM refunds WHERE app_id = ? AND out_trade_no = ? ORDER BY rowid",
                                    (app_id, out_trade_no)).fetchall()
        return [load(Refund, str(row[0])) for row in rows]

    def add_refund(self, refund: Refund) -> None:
        self._put("INSERT INTO refunds (app_id, out_trade_no, out_request_no, data) VALUES (?, ?, ?, ?)",
                  (refund.app_id, refund.out_trade_no, refund.out_request_no, dump(refund)))

    # royalty
    def binding(self, app_id: str, receiver_type: str, account: str) -> RoyaltyBinding | None:
        text = self._one("SELECT data FROM royalty_bindings WHERE app_id = ? AND receiver_type = ? AND account = ?",
                         (app_id, receiver_type, account))
        return None if text is None else load(RoyaltyBinding, text)

    def save_binding(self, binding: RoyaltyBinding) -> None:
        self._put("INSERT OR REPLACE INTO royalty_bindings (app_id, receiver_type, account, data) VALUES (?, ?, ?, ?)",
                  (binding.app_id, binding.receiver_type, binding.account, dump(binding)))

    def delete_binding(self, app_id: str, receiver_type: str, account: str) -> None:
        self._put("DELETE FROM royalty_bindings WHERE app_id = ? AND receiver_type = ? AND account = ?",
                  (app_id, receiver_type, account))

    def save_settle(self, settle: Settle) -> None:
        """Insert or update in place (an upsert keeps the row's place in :meth:`settles_of`)."""
        self._put("INSERT INTO settles (settle_no, app_id, trade_no, out_request_no, data) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (settle_no) DO UPDATE SET data = excluded.data",
                  (settle.settle_no, settle.app_id, settle.trade_no, settle.out_request_no, dump(settle)))

    def settle(self, app_id: str, settle_no: str) -> Settle | None:
        text = self._one("SELECT data FROM settles WHERE app_id = ? AND settle_no = ?", (app_id, settle_no))
        return None if text is None else _load_settle(text)

    def settle_by_request(self, app_id: str, trade_no: str, out_request_no: str) -> Settle | None:
        text = self._one("SELECT data FROM settles WHERE app_id = ? AND trade_no = ? AND out_request_no = ?",
                         (app_id, trade_no, out_request_no))
        return None if text is None else _load_settle(text)

    def settles_of(self, app_id: str, trade_no: str) -> list[Settle]:
        """Every settle of a trade, in the order they were accepted."""
        with self._lock:
            rows = self._db.execute("SELECT data FROM settles WHERE app_id = ? AND trade_no = ? ORDER BY rowid",
                                    (app_id, trade_no)).fetchall()
        return [_load_settle(str(row[0])) for row in rows]

    # notifies
    def save_notify(self, record: NotifyRecord) -> None:
        self._put("INSERT OR REPLACE INTO notifies (notify_id, app_id, out_trade_no, done, data) "
                  "VALUES (?, ?, ?, ?, ?)",
                  (record.notify_id, record.app_id, record.out_trade_no, int(record.delivered), dump(record)))

    def notify(self, notify_id: str) -> NotifyRecord | None:
        text = self._one("SELECT data FROM notifies WHERE notify_id = ?", (notify_id,))
        return None if text is None else load(NotifyRecord, text)

    def notifies_for(self, app_id: str, out_trade_no: str) -> list[NotifyRecord]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM notifies WHERE app_id = ? AND out_trade_no = ? "
                                    "ORDER BY rowid", (app_id, out_trade_no)).fetchall()
        return [load(NotifyRecord, str(row[0])) for row in rows]

    def pending_notifies(self) -> list[NotifyRecord]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM notifies WHERE done = 0 ORDER BY rowid").fetchall()
        return [load(NotifyRecord, str(row[0])) for row in rows]
