"""Stripe-style idempotency keys for mutating requests, scoped per merchant and test/live."""
