"""Connecting a merchant's channel accounts, and reaching the channel through them.

Credentials are validated by the channel package, sealed field by field in the vault (bound to
merchant + account + field) and never returned. ``sandbox: true`` asks the built-in sandbox gateway —
over HTTP, like any other gateway — to provision a fresh sandbox merchant and stores what it returns.
Test keys may only hold sandbox accounts; live keys only production accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.accounts.adapters import credential_aad
from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.schemas import ChannelAccountCreate, ChannelAccountOut, ChannelAccountUpdate, CredentialView
from indiepay.audit import service as audit
from indiepay.channels.base import ChannelAdapter
from indiepay.channels.registry import channel_spec
from indiepay.context import ServiceContext
from indiepay.core.clock import as_utc
from indiepay.core.errors import ChannelUnavailable, InvalidRequest, NotFound, PermissionDenied
from indiepay.core.ids import new_id
from indiepay.keys.expiry import earliest_expiry
from indiepay.merchants.auth import Principal

PLATFORM_OWNER = "platform"  # the owner of the platform's own channel accounts (merchant_id NULL)

SANDBOX_PATHS = {"wechatpay": "/wechatpay", "alipay": "/alipay/gateway.do", "unionpay": "/unionpay"}


def _views(sealed: dict[str, Any]) -> dict[str, CredentialView]:
    return {name: CredentialView(fingerprint=value["fingerprint"], last4=value["last4"])
            for name, value in sorted(sealed.items())}


def to_out(account: ChannelAccount) -> ChannelAccountOut:
    """The account as the API shows it: fingerprints and last-4s of its credentials, never a value."""
    previous = account.previous_credentials or None
    return ChannelAccountOut(id=account.id, owner=account.owner, merchant_id=account.merchant_id,
                             channel=account.channel, environment=account.environment, role=account.role,
                             weight=account.weight, status=account.status, fee_rate_bps=account.fee_rate_bps,
                             settlement_bank=account.settlement_bank, daily_cap=account.daily_cap,
                             verified_at=account.verified_at, credentials=_views(account.credentials),
                             credentials_updated_at=account.updated_at,
                             credentials_expire_at=account.credentials_expire_at,
                             previous_credentials=_views(previous) if previous else None,
                             previous_credentials_until=account.previous_credentials_until if previous else None,
                             created_at=account.created_at)


def provision_sandbox_credentials(ctx: ServiceContext, channel: str, key_mode: str | None) -> dict[str, str]:
    """Ask the sandbox gateway for a fresh sandbox merchant. Network I/O: call outside a transaction.
    A channel without a gateway (a bank account) makes its test details itself."""
    local = channel_spec(channel).sandbox_credentials
    if local is not None:
        return local()
    url = f"{ctx.settings.sandbox_base_url}/{channel}/_provision"
    payload: dict[str, Any] = {"key_mode": key_mode} if key_mode else {}
    try:
        response = ctx.adapters.http.post(url, json=payload, timeout=30)
    except httpx.HTTPError as exc:
        raise ChannelUnavailable(f"sandbox gateway unreachable at {url}", code="sandbox_unavailable") from exc
    if response.status_code >= 300:
        raise ChannelUnavailable(f"sandbox gateway refused provisioning ({response.status_code})",
                                 code="sandbox_unavailable")
    credentials = response.json()["credentials"]
    return {str(k): str(v) for k, v in credentials.items()}


def create_account(session: Session, ctx: ServiceContext, principal: Principal, body: ChannelAccountCreate,
                   provisioned: dict[str, str] | None) -> ChannelAccountOut:
    """Validate and seal the merchant's credentials and store its account.

    ``provisioned`` carries credentials obtained from the sandbox gateway when ``body.sandbox`` is set.
    Raises InvalidRequest (``invalid_credentials``) and PermissionDenied (``environment_mismatch``).
    """
    merchant_id = principal.require_merchant()
    environment = _environment(body)
    if (environment == "production") != principal.livemode:
        raise PermissionDenied(
            f"a {'live' if principal.livemode else 'test'} key cannot manage {environment} accounts",
            code="environment_mismatch")
    account = _store(session, ctx, body, provisioned, merchant_id=merchant_id, environment=environment)
    _audit_created(session, ctx, principal, account)
    return to_out(account)


def create_platform_account(session: Session, ctx: ServiceContext, principal: Principal, body: ChannelAccountCreate,
                            provisioned: dict[str, str] | None) -> ChannelAccountOut:
    """Store one of the platform's own channel accounts (admin only): platform-collection payments go there."""
    if not principal.is_admin:
        raise PermissionDenied("only the operator manages the platform's accounts", code="admin_required")
    account = _store(session, ctx, body, provisioned, merchant_id=None, environment=_environment(body))
    _audit_created(session, ctx, principal, account)
    return to_out(account)


def _audit_created(session: Session, ctx: ServiceContext, principal: Principal, account: ChannelAccount) -> None:
    audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="credentials.created",
                 target_type="channel_account", target_id=account.id, merchant_id=account.merchant_id,
                 details={"channel": account.channel, "environment": account.environment,
                          "fields": sorted(account.credentials)})


def _environment(body: ChannelAccountCreate) -> str:
    return "sandbox" if body.sandbox else (body.environment or "sandbox")


@dataclass(frozen=True)
class PreparedCredentials:
    """A credential set checked by its channel and sealed for one account; ``plain`` never leaves memory."""

    plain: dict[str, str]
    sealed: dict[str, Any]
    expire_at: datetime | None


