"""Sealed rows for the vault tests, written the way the platform writes them (real AAD helpers)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.accounts.adapters import credential_aad, open_credentials
from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import credential_owner
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.merchants.models import Merchant
from indiepay.vault.envelope import SealedSecret
from indiepay.vault.keyring import Vault, decode_kek, new_kek
from indiepay.webhooks.models import WebhookEndpoint
from indiepay.webhooks.service import _secret_aad

EPOCH = datetime(2025, 3, 1, tzinfo=UTC)
FIELDS = ("mchid", "apiv3_key", "merchant_private_key", "merchant_serial_no")


@dataclass
class Kek:
    """A KEK as the operator sees it (the env var text) and as the vault uses it."""

    text: str = field(default_factory=new_kek)

    @property
    def key(self) -> bytes:
        return decode_kek(self.text)


def vault_of(current: Kek, *retired: Kek) -> Vault:
    return Vault.with_retired(current.key, [kek.key for kek in retired])


@dataclass
class Seeded:
    """What was written: every account's plaintext credentials and every endpoint's secret."""

    accounts: dict[str, dict[str, str]] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)

    @property
    def secrets(self) -> int:
        return sum(len(fields) for fields in self.accounts.values()) + len(self.endpoints)


def seed(db: Database, vault: Vault, *, merchants: int = 3, accounts_per_merchant: int = 2,
         platform_accounts: int = 1, seeded: Seeded | None = None) -> Seeded:
    """Merchants with channel accounts and webhook endpoints, plus platform accounts, sealed by ``vault``."""
    seeded = seeded or Seeded()
    with db.transaction() as session:
        for _ in range(merchants):
            merchant_id = new_id("mch")
            session.add(Merchant(id=merchant_id, name=f"{merchant_id} Ltd.", short_name=merchant_id[:20],
                                 subject_type="enterprise", contact_email=None, status="active",
                                 collection_mode="independent", created_at=EPOCH))
            session.flush()
            for _ in range(accounts_per_merchant):
                _account(session, vault, merchant_id, seeded)
            endpoint_id = new_id("we")
            secret = "whsec_" + secrets.token_urlsafe(32)
            sealed = vault.seal(secret, _secret_aad(merchant_id, False)).as_dict()
            session.add(WebhookEndpoint(id=endpoint_id, merchant_id=merchant_id, livemode=False,
                                        url="https://example.test/hook", secret=sealed, created_at=EPOCH,
                                        updated_at=EPOCH))
            seeded.endpoints[endpoint_id] = secret
        for _ in range(platform_accounts):
            _account(session, vault, None, seeded)
    return seeded


def _account(session: Session, vault: Vault, merchant_id: str | None, seeded: Seeded) -> None:
    account_id = new_id("acct")
    owner = merchant_id or "platform"
    plain = {name: f"{name}-{secrets.token_hex(12)}" for name in FIELDS}
    session.add(ChannelAccount(
        id=account_id, merchant_id=merchant_id, owner="merchant" if merchant_id else "platform",
        channel="wechatpay", environment="sandbox", role="primary", status="active",
        base_url="https://sandbox.test/wechatpay", credentials=seal_credentials(vault, owner, account_id, plain),
        created_at=EPOCH, updated_at=EPOCH))
    seeded.accounts[account_id] = plain


def seal_credentials(vault: Vault, owner: str, account_id: str, plain: dict[str, str]) -> dict[str, Any]:
    """Credentials sealed field by field, bound with the platform's own ``credential_aad``."""
    return {name: vault.seal(value, credential_aad(owner, account_id, name)).as_dict()
            for name, value in plain.items()}


def open_everything(db: Database, vault: Vault, *, skip: Seeded | None = None) -> Seeded:
    """Open every sealed secret in the database (but those of ``skip``) exactly as the platform does."""
    opened = Seeded()
    skip = skip or Seeded()
    with db.read() as session:
        for account in session.scalars(select(ChannelAccount).where(ChannelAccount.id.not_in(skip.accounts))):
            opened.accounts[account.id] = open_credentials(vault, credential_owner(account), account.id,
                                                           account.credentials)
        for endpoint in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id.not_in(skip.endpoints))):
            opened.endpoints[endpoint.id] = vault.open(SealedSecret.from_dict(endpoint.secret),
                                                       _secret_aad(endpoint.merchant_id, endpoint.livemode))
    return opened


def kek_ids_in_db(db: Database) -> list[str]:
    """The wrapping KEK id of every secret, sorted."""
    ids: list[str] = []
    with db.read() as session:
        for account in session.scalars(select(ChannelAccount)):
            ids += [value["kek_id"] for value in account.credentials.values()]
        ids += [endpoint.secret["kek_id"] for endpoint in session.scalars(select(WebhookEndpoint))]
    return sorted(ids)
