"""Alipay OpenAPI channel: one adapter per Alipay app, built from that app's own credentials.

Credentials (as the Alipay open platform console hands them out, public-key mode):

* ``app_id`` — the 16-digit application id;
* ``seller_id`` — the merchant's PID, ``2088`` + 12 digits; notifies must name it;
* ``app_private_key`` — the app's RSA-2048 private key (PEM or bare base64; PKCS#1 or PKCS#8), secret;
* ``alipay_public_key`` — *Alipay's* public key for this app (not the app's own public key).

The base URL is the full gateway URL (``…/gateway.do``), because Alipay has one endpoint for every method.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx

from indiepay.channels.alipay import signing
from indiepay.channels.alipay.adapter import AlipayAdapter
from indiepay.channels.alipay.client import AlipayClient
from indiepay.channels.alipay.notify import AccountIdentity
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest

__all__ = [
    "OPTIONAL_FIELDS",
    "PRODUCTION_BASE_URL",
    "REQUIRED_FIELDS",
    "SECRET_FIELDS",
    "AlipayAdapter",
    "build_adapter",
    "validate_credentials",
]

PRODUCTION_BASE_URL = "https://openapi.alipay.com/gateway.do"
REQUIRED_FIELDS = frozenset({"app_id", "seller_id", "app_private_key", "alipay_public_key"})
OPTIONAL_FIELDS: frozenset[str] = frozenset()
SECRET_FIELDS = frozenset({"app_private_key"})

_APP_ID = re.compile(r"\d{16}")
_SELLER_ID = re.compile(r"2088\d{12}")


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_credentials", details={"field": field})


def validate_credentials(credentials: Mapping[str, str]) -> dict[str, str]:
    """Check a credential set and return it normalised (keys as PEM: PKCS#8 private, SPKI public).

    Raises:
        InvalidRequest: ``invalid_credentials`` with ``details.field`` naming the first bad field
            (missing, unknown, not a string, malformed id, key that does not load, or an
            ``alipay_public_key`` that is really the app's own public key).
    """
    unknown = sorted(set(credentials) - REQUIRED_FIELDS - OPTIONAL_FIELDS)
    if unknown:
        raise _invalid(unknown[0], f"unknown Alipay credential field {unknown[0]!r}")
    for field in sorted(REQUIRED_FIELDS):
        value = credentials.get(field)
        if not isinstance(value, str) or not value.strip():
            raise _invalid(field, f"Alipay credential {field!r} is required")
    app_id = credentials["app_id"].strip()
    if not _APP_ID.fullmatch(app_id):
        raise _invalid("app_id", "app_id must be the 16-digit Alipay application id")
    seller_id = credentials["seller_id"].strip()
    if not _SELLER_ID.fullmatch(seller_id):
        raise _invalid("seller_id", "seller_id must be the merchant PID: 2088 followed by 12 digits")
    try:
        private_key = signing.load_private_key(credentials["app_private_key"])
    except ValueError as exc:
        raise _invalid("app_private_key", f"app_private_key does not load: {exc}") from None
    try:
        public_key = signing.load_public_key(credentials["alipay_public_key"])
    except ValueError as exc:
        raise _invalid("alipay_public_key", f"alipay_public_key does not load: {exc}") from None
    if public_key.public_numbers() == private_key.public_key().public_numbers():
        raise _invalid("alipay_public_key",
                       "alipay_public_key is the app's own public key; paste the Alipay public key instead")
    return {
        "app_id": app_id,
        "seller_id": seller_id,
        "app_private_key": signing.private_key_pem(private_key),
        "alipay_public_key": signing.public_key_pem(public_key),
    }


def build_adapter(credentials: Mapping[str, str], base_url: str, http: httpx.Client,
                  clock: Clock, *, previous: Mapping[str, str] | None = None) -> AlipayAdapter:
    """Build the adapter for one Alipay app talking to ``base_url`` (the full gateway URL).

    ``credentials`` are as :func:`validate_credentials` accepted them when they were entered; they are not
    validated again here (that would re-run the slow RSA key check on every build). ``previous`` are the
    credentials a rotation replaced: their Alipay public key still verifies *notifies* (Alipay signs a
    notify once and resends the same form for ~25 h); requests always use the current set.
    """
    valid = credentials
    public_key = signing.load_public_key(valid["alipay_public_key"])
    private_key = signing.load_private_key(valid["app_private_key"], validated=True)
    client = AlipayClient(app_id=valid["app_id"], app_private_key=private_key, alipay_public_key=public_key,
                          gateway_url=base_url, http=http, clock=clock)
    previous_identity = None
    if previous is not None:
        previous_identity = AccountIdentity(app_id=previous["app_id"], seller_id=previous["seller_id"],
                                            alipay_public_key=signing.load_public_key(previous["alipay_public_key"]))
    return AlipayAdapter(client, seller_id=valid["seller_id"], alipay_public_key=public_key,
                         previous_identity=previous_identity)
