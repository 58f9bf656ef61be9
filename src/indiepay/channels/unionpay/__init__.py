"""UnionPay online payments (银联全渠道, acp 5.1.0): one adapter per UnionPay merchant account.

Credentials, as UnionPay hands them to a merchant:

* ``mer_id`` — the 15-digit merchant number;
* the merchant's signing key and certificate, either as ``sign_private_key`` + ``sign_cert`` (PEM), or as
  the ``.pfx`` UnionPay issues: ``sign_pfx`` (base64 of the file) + ``sign_pfx_password``, which are opened
  once here and stored as the two PEM fields (the password is not kept); the key is secret;
* ``middle_cert`` and ``root_cert`` — UnionPay's intermediate and root certificates (``acp_prod_middle.cer``
  / ``acp_prod_root.cer``, or the sandbox's), the anchors every answer's ``signPubKeyCert`` must chain to.

The base URL is the gateway host (``https://gateway.95516.com``); the transaction paths are fixed below it.
Certificates among the credentials drive the expiry reminders like any channel's (``indiepay.keys``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.base import ChannelAdapter
from indiepay.channels.unionpay import signing
from indiepay.channels.unionpay.adapter import UnionpayAdapter
from indiepay.channels.unionpay.client import TrustAnchors, UnionpayClient
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest

__all__ = [
    "OPTIONAL_FIELDS",
    "PRODUCTION_BASE_URL",
    "REQUIRED_FIELDS",
    "SECRET_FIELDS",
    "UnionpayAdapter",
    "build_adapter",
    "validate_credentials",
]

PRODUCTION_BASE_URL = "https://gateway.95516.com"
REQUIRED_FIELDS = frozenset({"mer_id", "middle_cert", "root_cert"})
OPTIONAL_FIELDS = frozenset({"sign_private_key", "sign_cert", "sign_pfx", "sign_pfx_password"})
SECRET_FIELDS = frozenset({"sign_private_key"})
STORED_FIELDS = ("mer_id", "sign_private_key", "sign_cert", "middle_cert", "root_cert")

_MER_ID = re.compile(r"\d{15}")


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, code="invalid_credentials", details={"field": field})


def _text(credentials: Mapping[str, object], field: str) -> str:
    value = credentials.get(field)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, f"UnionPay credential {field!r} is required")
    return value.strip()


def _certificate(credentials: Mapping[str, object], field: str) -> x509.Certificate:
    try:
        return signing.load_certificate(_text(credentials, field))
    except ValueError as exc:
        raise _invalid(field, f"{field} does not load: {exc}") from None


def _signing_pair(credentials: Mapping[str, object]) -> tuple[str, str]:
    """The signing key and certificate as PEM, from the PEM fields or from the pfx."""
    given_pfx = "sign_pfx" in credentials
    if given_pfx and ("sign_private_key" in credentials or "sign_cert" in credentials):
        raise _invalid("sign_pfx", "give either sign_pfx (+ sign_pfx_password) or sign_private_key + sign_cert")
    if given_pfx:
        try:
            data = base64.b64decode(_text(credentials, "sign_pfx"), validate=True)
        except (binascii.Error, ValueError):
            raise _invalid("sign_pfx", "sign_pfx must be the .pfx file in base64") from None
        password = credentials.get("sign_pfx_password", "")
        if not isinstance(password, str):
            raise _invalid("sign_pfx_password", "sign_pfx_password must be a string")
        try:
            key, cert = signing.load_pfx(data, password)
        except ValueError as exc:
            raise _invalid("sign_pfx", str(exc)) from None
        return signing.private_key_pem(key), signing.certificate_pem(cert)
    if "sign_pfx_password" in credentials:
        raise _invalid("sign_pfx_password", "sign_pfx_password belongs with sign_pfx")
    try:
        key = signing.load_private_key(_text(credentials, "sign_private_key"))
    except ValueError as exc:
        raise _invalid("sign_private_key", f"sign_private_key does not load: {exc}") from None
    cert = _certificate(credentials, "sign_cert")
    cert_key = cert.public_key()
    if not isinstance(cert_key, rsa.RSAPublicKey) or cert_key.public_numbers() != key.public_key().public_numbers():
        raise _invalid("sign_cert", "sign_cert is not the certificate of sign_private_key")
    return signing.private_key_pem(key), signing.certificate_pem(cert)


def validate_credentials(credentials: Mapping[str, str]) -> dict[str, str]:
    """Check a credential set and return it normalised to :data:`STORED_FIELDS` (PEM throughout).

    Raises:
        InvalidRequest: ``invalid_credentials`` with ``details.field`` naming the first bad field (missing,
            unknown, malformed ``mer_id``, a key or certificate that does not load, a certificate that is
            not the key's, a pfx that does not open, or anchors where the root did not issue the middle).
    """
    unknown = sorted(set(credentials) - REQUIRED_FIELDS - OPTIONAL_FIELDS)
    if unknown:
        raise _invalid(unknown[0], f"unknown UnionPay credential field {unknown[0]!r}")
    mer_id = _text(credentials, "mer_id")
    if not _MER_ID.fullmatch(mer_id):
        raise _invalid("mer_id", "mer_id must be the 15-digit UnionPay merchant number")
    private_pem, cert_pem = _signing_pair(credentials)
    middle, root = _certificate(credentials, "middle_cert"), _certificate(credentials, "root_cert")
    try:
        middle.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        raise _invalid("middle_cert", "middle_cert is not issued by root_cert") from None
    return {"mer_id": mer_id, "sign_private_key": private_pem, "sign_cert": cert_pem,
            "middle_cert": signing.certificate_pem(middle), "root_cert": signing.certificate_pem(root)}


def _client(credentials: Mapping[str, str], base_url: str, http: httpx.Client, clock: Clock) -> UnionpayClient:
    return UnionpayClient(
        mer_id=credentials["mer_id"],
        sign_key=signing.load_private_key(credentials["sign_private_key"]),
        sign_cert=signing.load_certificate(credentials["sign_cert"]),
        anchors=TrustAnchors(middle=signing.load_certificate(credentials["middle_cert"]),
                             root=signing.load_certificate(credentials["root_cert"])),
        base_url=base_url, http=http, clock=clock)


def build_adapter(credentials: Mapping[str, str], base_url: str, http: httpx.Client, clock: Clock, *,
                  previous: Mapping[str, str] | None = None) -> UnionpayAdapter:
    """Build the adapter for one UnionPay merchant account talking to ``base_url`` (the gateway host).

    ``credentials`` are as :func:`validate_credentials` stored them. ``previous`` — the set a rotation
    replaced — is used only to accept notifies under its trust anchors during the grace window.
    """
    client = _client(credentials, base_url, http, clock)
    previous_client = _client(previous, base_url, http, clock) if previous is not None else None
    return UnionpayAdapter(client, previous=previous_client)


# Static proof that this package fits the registry's factory signature and the port.
_FACTORY: Callable[..., ChannelAdapter] = build_adapter
