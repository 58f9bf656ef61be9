"""Choosing the channel account a payment goes to: weighted traffic splitting over a snapshot of a merchant's
accounts (:mod:`indiepay.routing.rules`) and each account's health as a circuit breaker
(:mod:`indiepay.routing.health`). Both are pure over plain data; nothing here touches the database."""
