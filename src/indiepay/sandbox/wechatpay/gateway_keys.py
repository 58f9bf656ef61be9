"""The sandbox gateway's key material: per-merchant credentials and WeChat Pay's own signing keys.

Each provisioned merchant gets what the real merchant platform hands out — an RSA-2048 API key pair with
a certificate serial, an APIv3 key, an AppID — plus the gateway's *own* per-merchant signing key, in one
of the two real modes: a WeChat Pay public key named ``PUB_KEY_ID_01…``, or a self-signed X.509 platform
certificate (served AES-GCM-encrypted from ``GET /v3/certificates`` and rotatable). The same keys open the
sensitive fields a merchant encrypts for the gateway (a profit-sharing receiver's name). Private keys are
stored as PEM in the sandbox's own store and loaded through a small cache, since parsing a PEM on every
response would dominate the sandbox's latency.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from indiepay.channels.wechatpay import signing
from indiepay.core.clock import BUSINESS_TZ

KEY_MODES = ("public_key", "platform_certificate")
_ALNUM = string.ascii_letters + string.digits


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@lru_cache(maxsize=256)
def private_key(pem: str) -> rsa.RSAPrivateKey:
    return signing.load_private_key(pem)


@lru_cache(maxsize=256)
def public_key(pem: str) -> rsa.RSAPublicKey:
    return signing.load_public_key(pem)


def new_public_key() -> dict[str, str]:
    """A WeChat Pay public key (gateway side): id, private PEM (kept by the sandbox), public PEM."""
    key = _rsa()
    key_id = "PUB_KEY_ID_01" + "".join(secrets.choice(string.digits) for _ in range(22))
    return {"id": key_id, "private_pem": signing.private_key_pem(key),
            "public_pem": signing.public_key_pem(key.public_key())}


def new_platform_certificate(now: datetime) -> dict[str, str]:
    """A self-signed platform certificate valid for five years (its serial is the ``Wechatpay-Serial``)."""
    key = _rsa()
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IndiePay WeChat Pay Sandbox"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Sandbox Platform Certificate"),
    ])
    not_before = now - timedelta(days=1)
    not_after = now + timedelta(days=5 * 365)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before)
            .not_valid_after(not_after).sign(key, hashes.SHA256()))
    return {
        "serial": signing.certificate_serial(cert),
        "cert_pem": cert.public_bytes(Encoding.PEM).decode(),
        "private_pem": signing.private_key_pem(key),
        "effective_time": not_before.astimezone(BUSINESS_TZ).replace(microsecond=0).isoformat(),
        "expire_time": not_after.astimezone(BUSINESS_TZ).replace(microsecond=0).isoformat(),
    }


def new_merchant(key_mode: str, mchid: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A fresh merchant: (the gateway's record, the credentials handed to the merchant once)."""
    merchant_key = _rsa()
    merchant_serial = secrets.token_hex(20).upper()
    apiv3_key = "".join(secrets.choice(_ALNUM) for _ in range(32))
    appid = "wx" + secrets.token_hex(8)
    record: dict[str, Any] = {
        "mchid": mchid,
        "appid": appid,
        "merchant_serial_no": merchant_serial,
        "merchant_public_key": signing.public_key_pem(merchant_key.public_key()),
        "apiv3_key": apiv3_key,
        "key_mode": key_mode,
        "public_key": None,
        "certificates": [],
        "active_certificate": None,
        "created_at": datetime.now(UTC).isoformat(),
    }
    credentials = {
        "mchid": mchid,
        "appid": appid,
        "merchant_serial_no": merchant_serial,
        "merchant_private_key": signing.private_key_pem(merchant_key),
        "apiv3_key": apiv3_key,
    }
    if key_mode == "public_key":
        record["public_key"] = new_public_key()
        credentials["wechatpay_public_key_id"] = record["public_key"]["id"]
        credentials["wechatpay_public_key"] = record["public_key"]["public_pem"]
    else:
        cert = new_platform_certificate(datetime.now(UTC))
        record["certificates"] = [cert]
        record["active_certificate"] = cert["serial"]
    return record, credentials


