"""Alipay OpenAPI signing rules, shared by the client and the sandbox gateway.

Alipay signs *strings*, not structures, and the three directions use slightly different strings:

* a **request** drops ``sign`` and empty values but keeps ``sign_type``;
* an **async notify** (and the page-pay return) drops both ``sign`` and ``sign_type``;
* a **sync response** is signed over the exact raw text of the ``…_response`` (or ``error_response``)
  member as the gateway wrote it. Re-serialising the parsed JSON would change escapes (Alipay writes
  ``https:\\/\\/``), key order or number formatting and break the signature, so the member is cut out of
  the response text by :func:`top_level_members`, a small quote- and escape-aware scanner.

RSA2 is SHA256withRSA (PKCS#1 v1.5) with base64 signatures. Keys arrive as the Alipay console shows them:
PEM or bare base64 DER; private keys in PKCS#1 or PKCS#8. This module is pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MIN_KEY_BITS = 2048


class ResponseFormatError(ValueError):
    """The sync response text is not a JSON object the scanner can cut members out of."""


def _canonical(params: Mapping[str, str | None], drop: frozenset[str]) -> str:
    items = sorted((k, v) for k, v in params.items() if k not in drop and v is not None and v != "")
    return "&".join(f"{k}={v}" for k, v in items)


def request_sign_content(params: Mapping[str, str | None]) -> str:
    """The string a request (or a page/wap redirect) signs: no ``sign``, no empty values, ``sign_type`` kept,
    keys sorted by ASCII code, ``k=v`` joined by ``&`` over raw, unencoded values."""
    return _canonical(params, frozenset({"sign"}))


def notify_sign_content(params: Mapping[str, str | None]) -> str:
    """The string an async notify (or a page-pay return) signs: like a request but without ``sign_type``."""
    return _canonical(params, frozenset({"sign", "sign_type"}))


def rsa2_sign(private_key: rsa.RSAPrivateKey, content: str) -> str:
    """SHA256withRSA over the UTF-8 bytes of ``content``; returns standard base64."""
    signature = private_key.sign(content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa2_verify(public_key: rsa.RSAPublicKey, content: str, sign: str) -> bool:
    """True when ``sign`` (base64) is a valid SHA256withRSA signature of ``content``.

    Only the canonical base64 text of a signature is accepted: a decoder ignores the unused low bits of the
    last character, so without the re-encoding check a changed ``sign`` could still verify."""
    try:
        signature = base64.b64decode(sign.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    if base64.b64encode(signature).decode("ascii") != sign:
        return False
    try:
        public_key.verify(signature, content.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _der_from_text(text: str) -> bytes | None:
    """Bare base64 DER as pasted from a console (whitespace tolerated); None if it is not base64."""
    compact = "".join(text.split())
    try:
        return base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def load_private_key(text: str, *, validated: bool = False) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#1 or PKCS#8) or bare base64 DER.

    ``validated=True`` skips OpenSSL's RSA consistency check (~50 ms) for a key that already passed it
    when it was entered.

    Raises:
        ValueError: not a loadable RSA key of at least 2048 bits.
    """
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(stripped.encode("ascii"), password=None,
                                                     unsafe_skip_rsa_key_validation=validated)
        else:
            der = _der_from_text(stripped)
            if der is None:
                raise ValueError("neither PEM nor base64 DER")
            key = serialization.load_der_private_key(der, password=None,
                                                     unsafe_skip_rsa_key_validation=validated)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"cannot load private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"RSA2 needs a key of at least {MIN_KEY_BITS} bits")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """Load an RSA public key from PEM (SubjectPublicKeyInfo or PKCS#1) or bare base64 DER.

    Raises:
        ValueError: not a loadable RSA key of at least 2048 bits.
    """
    stripped = text.strip()
    try:
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(stripped.encode("ascii"))
        else:
            der = _der_from_text(stripped)
            if der is None:
                raise ValueError("neither PEM nor base64 DER")
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"cannot load public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"RSA2 needs a key of at least {MIN_KEY_BITS} bits")
    return key


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM text of a private key."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    """SubjectPublicKeyInfo PEM text of a public key."""
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


# --- the raw-response scanner -------------------------------------------------------------------------

_WS = " \t\r\n"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _end_of_string(text: str, pos: int) -> int:
    """``text[pos]`` is an opening quote; return the index just past the closing quote."""
    pos += 1
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == '"':
            return pos + 1
        pos += 1
    raise ResponseFormatError("unterminated string")


def _end_of_value(text: str, pos: int) -> int:
    """Return the index just past the JSON value starting at ``pos`` (strings and brackets respected)."""
    if pos >= len(text):
        raise ResponseFormatError("missing value")
    if text[pos] == '"':
        return _end_of_string(text, pos)
    if text[pos] in "{[":
        depth = 0
        while pos < len(text):
            char = text[pos]
            if char == '"':
                pos = _end_of_string(text, pos)
                continue
            if char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
                if depth == 0:
                    return pos + 1
            pos += 1
        raise ResponseFormatError("unbalanced brackets")
    start = pos
    while pos < len(text) and text[pos] not in ",}]" + _WS:
        pos += 1
    if pos == start:
        raise ResponseFormatError(f"unexpected {text[pos]!r} at {pos}")
    return pos


def top_level_members(text: str) -> dict[str, str]:
    """Map each member name of the top-level JSON object in ``text`` to the exact raw text of its value.

    Nothing is re-serialised: ``text[start:end]`` of every value is returned as written, so a signature
    computed over it by the gateway can be checked byte for byte. Names are JSON-decoded (escapes resolved).

    Raises:
        ResponseFormatError: ``text`` is not a single JSON object.
    """
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "{":
        raise ResponseFormatError("response is not a JSON object")
    pos = _skip_ws(text, pos + 1)
    members: dict[str, str] = {}
    if pos < len(text) and text[pos] == "}":
        if _skip_ws(text, pos + 1) != len(text):
            _trailing()
        return members
    while True:
        if pos >= len(text) or text[pos] != '"':
            raise ResponseFormatError(f"expected a member name at {pos}")
        name_end = _end_of_string(text, pos)
        try:
            name = json.loads(text[pos:name_end])
        except ValueError as exc:
            raise ResponseFormatError("bad member name") from exc
        pos = _skip_ws(text, name_end)
        if pos >= len(text) or text[pos] != ":":
            raise ResponseFormatError(f"expected ':' at {pos}")
        pos = _skip_ws(text, pos + 1)
        value_end = _end_of_value(text, pos)
        members.setdefault(name, text[pos:value_end])
        pos = _skip_ws(text, value_end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "}":
            if _skip_ws(text, pos + 1) != len(text):
                _trailing()
            return members
        raise ResponseFormatError(f"expected ',' or '}}' at {pos}")


def _trailing() -> NoReturn:
    raise ResponseFormatError("trailing data after the JSON object")


def response_key(method: str) -> str:
    """``alipay.trade.query`` → ``alipay_trade_query_response``."""
    return method.replace(".", "_") + "_response"


def split_signed_response(text: str, method: str) -> tuple[str, str, str | None]:
    """Cut a sync response into (member name, raw member text, sign or None).

    Prefers ``<method>_response``; falls back to ``error_response``.

    Raises:
        ResponseFormatError: no such member, or not a JSON object.
    """
    members = top_level_members(text)
    for name in (response_key(method), "error_response"):
        if name in members:
            raw = members[name]
            sign_raw = members.get("sign")
            sign: str | None = None
            if sign_raw is not None:
                try:
                    decoded = json.loads(sign_raw)
                except ValueError as exc:
                    raise ResponseFormatError("bad sign member") from exc
                sign = decoded if isinstance(decoded, str) and decoded else None
            return name, raw, sign
    raise ResponseFormatError(f"no {response_key(method)} or error_response member")


def response_text(method_or_error: str, body_json: str, sign: str | None) -> str:
    """Compose a sync response text the way the gateway writes it (used by the sandbox)."""
    head = "{" + json.dumps(method_or_error) + ":" + body_json
    if sign is not None:
        head += ',"sign":' + json.dumps(sign)
    return head + "}"
