"""Durable jobs in the platform's own database (the transactional outbox).

A job is enqueued in the same transaction as the state change that implies it, so both commit or
neither does. Workers claim jobs with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite every write
transaction is ``BEGIN IMMEDIATE``, so claiming is serialised by the database itself. A claim is a lease,
renewed while the job runs (see :mod:`.leases`), so a job runs in one worker at a time: if a worker dies, the
job becomes claimable again when the lease runs out — or at once when a worker starts on the dead worker's
machine (see :mod:`.owners`). Failed jobs retry with exponential backoff and end ``dead`` after their last
attempt; a dead job is reported to the worker's ``on_dead`` (an operator alert). Handlers must be idempotent.
"""
