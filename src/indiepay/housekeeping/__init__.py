"""Housekeeping: the platform's own machinery kept in order.

Every payment leaves operational rows behind that no one reads once their work is done — its idempotency
record (replayed for 24 hours), its jobs (a status query, an expiry, a webhook delivery), its webhook
delivery log — and, left alone, a busy platform's database grows by hundreds of thousands of such rows a day
for ever. The daily ``housekeeping.prune`` job deletes them once they are past use, in short transactions
(:mod:`.rules` says how long each is kept). Financial records (payments, refunds, the ledger, channel calls,
callbacks received, settlements, statements, events) are never touched here: they are kept for the
retention period (:mod:`indiepay.retention`).

It also gives the operator the job queue's dead jobs — work the worker gave up on — to look at and queue
again (API, CLI), each requeue in the audit log.
"""
