"""Alerts the platform raises for people to act on (late payments, rejected callbacks, ...)."""
