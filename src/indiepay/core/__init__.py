"""Framework-free building blocks shared by every domain: money, errors, clock, ids."""
