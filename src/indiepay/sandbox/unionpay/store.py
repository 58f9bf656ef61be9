"""The UnionPay sandbox's own state, in stdlib SQLite: the gateway's certificate chain, merchants,
transactions (orders and refunds), fault knobs and notifies.

The sandbox never touches the platform's database. Rows hold a JSON document per object plus the few
columns the gateway looks things up by (``queryId``, the QR token, a refund's ``origQryId``), so the schema
stays tiny. One connection guarded by a lock serves the event loop and worker threads alike;
``:memory:`` when no ``state_path`` is configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from indiepay.sandbox.documents import KnobDocumentDb, dump, load

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gateway (id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS merchants (mer_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS txns (
    mer_id TEXT NOT NULL, order_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    query_id TEXT UNIQUE, qr_token TEXT UNIQUE, orig_qry_id TEXT, data TEXT NOT NULL,
    PRIMARY KEY (mer_id, order_id));
CREATE INDEX IF NOT EXISTS txns_by_orig ON txns (mer_id, orig_qry_id);
CREATE TABLE IF NOT EXISTS faults (mer_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notifies (
    notify_id TEXT PRIMARY KEY, mer_id TEXT NOT NULL, group_id TEXT NOT NULL, done INTEGER NOT NULL,
    data TEXT NOT NULL);
"""

# Transaction kinds and states.
QR, FRONT, REFUND = "qr", "front", "refund"
UNPAID, PAID = "unpaid", "paid"
PROCESSING, SUCCEEDED, FAILED = "processing", "succeeded", "failed"


@dataclass
class GatewayPki:
    """The gateway's key material (PEM): its root and intermediate CA, the current signing key and
    certificate, and — once the ``foreign_signer`` knob was used — a signer under an unrelated root."""

    root_key: str
    root_cert: str
    middle_key: str
    middle_cert: str
    signer_key: str
    signer_cert: str
    generation: int = 1
    foreign_key: str | None = None
    foreign_cert: str | None = None


@dataclass
class Merchant:
    """A provisioned merchant: its number and the certificate whose key signs its requests."""

    mer_id: str
    cert_pem: str
    cert_id: str
    created_at: str


@dataclass
class Txn:
    """One transaction the gateway accepted: a QR order, a gateway-page order or a refund.

    ``fingerprint`` holds what makes a resend "identical" (type, time, amount, original) and ``answer``
    the first synchronous answer's fields, unsigned, so an identical resend gets the same answer again.
    Payments are ``unpaid`` → ``paid``; refunds ``processing`` → ``succeeded`` | ``failed`` at
    ``settle_due`` (real time); ``will_fail`` is decided at acceptance by the ``refund_fail`` knob.
    """

    mer_id: str
    order_id: str
    kind: str
    status: str
    txn_type: str
    txn_sub_type: str
    biz_type: str
    channel_type: str
    access_type: str
    txn_time: str
    txn_amt: int
    currency_code: str
    back_url: str
    created_at: str
    fingerprint: dict[str, str] = field(default_factory=dict)
    answer: dict[str, str] = field(default_factory=dict)
    front_url: str | None = None
    pay_timeout: str | None = None  # aware UTC ISO instant; None: no deadline
    order_desc: str | None = None
    req_reserved: str | None = None
    qr_code: str | None = None
    qr_token: str | None = None
    query_id: str | None = None
    trace_no: str | None = None
    trace_time: str | None = None
    traced_at: str | None = None  # the instant ``trace_time`` names (business clock, aware ISO)
    settle_date: str | None = None
    completed_at: str | None = None  # paid, or refund ended (business clock)
    acc_no: str | None = None
    refunded_fen: int = 0  # payments: refunds processing or succeeded
    orig_qry_id: str | None = None  # refunds: the paid order's queryId
    settle_due: str | None = None  # refunds: aware UTC ISO (real time)
    will_fail: bool = False
    bill_time: str | None = None  # paid orders: where a shift knob moved the booking instant (aware ISO)


@dataclass
class Faults:
    """Fault knobs of one merchant (see the package docstring)."""

    drop_callbacks: int = 0
    duplicate_callbacks: bool = False
    callback_delay_seconds: float = 0.0
    fail_with_500: int = 0
    hang_seconds: float = 0.0
    refund_fail: bool = False
    foreign_signer: bool = False
    bill_faults: list[dict[str, Any]] = field(default_factory=list)  # queued, see indiepay.sandbox.billing


