"""Writers of real-format channel bills (the inverse of :mod:`indiepay.reconciliation.parsers`).

Pure functions from typed rows to bytes, shared by the sandbox gateways (which publish bills) and tests.
"""
