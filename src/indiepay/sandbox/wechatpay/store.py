"""The sandbox gateway's own state: merchants, orders, refunds, profit sharing — never the platform's database.

Records are plain JSON documents in stdlib ``sqlite3`` (an in-memory database when no path is given), so
a standalone sandbox keeps its provisioned merchants and orders across restarts without any schema
machinery. One lock serialises access: the sandbox is a test tool, and callers are async handlers on one
event loop plus the occasional thread.
"""

from __future__ import annotations

import json
from typing import Any

from indiepay.sandbox.documents import DocumentDb

_SCHEMA = """
CREATE TABLE IF NOT EXISTS merchants (mchid TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (mchid TEXT NOT NULL, out_trade_no TEXT NOT NULL, doc TEXT NOT NULL,
                                   PRIMARY KEY (mchid, out_trade_no));
CREATE TABLE IF NOT EXISTS refunds (mchid TEXT NOT NULL, out_refund_no TEXT NOT NULL,
                                    out_trade_no TEXT NOT NULL, doc TEXT NOT NULL,
                                    PRIMARY KEY (mchid, out_refund_no));
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, mchid TEXT NOT NULL, out_trade_no TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ps_receivers (mchid TEXT NOT NULL, type TEXT NOT NULL, account TEXT NOT NULL,
                                         doc TEXT NOT NULL, PRIMARY KEY (mchid, type, account));
CREATE TABLE IF NOT EXISTS ps_orders (mchid TEXT NOT NULL, out_order_no TEXT NOT NULL, order_id TEXT NOT NULL,
                                      transaction_id TEXT NOT NULL, doc TEXT NOT NULL,
                                      PRIMARY KEY (mchid, out_order_no));
CREATE INDEX IF NOT EXISTS ps_orders_by_transaction ON ps_orders (mchid, transaction_id);
CREATE TABLE IF NOT EXISTS ps_returns (mchid TEXT NOT NULL, out_return_no TEXT NOT NULL,
                                       transaction_id TEXT NOT NULL, doc TEXT NOT NULL,
                                       PRIMARY KEY (mchid, out_return_no));
CREATE INDEX IF NOT EXISTS ps_returns_by_transaction ON ps_returns (mchid, transaction_id);
"""

Doc = dict[str, Any]


