"""Merchants, their API keys and the operator's admin key."""
