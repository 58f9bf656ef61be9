"""The double-entry ledger: the platform's one consistent record of volume, fees, refunds and money owed.

Pure rules live in ``accounts.py`` (account codes), ``fees.py`` (fee arithmetic and rounding),
``postings.py`` (balanced posting plans per business event) and ``chain.py`` (the tamper-evident hash);
``service.py`` posts plans idempotently and derives balances; ``verify.py`` re-checks the whole ledger.
"""