class SandboxStore(DocumentDb):
    """JSON documents keyed the way the gateway looks them up."""

    def __init__(self, path: str | None) -> None:
        super().__init__(path, _SCHEMA)

    def _doc(self, sql: str, params: tuple[Any, ...]) -> Doc | None:
        text = self._one(sql, params)
        return None if text is None else dict(json.loads(text))

    def _docs(self, sql: str, params: tuple[Any, ...]) -> list[Doc]:
        return [dict(json.loads(text)) for text in self._all(sql, params)]

    # merchants
    def get_merchant(self, mchid: str) -> Doc | None:
        return self._doc("SELECT doc FROM merchants WHERE mchid = ?", (mchid,))

    def put_merchant(self, doc: Doc) -> None:
        self._put("INSERT INTO merchants (mchid, doc) VALUES (?, ?) "
                    "ON CONFLICT (mchid) DO UPDATE SET doc = excluded.doc",
                    (doc["mchid"], json.dumps(doc)))

    # orders
    def get_order(self, mchid: str, out_trade_no: str) -> Doc | None:
        return self._doc("SELECT doc FROM orders WHERE mchid = ? AND out_trade_no = ?", (mchid, out_trade_no))

    def put_order(self, doc: Doc) -> None:
        self._put("INSERT INTO orders (mchid, out_trade_no, doc) VALUES (?, ?, ?) "
                    "ON CONFLICT (mchid, out_trade_no) DO UPDATE SET doc = excluded.doc",
                    (doc["mchid"], doc["out_trade_no"], json.dumps(doc, ensure_ascii=False)))

    def add_token(self, token: str, mchid: str, out_trade_no: str) -> None:
        self._put("INSERT OR REPLACE INTO tokens (token, mchid, out_trade_no) VALUES (?, ?, ?)",
                    (token, mchid, out_trade_no))

    def order_by_token(self, token: str) -> Doc | None:
        with self._lock:
            row = self._db.execute("SELECT mchid, out_trade_no FROM tokens WHERE token = ?", (token,)).fetchone()
        return None if row is None else self.get_order(row[0], row[1])

    # refunds
    def get_refund(self, mchid: str, out_refund_no: str) -> Doc | None:
        return self._doc("SELECT doc FROM refunds WHERE mchid = ? AND out_refund_no = ?", (mchid, out_refund_no))

    def put_refund(self, doc: Doc) -> None:
        self._put("INSERT INTO refunds (mchid, out_refund_no, out_trade_no, doc) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (mchid, out_refund_no) DO UPDATE SET doc = excluded.doc",
                    (doc["mchid"], doc["out_refund_no"], doc["out_trade_no"], json.dumps(doc, ensure_ascii=False)))

    def orders_of(self, mchid: str) -> list[Doc]:
        """Every order of a merchant (bills scan them; a sandbox merchant has few)."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM orders WHERE mchid = ? ORDER BY rowid", (mchid,)).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def all_refunds_of(self, mchid: str) -> list[Doc]:
        """Every refund of a merchant, in creation order."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM refunds WHERE mchid = ? ORDER BY rowid", (mchid,)).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def refunds_of(self, mchid: str, out_trade_no: str) -> list[Doc]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM refunds WHERE mchid = ? AND out_trade_no = ? ORDER BY rowid",
                                    (mchid, out_trade_no)).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    # profit sharing: receivers by (type, account), orders by out_order_no, returns by out_return_no
    def get_receiver(self, mchid: str, kind: str, account: str) -> Doc | None:
        return self._doc("SELECT doc FROM ps_receivers WHERE mchid = ? AND type = ? AND account = ?",
                         (mchid, kind, account))

    def put_receiver(self, doc: Doc) -> None:
        self._put("INSERT INTO ps_receivers (mchid, type, account, doc) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (mchid, type, account) DO UPDATE SET doc = excluded.doc",
                    (doc["mchid"], doc["type"], doc["account"], json.dumps(doc, ensure_ascii=False)))

    def delete_receiver(self, mchid: str, kind: str, account: str) -> None:
        self._put("DELETE FROM ps_receivers WHERE mchid = ? AND type = ? AND account = ?", (mchid, kind, account))

    def get_sharing(self, mchid: str, out_order_no: str) -> Doc | None:
        return self._doc("SELECT doc FROM ps_orders WHERE mchid = ? AND out_order_no = ?", (mchid, out_order_no))

    def sharing_by_id(self, mchid: str, order_id: str) -> Doc | None:
        return self._doc("SELECT doc FROM ps_orders WHERE mchid = ? AND order_id = ?", (mchid, order_id))

    def put_sharing(self, doc: Doc) -> None:
        self._put("INSERT INTO ps_orders (mchid, out_order_no, order_id, transaction_id, doc) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (mchid, out_order_no) DO UPDATE SET doc = excluded.doc",
                    (doc["mchid"], doc["out_order_no"], doc["order_id"], doc["transaction_id"],
                     json.dumps(doc, ensure_ascii=False)))

    def sharings_of(self, mchid: str, transaction_id: str) -> list[Doc]:
        """The profit-sharing orders of one transaction, in creation order."""
        return self._docs("SELECT doc FROM ps_orders WHERE mchid = ? AND transaction_id = ? ORDER BY rowid",
                          (mchid, transaction_id))

    def get_return(self, mchid: str, out_return_no: str) -> Doc | None:
        return self._doc("SELECT doc FROM ps_returns WHERE mchid = ? AND out_return_no = ?", (mchid, out_return_no))

    def put_return(self, doc: Doc) -> None:
        self._put("INSERT INTO ps_returns (mchid, out_return_no, transaction_id, doc) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (mchid, out_return_no) DO UPDATE SET doc = excluded.doc",
                    (doc["mchid"], doc["out_return_no"], doc["transaction_id"], json.dumps(doc, ensure_ascii=False)))

    def returns_of(self, mchid: str, transaction_id: str) -> list[Doc]:
        """The profit-sharing returns of one transaction, in creation order."""
        return self._docs("SELECT doc FROM ps_returns WHERE mchid = ? AND transaction_id = ? ORDER BY rowid",
                          (mchid, transaction_id))