def prepare_credentials(ctx: ServiceContext, channel: str, raw: Mapping[str, str], *, owner: str,
                        account_id: str) -> PreparedCredentials:
    """Validate ``raw`` exactly as its channel defines, read certificate expiry, and seal every field
    (AAD: owner + account + field). Shared by account creation and credential rotation.

    Raises:
        InvalidRequest: ``invalid_credentials`` / ``invalid_certificate`` (``details.field`` names it).
    """
    credentials = channel_spec(channel).validate(raw)
    expire_at = earliest_expiry(credentials)
    sealed = {name: ctx.vault.seal(value, credential_aad(owner, account_id, name)).as_dict()
              for name, value in credentials.items()}
    return PreparedCredentials(plain=credentials, sealed=sealed, expire_at=expire_at)


def _store(session: Session, ctx: ServiceContext, body: ChannelAccountCreate, provisioned: dict[str, str] | None,
           *, merchant_id: str | None, environment: str) -> ChannelAccount:
    spec = channel_spec(body.channel)
    raw = provisioned if body.sandbox else body.credentials
    if raw is None:
        raise InvalidRequest("credentials are required", code="invalid_credentials")
    base_url = (ctx.settings.sandbox_base_url + SANDBOX_PATHS[body.channel]
                if environment == "sandbox" and body.channel in SANDBOX_PATHS else spec.production_base_url)
    now = ctx.clock.now()
    account_id = new_id("acct")
    prepared = prepare_credentials(ctx, body.channel, raw, owner=merchant_id or PLATFORM_OWNER, account_id=account_id)
    account = ChannelAccount(id=account_id, merchant_id=merchant_id,
                             owner="merchant" if merchant_id else PLATFORM_OWNER, channel=body.channel,
                             environment=environment, role=body.role, weight=body.weight, status="active",
                             base_url=base_url, credentials=prepared.sealed, fee_rate_bps=body.fee_rate_bps,
                             settlement_bank=body.settlement_bank, daily_cap=body.daily_cap,
                             credentials_expire_at=prepared.expire_at, verified_at=None,
                             created_at=now, updated_at=now)
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, principal: Principal, account_id: str) -> ChannelAccount:
    """The merchant's own account in the key's environment; everything else is 404."""
    account = session.get(ChannelAccount, account_id)
    if account is None or not (principal.is_admin if account.merchant_id is None
                               else principal.can_see_merchant(account.merchant_id)):
        raise NotFound("no such channel account", code="account_not_found")
    if not principal.is_admin and (account.environment == "production") != principal.livemode:
        raise NotFound("no such channel account", code="account_not_found")
    return account


def list_platform_accounts(session: Session, principal: Principal) -> list[ChannelAccount]:
    if not principal.is_admin:
        raise PermissionDenied("only the operator manages the platform's accounts", code="admin_required")
    query = (select(ChannelAccount).where(ChannelAccount.owner == PLATFORM_OWNER)
             .order_by(ChannelAccount.created_at, ChannelAccount.id))
    return list(session.scalars(query))


def list_accounts(session: Session, principal: Principal) -> list[ChannelAccount]:
    merchant_id = principal.require_merchant()
    environment = "production" if principal.livemode else "sandbox"
    query = (select(ChannelAccount)
             .where(ChannelAccount.merchant_id == merchant_id, ChannelAccount.environment == environment)
             .order_by(ChannelAccount.created_at, ChannelAccount.id))
    return list(session.scalars(query))


def credential_owner(account: ChannelAccount) -> str:
    """Whose credentials these are, as bound into the vault's AAD: the merchant's id, or ``platform``."""
    return account.merchant_id or PLATFORM_OWNER


def previous_in_window(account: ChannelAccount, now: datetime) -> dict[str, Any] | None:
    """The credentials a rotation replaced, while its grace window lasts (else ``None``)."""
    until = account.previous_credentials_until
    if not account.previous_credentials or until is None or as_utc(until) <= now:
        return None
    return account.previous_credentials


def adapter_for(ctx: ServiceContext, account: ChannelAccount) -> ChannelAdapter:
    """The adapter bound to this account's own credentials and base URL.

    Requests always go out with the current credentials; during a rotation's grace window the adapter
    also accepts callbacks verified under the replaced ones (see :mod:`indiepay.accounts.rotation`).
    """
    return ctx.adapters.get(account_id=account.id, merchant_id=credential_owner(account), channel=account.channel,
                            base_url=account.base_url, sealed=account.credentials,
                            previous=previous_in_window(account, ctx.clock.now()))


def view_account(session: Session, ctx: ServiceContext, principal: Principal, account_id: str) -> ChannelAccountOut:
    """One account with its credential fingerprints, audited as ``credentials.viewed`` (the list endpoints
    are not: an event per row listed would drown the ones that matter). Raises NotFound."""
    account = get_account(session, principal, account_id)
    audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="credentials.viewed",
                 target_type="channel_account", target_id=account.id, merchant_id=account.merchant_id,
                 details={"channel": account.channel, "fields": sorted(account.credentials)})
    return to_out(account)


def update_account(session: Session, principal: Principal, account_id: str,
                   body: ChannelAccountUpdate) -> ChannelAccount:
    """The operator's changes to an account's routing settings (only the fields given; null clears the cap)."""
    if not principal.is_admin:
        raise PermissionDenied("only the operator changes an account's routing settings", code="admin_required")
    account = session.get(ChannelAccount, account_id, with_for_update=True)
    if account is None:
        raise NotFound("no such channel account", code="account_not_found")
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is None and name != "daily_cap":
            raise InvalidRequest(f"{name} cannot be null", code="invalid_request", details={"field": name})
        setattr(account, name, value)
    session.flush()
    return account
