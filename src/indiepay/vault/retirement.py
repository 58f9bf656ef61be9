"""Which KEK wraps how many secrets, and whether a KEK may be retired.

A KEK may only leave ``INDIEPAY_RETIRED_MASTER_KEYS`` once no secret is wrapped by it any more: removing
it earlier makes those secrets unreadable for good (the database holds no copy of any KEK). The check
reads the database itself rather than trusting a past rotation report, because a process still running
with the old key as its current one may have sealed new secrets under it since.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indiepay.db.engine import Database
from indiepay.vault import repository
from indiepay.vault.envelope import VaultError
from indiepay.vault.keyring import Vault
from indiepay.vault.repository import SEALED_COLUMNS

UNREADABLE = "(unreadable)"  # the kek_id reported for values that are not sealed secrets at all


@dataclass
class KekUsage:
    """How many secrets each KEK id wraps, per table."""

    by_kek: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, kek_id: str) -> int:
        return sum(self.by_kek.get(kek_id, {}).values())

    def add(self, kek_id: str, table: str) -> None:
        per_table = self.by_kek.setdefault(kek_id, {})
        per_table[table] = per_table.get(table, 0) + 1


@dataclass(frozen=True)
class KekStatus:
    kek_id: str
    state: str  # current | retired (loaded, opens only) | not loaded
    secrets: int
    per_table: dict[str, int]


def kek_usage(db: Database) -> KekUsage:
    """Count the sealed secrets per wrapping KEK id across every sealed column (one read transaction)."""
    usage = KekUsage()
    with db.read() as session:
        for spec in SEALED_COLUMNS:
            for row in repository.stream_rows(session, spec):
                try:
                    secrets = spec.secrets(row.value)
                except (ValueError, AttributeError):
                    usage.add(UNREADABLE, spec.name)
                    continue
                for stored in secrets.values():
                    kek_id = stored.get("kek_id") if isinstance(stored, dict) else None
                    usage.add(str(kek_id) if kek_id else UNREADABLE, spec.name)
    return usage


def status(db: Database, vault: Vault) -> list[KekStatus]:
    """Every KEK that is loaded or still wraps a secret: the current one first, then by id."""
    usage = kek_usage(db)
    ids = set(usage.by_kek) | vault.retired_ids | {vault.current_id}

    def state(kek_id: str) -> str:
        if kek_id == vault.current_id:
            return "current"
        return "retired" if vault.holds(kek_id) else "not loaded"

    ordered = sorted(ids, key=lambda kek_id: (kek_id != vault.current_id, kek_id))
    return [KekStatus(kek_id, state(kek_id), usage.total(kek_id), dict(usage.by_kek.get(kek_id, {})))
            for kek_id in ordered]


def check_retirable(db: Database, vault: Vault, kek_id: str) -> None:
    """Raise unless ``kek_id`` may be dropped from the configuration.

    Raises:
        VaultError ``kek_is_current``: it is the KEK new secrets are sealed with; install a new one first.
        VaultError ``kek_still_in_use`` (``details``: ``kek_id``, ``secrets``, ``per_table``): secrets are
            still wrapped by it; run ``indiepay vault rotate`` first.
    """
    if kek_id == vault.current_id:
        raise VaultError(f"{kek_id} is the current master key; install a new INDIEPAY_MASTER_KEY and rotate "
                         "before retiring it", code="kek_is_current", http_status=409,
                         details={"kek_id": kek_id})
    usage = kek_usage(db)
    in_use = usage.total(kek_id)
    if in_use:
        per_table = dict(usage.by_kek[kek_id])
        tables = ", ".join(f"{table}: {count}" for table, count in sorted(per_table.items()))
        raise VaultError(f"{kek_id} still wraps {in_use} secret(s) ({tables}); run `indiepay vault rotate` "
                         "first", code="kek_still_in_use", http_status=409,
                         details={"kek_id": kek_id, "secrets": in_use, "per_table": per_table})
