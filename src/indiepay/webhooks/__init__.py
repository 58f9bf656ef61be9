"""Merchant webhooks: events about payments and refunds, signed and delivered by the worker."""
