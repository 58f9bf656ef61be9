"""Retention of financial records: kept in the database for at least five years, archived when cold.

Financial records are never deleted — migration ``0005`` makes the database refuse it — so the database
itself is the five-year store and everything stays queryable through the API. An *archive* is the cold,
independently verifiable copy for auditors and backups: per table and closed month, gzip-compressed JSON
Lines plus a manifest of row counts, file hashes and the ledger's chain hashes at both ends.

``policy.py`` holds the rules (retention period, live window, month arithmetic in Beijing time),
``tables.py`` what is archived and how each table is dated, ``repository.py`` the streaming queries,
``export.py`` / ``ledger_export.py`` write an archive, ``manifest.py`` its index, ``verify.py`` re-checks
one on its own, ``status.py`` reports what is older than the live window.
"""
