"""UnionPay online payments (全渠道, acp 5.1.0) wire rules, shared by the client and the sandbox gateway.

A request is a flat form of string fields. Version 5.1.0 with ``signMethod=01`` signs it like this: every
field except ``signature``, sorted by name, joined as ``k=v`` with ``&`` over the raw values; the SHA-256 of
that string's UTF-8 bytes written as *lower-case hex*; and SHA256withRSA (PKCS#1 v1.5) over the bytes of
that hex text, base64. The signer names its key by ``certId``: the decimal serial number of the certificate
that holds the public half (the merchant's signing certificate for requests).

UnionPay's answers and notifies carry, in ``signPubKeyCert``, the PEM certificate whose key signed them.
It is trusted only if it chains to UnionPay's intermediate and root certificates (which the merchant
installs, ``acp_*_middle.cer`` / ``acp_*_root.cer``), is inside its validity, and its subject CN names
UnionPay: the CN is ``@``-separated and its third part is ``中国银联股份有限公司``.

A synchronous answer's body is ``k=v&k=v`` *without* URL encoding (the PEM certificate inside keeps its
newlines); a value may hold a brace-wrapped group (``reserved={a=1&b=2}``) whose ``&`` do not separate
fields. Notifies, on the other hand, are ordinary URL-encoded HTML form posts.

This module is pure: no I/O; the one clock reading (certificate validity) is passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

UNIONPAY_NAME = "中国银联股份有限公司"
VERSION = "5.1.0"
SIGN_METHOD_RSA = "01"
MIN_KEY_BITS = 2048


class ResponseFormatError(ValueError):
    """A synchronous answer that is not a ``k=v&…`` form (unbalanced braces, a field without ``=``)."""


class CertificateRejected(ValueError):
    """A ``signPubKeyCert`` that is not UnionPay's: does not chain to the installed root, is outside its
    validity, or its CN does not name UnionPay."""


def sign_content(fields: Mapping[str, str]) -> str:
    """The string a 5.1.0 signature covers: every field but ``signature``, sorted by name, ``k=v`` joined
    by ``&``, values raw (not URL-encoded; an empty value stays as ``k=``)."""
    return "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "signature")


def _digest_hex(fields: Mapping[str, str]) -> bytes:
    return hashlib.sha256(sign_content(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign(private_key: rsa.RSAPrivateKey, fields: Mapping[str, str]) -> str:
    """The ``signature`` field for ``fields`` (any existing ``signature`` is ignored)."""
    raw = private_key.sign(_digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(public_key: rsa.RSAPublicKey, fields: Mapping[str, str]) -> bool:
    """True when ``fields["signature"]`` is the canonical base64 of a valid signature over the others."""
    signature = fields.get("signature", "")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    if base64.b64encode(raw).decode("ascii") != signature:
        return False  # a decoder ignores unused low bits: accept one spelling of a signature only
    try:
        public_key.verify(raw, _digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# -- keys and certificates -------------------------------------------------------------------------------

def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """An RSA private key (≥ 2048 bits) from PEM (PKCS#1 or PKCS#8). Raises ValueError."""
    try:
        key = serialization.load_pem_private_key(text.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a PEM private key ({exc.__class__.__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"RSA key of {key.key_size} bits; at least {MIN_KEY_BITS} required")
    return key


def load_pfx(data: bytes, password: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The merchant's signing key and certificate from the ``.pfx`` UnionPay issues. Raises ValueError."""
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, password.encode("utf-8") if password else None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the pfx does not open with that password ({exc.__class__.__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey) or cert is None:
        raise ValueError("the pfx holds no RSA key with its certificate")
    return key, cert


def load_certificate(text: str) -> x509.Certificate:
    """An X.509 certificate from PEM. Raises ValueError."""
    try:
        return x509.load_pem_x509_certificate(text.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a PEM certificate ({exc.__class__.__name__})") from None


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def certificate_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def cert_id(cert: x509.Certificate) -> str:
    """``certId``: the certificate's serial number in decimal."""
    return str(cert.serial_number)


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def names_unionpay(cert: x509.Certificate) -> bool:
    """UnionPay's CN convention: ``<org>@<id>@中国银联股份有限公司@<n>``."""
    parts = common_name(cert).split("@")
    return len(parts) > 2 and parts[2] == UNIONPAY_NAME


def _valid_at(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def check_chain(cert: x509.Certificate, middle: x509.Certificate, root: x509.Certificate,
                now: datetime) -> None:
    """Accept ``cert`` as UnionPay's signing certificate, or raise CertificateRejected.

    ``cert`` must be issued by ``middle``, ``middle`` by ``root`` and ``root`` by itself (signatures
    checked), all three valid at ``now`` (aware), and ``cert`` must name UnionPay in its CN.
    """
    for issued, issuer in ((cert, middle), (middle, root), (root, root)):
        try:
            issued.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise CertificateRejected(
                f"certificate {common_name(issued)!r} is not issued by {common_name(issuer)!r}") from None
    for each in (cert, middle, root):
        if not _valid_at(each, now):
            raise CertificateRejected(f"certificate {common_name(each)!r} is outside its validity")
    if not names_unionpay(cert):
        raise CertificateRejected(f"certificate CN {common_name(cert)!r} does not name {UNIONPAY_NAME}")


# -- synchronous answer bodies ---------------------------------------------------------------------------

def parse_response(text: str) -> dict[str, str]:
    """Split a synchronous answer ``k=v&k=v`` (not URL-encoded; ``{…}`` groups kept whole) into fields.

    Raises ResponseFormatError on an empty body, unbalanced braces, a field without ``=`` or a field
    given twice."""
    if not text.strip():
        raise ResponseFormatError("empty answer")
    fields: dict[str, str] = {}
    depth = 0
    start = 0
    for index, char in enumerate(text + "&"):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise ResponseFormatError("unbalanced '}' in answer")
        elif char == "&" and depth == 0:
            _add_field(fields, text[start:index])
            start = index + 1
    if depth != 0:
        raise ResponseFormatError("unbalanced '{' in answer")
    return fields


def _add_field(fields: dict[str, str], part: str) -> None:
    if not part:
        return
    key, sep, value = part.partition("=")
    if not sep or not key:
        raise ResponseFormatError(f"answer field without a name or '=': {part[:40]!r}")
    if key in fields:
        raise ResponseFormatError(f"answer field {key!r} given twice")
    fields[key] = value


def encode_response(fields: Mapping[str, str]) -> str:
    """The inverse of :func:`parse_response`, as UnionPay writes it: ``k=v`` joined by ``&``, no encoding."""
    return "&".join(f"{k}={v}" for k, v in fields.items())
