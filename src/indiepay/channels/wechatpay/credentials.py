"""What a WeChat Pay merchant account's credentials are, and checking them before they are stored.

A merchant copies these from the WeChat Pay merchant platform (商户平台): the merchant number, the
AppID bound to it, the serial number and private key of its API certificate, the APIv3 key, and — for
accounts opened or migrated since 2024 — the WeChat Pay public key and its ``PUB_KEY_ID_…`` id. Typos
here only show up at the first payment as an opaque SIGN_ERROR, so they are caught on entry instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from indiepay.channels.wechatpay import signing
from indiepay.channels.wechatpay.keys import PUBLIC_KEY_ID_PREFIX
from indiepay.core.errors import InvalidRequest

REQUIRED_FIELDS = frozenset({"mchid", "appid", "merchant_serial_no", "merchant_private_key", "apiv3_key"})
OPTIONAL_FIELDS = frozenset({"wechatpay_public_key_id", "wechatpay_public_key"})
SECRET_FIELDS = frozenset({"merchant_private_key", "apiv3_key"})
PEM_FIELDS = frozenset({"merchant_private_key", "wechatpay_public_key"})

_MCHID = re.compile(r"^\d{6,32}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"invalid WeChat Pay credentials: {message}", code="invalid_credentials",
                          details={"field": field})


def validate_credentials(credentials: Mapping[str, str]) -> dict[str, str]:
    """Check a credential set and return it cleaned (trimmed; PEMs end in one newline).

    Raises:
        InvalidRequest: code ``invalid_credentials``, ``details["field"]`` names the culprit — an unknown
            or missing field, a private key that is not an RSA PEM, an APIv3 key that is not exactly 32
            bytes, a public key id without ``PUB_KEY_ID_``, or only one of the two public-key fields.
    """
    for name in sorted(credentials):
        if name not in REQUIRED_FIELDS | OPTIONAL_FIELDS:
            raise _invalid(name, f"unknown field {name!r}")
    cleaned: dict[str, str] = {}
    for name, value in credentials.items():
        if not isinstance(value, str):
            raise _invalid(name, f"{name} must be text")
        text = value.strip()
        if text:
            cleaned[name] = text + "\n" if name in PEM_FIELDS else text
    for name in sorted(REQUIRED_FIELDS):
        if name not in cleaned:
            raise _invalid(name, f"{name} is required")
    if not _MCHID.match(cleaned["mchid"]):
        raise _invalid("mchid", "mchid is a merchant number made of digits")
    if not _TOKEN.match(cleaned["appid"]):
        raise _invalid("appid", "appid has unexpected characters")
    if not re.fullmatch(r"[0-9A-Fa-f]{8,64}", cleaned["merchant_serial_no"]):
        raise _invalid("merchant_serial_no", "merchant_serial_no is the API certificate serial in hex")
    cleaned["merchant_serial_no"] = cleaned["merchant_serial_no"].upper()
    try:
        key = signing.load_private_key(cleaned["merchant_private_key"])
    except signing.SignatureError:
        raise _invalid("merchant_private_key", "merchant_private_key is not an RSA private key PEM") from None
    if key.key_size < 2048:
        raise _invalid("merchant_private_key", "merchant_private_key must be RSA-2048 or larger")
    if len(cleaned["apiv3_key"].encode("utf-8")) != 32:
        raise _invalid("apiv3_key", "apiv3_key must be exactly 32 bytes")
    has_id = "wechatpay_public_key_id" in cleaned
    has_key = "wechatpay_public_key" in cleaned
    if has_id != has_key:
        missing = "wechatpay_public_key" if has_id else "wechatpay_public_key_id"
        raise _invalid(missing, "wechatpay_public_key_id and wechatpay_public_key go together")
    if has_id:
        if not cleaned["wechatpay_public_key_id"].startswith(PUBLIC_KEY_ID_PREFIX):
            raise _invalid("wechatpay_public_key_id", "wechatpay_public_key_id starts with PUB_KEY_ID_")
        try:
            signing.load_public_key(cleaned["wechatpay_public_key"])
        except signing.SignatureError:
            raise _invalid("wechatpay_public_key",
                           "wechatpay_public_key is not an RSA public key PEM") from None
    return cleaned
