"""A sandbox bank (sandbox-only; no real protocol exists for this): the buyer's transfer to a merchant's
receiving account, and that account's statement in the file format IndiePay imports.

Mounted at ``/sandbox/bank`` by ``serve`` (``/bank`` standalone). Any account number receives money — a
sandbox bank-transfer account's details are made up by the platform (``{"channel": "bank_transfer",
"sandbox": true}``) — so nothing is provisioned here.

``POST <mount>/_buyer/transfer`` ``{"account_number", "amount" (fen), "memo"?, "payer_name"?}`` → 201
``{"bank_txn_id", "account_number", "amount", "memo", "payer_name", "booked_at"}``: the buyer's bank sends
the money (a buyer who forgets the reference simply leaves ``memo`` out). 400 ``{"error"}`` on bad input.

``GET <mount>/statement?account_number=&date=YYYY-MM-DD`` → ``text/csv`` (GBK, as Chinese banks export):
header ``交易时间,交易流水号,金额,对方户名,附言`` and one row per credit of that Beijing day (every day
without ``date``), oldest first — the file ``POST /v1/bank_transfers/statements`` takes.
"""

from indiepay.sandbox.bank.app import BankSandboxConfig, create_bank_sandbox

__all__ = ["BankSandboxConfig", "create_bank_sandbox"]
