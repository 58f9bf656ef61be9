"""Refunds: full or partial, never more than what is refundable, ``out_refund_no`` reused on retry."""