@dataclass
class NotifyRecord:
    """One back notification and its delivery attempts. ``group_id`` is the paid order's ``orderId`` (a
    refund's notify is grouped with its order for the inspection endpoint)."""

    notify_id: str
    mer_id: str
    group_id: str
    order_id: str
    kind: str
    url: str
    form: dict[str, str]
    attempts: int = 0
    delivered: bool = False
    log: list[str] = field(default_factory=list)



class SandboxStore(KnobDocumentDb[Faults]):
    """Key lookups over SQLite; every method is atomic under one lock (``lock`` for multi-row steps)."""

    FAULTS = Faults
    FAULTS_KEY = "mer_id"

    def __init__(self, path: str | None) -> None:
        super().__init__(path, _SCHEMA)

    # the gateway's certificates
    def pki(self) -> GatewayPki | None:
        text = self._one("SELECT data FROM gateway WHERE id = 1", ())
        return None if text is None else load(GatewayPki, text)

    def save_pki(self, pki: GatewayPki) -> None:
        self._put("INSERT OR REPLACE INTO gateway (id, data) VALUES (1, ?)", (dump(pki),))

    # merchants
    def merchant(self, mer_id: str) -> Merchant | None:
        text = self._one("SELECT data FROM merchants WHERE mer_id = ?", (mer_id,))
        return None if text is None else load(Merchant, text)

    def add_merchant(self, merchant: Merchant) -> None:
        self._put("INSERT INTO merchants (mer_id, data) VALUES (?, ?)", (merchant.mer_id, dump(merchant)))

    # transactions
    def txn(self, mer_id: str, order_id: str) -> Txn | None:
        text = self._one("SELECT data FROM txns WHERE mer_id = ? AND order_id = ?", (mer_id, order_id))
        return None if text is None else load(Txn, text)

    def txn_by_query_id(self, query_id: str) -> Txn | None:
        text = self._one("SELECT data FROM txns WHERE query_id = ?", (query_id,))
        return None if text is None else load(Txn, text)

    def txn_by_qr_token(self, token: str) -> Txn | None:
        text = self._one("SELECT data FROM txns WHERE qr_token = ?", (token,))
        return None if text is None else load(Txn, text)

    def save_txn(self, txn: Txn) -> None:
        self._put("INSERT INTO txns (mer_id, order_id, kind, status, query_id, qr_token, orig_qry_id, data) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (mer_id, order_id) DO UPDATE SET "
                  "status = excluded.status, query_id = excluded.query_id, data = excluded.data",
                  (txn.mer_id, txn.order_id, txn.kind, txn.status, txn.query_id, txn.qr_token, txn.orig_qry_id,
                   dump(txn)))

    def refunds_of(self, mer_id: str, query_id: str) -> list[Txn]:
        """The refunds of the paid order ``query_id``, in the order they were accepted."""
        return [load(Txn, text) for text in self._all(
            "SELECT data FROM txns WHERE mer_id = ? AND orig_qry_id = ? ORDER BY rowid", (mer_id, query_id))]

    def txns_of(self, mer_id: str) -> list[Txn]:
        """Every transaction of the merchant, in the order they were accepted (the reconciliation file)."""
        return [load(Txn, text) for text in self._all(
            "SELECT data FROM txns WHERE mer_id = ? ORDER BY rowid", (mer_id,))]

    def processing_refunds(self) -> list[Txn]:
        return [load(Txn, text) for text in self._all(
            "SELECT data FROM txns WHERE kind = ? AND status = ? ORDER BY rowid", (REFUND, PROCESSING))]

    # notifies
    def save_notify(self, record: NotifyRecord) -> None:
        """Insert or update in place (an upsert keeps the row's place in :meth:`notifies_for`)."""
        self._put("INSERT INTO notifies (notify_id, mer_id, group_id, done, data) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (notify_id) DO UPDATE SET done = excluded.done, data = excluded.data",
                  (record.notify_id, record.mer_id, record.group_id, int(record.delivered), dump(record)))

    def notify(self, notify_id: str) -> NotifyRecord | None:
        text = self._one("SELECT data FROM notifies WHERE notify_id = ?", (notify_id,))
        return None if text is None else load(NotifyRecord, text)

    def notifies_for(self, mer_id: str, group_id: str) -> list[NotifyRecord]:
        return [load(NotifyRecord, text) for text in self._all(
            "SELECT data FROM notifies WHERE mer_id = ? AND group_id = ? ORDER BY rowid", (mer_id, group_id))]

    def pending_notifies(self) -> list[NotifyRecord]:
        return [load(NotifyRecord, text) for text in self._all(
            "SELECT data FROM notifies WHERE done = 0 ORDER BY rowid", ())]
