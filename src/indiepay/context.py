"""What services need from the running platform, passed in explicitly (never imported as globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from indiepay.accounts.adapters import AdapterCache
from indiepay.config import Settings
from indiepay.core.clock import Clock
from indiepay.db.engine import Database
from indiepay.merchants.auth import PrincipalCache
from indiepay.routing.health import HealthRegistry
from indiepay.vault.keyring import Vault


def _nothing() -> None:
    return None


@dataclass
class ServiceContext:
    """The database, clock, vault, adapter cache, settings and account health of one running platform."""

    settings: Settings
    db: Database
    clock: Clock
    vault: Vault
    adapters: AdapterCache
    wake_worker: Callable[[], None] = field(default=_nothing)
    principals: PrincipalCache = field(default_factory=PrincipalCache)  # recently resolved API keys
    health: HealthRegistry = field(init=False)  # this process's circuit breakers, by channel account

    def __post_init__(self) -> None:
        self.health = HealthRegistry(self.clock)

    def notify_url(self, channel: str, account_id: str) -> str:
        return f"{self.settings.base_url}/notify/{channel}/{account_id}"

    def checkout_url(self, payment_id: str) -> str:
        return f"{self.settings.base_url}/pay/{payment_id}"
