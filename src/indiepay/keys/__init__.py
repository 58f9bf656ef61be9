"""Key hygiene (DESIGN §8, key lifecycle): when an account's certificates expire, and the daily reminders.

* :mod:`.expiry` — pure: the earliest certificate expiry among an account's credentials, and which
  rotation reminders / expiry alerts are due at a given instant.
* :mod:`.tasks` — the daily ``keys.check`` worker job that turns those into alerts.
"""
