"""The audit log: every sensitive action, append-only and hash-chained (see ``service.record``)."""
