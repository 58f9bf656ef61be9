"""Bank transfer: the merchant's receiving bank account as a "channel" (see :mod:`.adapter`).

Credentials are the account's public details, sealed like any channel's and shown back only as
fingerprints: ``account_name`` (户名), ``bank_name`` (开户行), ``account_number`` (账号, digits; spaces allowed
on input) and an optional ``branch`` (支行). There is no gateway, so no base URL is used.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping

import httpx

from indiepay.channels.banktransfer.adapter import BankTransferAdapter, reference_code, references_in
from indiepay.channels.base import ChannelAdapter
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest

__all__ = [
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "SECRET_FIELDS",
    "BankTransferAdapter",
    "build_adapter",
    "reference_code",
    "references_in",
    "sandbox_credentials",
    "validate_credentials",
]

REQUIRED_FIELDS = frozenset({"account_name", "bank_name", "account_number"})
OPTIONAL_FIELDS = frozenset({"branch"})
SECRET_FIELDS: frozenset[str] = frozenset()
_ACCOUNT_NUMBER = re.compile(r"\d{8,30}")
NAME_MAX = 100


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_credentials", details={"field": field})


def validate_credentials(credentials: Mapping[str, str]) -> dict[str, str]:
    """Check and normalise a receiving account. Raises InvalidRequest ``invalid_credentials``."""
    unknown = sorted(set(credentials) - REQUIRED_FIELDS - OPTIONAL_FIELDS)
    if unknown:
        raise _invalid(unknown[0], f"unknown bank account field {unknown[0]!r}")
    cleaned: dict[str, str] = {}
    for field in sorted(REQUIRED_FIELDS | (OPTIONAL_FIELDS & set(credentials))):
        value = credentials.get(field)
        if not isinstance(value, str) or not value.strip():
            raise _invalid(field, f"bank account field {field!r} is required")
        cleaned[field] = " ".join(value.split())
        if len(cleaned[field]) > NAME_MAX:
            raise _invalid(field, f"{field} is longer than {NAME_MAX} characters")
    cleaned["account_number"] = re.sub(r"[\s\-]", "", cleaned["account_number"])
    if not _ACCOUNT_NUMBER.fullmatch(cleaned["account_number"]):
        raise _invalid("account_number", "account_number must be 8 to 30 digits")
    return cleaned


def sandbox_credentials() -> dict[str, str]:
    """A made-up receiving account for test mode (``{"channel": "bank_transfer", "sandbox": true}``)."""
    return {"account_name": "IndiePay 沙箱测试账户", "bank_name": "IndiePay Sandbox Bank 沙箱银行",
            "account_number": "6222" + "".join(secrets.choice("0123456789") for _ in range(15))}


def build_adapter(credentials: Mapping[str, str], base_url: str, http: httpx.Client, clock: Clock, *,
                  previous: Mapping[str, str] | None = None) -> BankTransferAdapter:
    """The adapter for one receiving account; no HTTP is ever made, so ``base_url`` and ``http`` go unused."""
    return BankTransferAdapter(account_name=credentials["account_name"], bank_name=credentials["bank_name"],
                               account_number=credentials["account_number"], branch=credentials.get("branch"))


# Static proof that this package fits the registry's factory signature and the port.
_FACTORY: Callable[..., ChannelAdapter] = build_adapter
