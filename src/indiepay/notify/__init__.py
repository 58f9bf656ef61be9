"""Channel callbacks: verify with the addressed account's keys, check, dedupe, apply, reply."""
