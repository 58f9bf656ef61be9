"""Reconciliation: proving every morning that what the channels' bills say happened yesterday is what
IndiePay recorded (issue 4).

This package so far holds the bill layer only — pure code, no database and no HTTP:

* :mod:`.parsers` read WeChat Pay trade and fund-flow bills and the Alipay bill zip into typed rows,
  lazily, and check the rows against the totals printed in the same file;
  :mod:`.parsers.normalised` flattens rows of either channel into one CSV for the columnar matcher.
* :mod:`.writers` produce the same formats from rows, for the sandbox gateways and for tests.
* :mod:`.errors` holds the stable error codes (``bill_malformed``, ``bill_totals_mismatch`` …).
"""