def rotate_merchant_keys(merchant: dict[str, Any], *, apiv3_key: bool, merchant_key: bool) -> dict[str, str]:
    """What the merchant platform does when the merchant resets its APIv3 key and/or applies for a new API
    certificate; returns the changed credential fields (the merchant merges them into its set).

    A new APIv3 key takes effect at once for everything the gateway encrypts *from now on* (new callbacks,
    ``/v3/certificates``); callbacks already built keep the ciphertext made under the old key on every
    resend — that is what a receiver's grace window is for. A new API certificate does not revoke the
    old one: requests signed with either verify (``previous_merchant_keys``), as at the real gateway, where
    several API certificates are valid until they expire or are revoked.
    """
    changed: dict[str, str] = {}
    if apiv3_key:
        merchant["apiv3_key"] = "".join(secrets.choice(_ALNUM) for _ in range(32))
        changed["apiv3_key"] = merchant["apiv3_key"]
    if merchant_key:
        key = _rsa()
        merchant.setdefault("previous_merchant_keys", []).append(
            {"serial": merchant["merchant_serial_no"], "public_pem": merchant["merchant_public_key"]})
        merchant["merchant_serial_no"] = secrets.token_hex(20).upper()
        merchant["merchant_public_key"] = signing.public_key_pem(key.public_key())
        changed["merchant_serial_no"] = merchant["merchant_serial_no"]
        changed["merchant_private_key"] = signing.private_key_pem(key)
    return changed


def merchant_public_key(merchant: dict[str, Any], serial: str) -> rsa.RSAPublicKey | None:
    """The merchant's API certificate key named by a request's ``serial_no`` (current or still valid)."""
    wanted = serial.upper()
    if wanted == merchant["merchant_serial_no"]:
        return public_key(str(merchant["merchant_public_key"]))
    for old in merchant.get("previous_merchant_keys", []):
        if old["serial"] == wanted:
            return public_key(str(old["public_pem"]))
    return None


def signer(merchant: dict[str, Any], prefer_public_key: bool = False) -> tuple[str, rsa.RSAPrivateKey]:
    """The (serial, key) the gateway signs this merchant's responses and callbacks with right now.

    Public-key accounts sign with the public key; certificate accounts with the active certificate,
    unless the merchant asked for the public key (its ``Wechatpay-Serial`` request header names it).
    """
    pub = merchant.get("public_key")
    if pub and (merchant["key_mode"] == "public_key" or prefer_public_key or not merchant["certificates"]):
        return str(pub["id"]), private_key(str(pub["private_pem"]))
    active = merchant["active_certificate"]
    cert = next(c for c in merchant["certificates"] if c["serial"] == active)
    return str(cert["serial"]), private_key(str(cert["private_pem"]))


def platform_private_key(merchant: dict[str, Any], serial: str) -> rsa.RSAPrivateKey | None:
    """The gateway's private key behind a ``Wechatpay-Serial`` a merchant encrypted for: its public key id or
    a platform certificate still listed (a retired certificate no longer opens anything)."""
    pub = merchant.get("public_key")
    if pub and serial == pub["id"]:
        return private_key(str(pub["private_pem"]))
    for cert in merchant["certificates"]:
        if cert["serial"] == serial.upper():
            return private_key(str(cert["private_pem"]))
    return None


def decrypt_sensitive(key: rsa.RSAPrivateKey, ciphertext_b64: str) -> str | None:
    """Open a sensitive field: base64 RSA-OAEP with SHA-1 and MGF1 SHA-1 (the protocol's choice, not ours).
    ``None`` when it does not decrypt to UTF-8 text under ``key``."""
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(),  # noqa: S303
                        label=None)
    try:
        return key.decrypt(base64.b64decode(ciphertext_b64, validate=True), oaep).decode("utf-8")
    except (ValueError, binascii.Error):  # bad base64, wrong key or padding, not UTF-8
        return None
