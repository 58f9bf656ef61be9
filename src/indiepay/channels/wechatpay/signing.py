"""WeChat Pay API v3 cryptography, as pure functions over bytes and key objects.

Every v3 message is authenticated the same way: SHA256withRSA (RSASSA-PKCS1-v1_5) over a newline-joined
list of fields, each line ending in ``\\n``. Requests sign ``METHOD, PATH?QUERY, timestamp, nonce, body``;
responses and callbacks sign ``timestamp, nonce, body``; the JSAPI ``paySign`` signs ``appId, timeStamp,
nonceStr, package``. Sensitive payloads (callback resources, platform certificates) are sealed with
AEAD_AES_256_GCM under the merchant's APIv3 key, the 16-byte tag appended to the ciphertext.

This module does no I/O and keeps no state, so the merchant-side client and the sandbox gateway share it:
the two ends of the protocol cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_MARKER = "WECHATPAY/SIGNTEST/"
_NONCE_ALPHABET = string.ascii_uppercase + string.digits
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


class SignatureError(Exception):
    """A key, signature or ciphertext could not be used (bad PEM, bad base64, tag mismatch...)."""


def new_nonce(length: int = 32) -> str:
    """A random nonce of upper-case letters and digits, as the official SDKs produce."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def _as_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def build_message(*lines: str | bytes) -> bytes:
    """Join the fields of a v3 sign message: every field is followed by ``\\n`` (an empty body too)."""
    return b"".join(_as_bytes(line) + b"\n" for line in lines)


def request_message(method: str, path_and_query: str, timestamp: str, nonce: str, body: str | bytes) -> bytes:
    """The bytes a merchant signs for one request (``body`` exactly as sent; empty for GET)."""
    return build_message(method.upper(), path_and_query, timestamp, nonce, body)


def response_message(timestamp: str, nonce: str, body: str | bytes) -> bytes:
    """The bytes WeChat Pay signs for a response or a callback (the raw body, empty for a 204)."""
    return build_message(timestamp, nonce, body)


def pay_sign_message(appid: str, timestamp: str, nonce: str, package: str) -> bytes:
    """The bytes signed for a JSAPI/mini-program ``paySign`` (``package`` is ``prepay_id=…``)."""
    return build_message(appid, timestamp, nonce, package)


def load_private_key(pem: str | bytes, *, validated: bool = False) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#8 or PKCS#1). Raises SignatureError.

    ``validated=True`` skips OpenSSL's RSA consistency check (~50 ms) for a key that already passed it
    when it was entered (:func:`~indiepay.channels.wechatpay.credentials.validate_credentials`).
    """
    try:
        key = serialization.load_pem_private_key(_as_bytes(pem), password=None,
                                                 unsafe_skip_rsa_key_validation=validated)
    except (ValueError, TypeError) as exc:
        raise SignatureError("not a PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SignatureError("private key is not RSA")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from a ``PUBLIC KEY`` PEM or from an X.509 certificate PEM."""
    data = _as_bytes(pem)
    try:
        key: object = (x509.load_pem_x509_certificate(data).public_key() if b"CERTIFICATE" in data
                       else serialization.load_pem_public_key(data))
    except (ValueError, TypeError) as exc:
        raise SignatureError("not a PEM public key or certificate") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureError("public key is not RSA")
    return key


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_bytes(serialization.Encoding.PEM, fmt).decode()


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def certificate_serial(cert: x509.Certificate) -> str:
    """WeChat names a certificate by its serial number in upper-case hex."""
    return format(cert.serial_number, "X")


def sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5) signature, base64-encoded."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid SHA256withRSA signature of ``message`` under ``key``."""
    try:
        raw = base64.b64decode(signature_b64, validate=True)
        if base64.b64encode(raw).decode("ascii") != signature_b64:
            return False  # non-canonical base64: a changed character must never still verify
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def authorization_header(mchid: str, serial_no: str, nonce: str, timestamp: str, signature: str) -> str:
    """The ``Authorization`` header value, fields in the order the official docs show."""
    return (
        f'{AUTH_SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """Split an ``Authorization`` header into its fields. Raises SignatureError when malformed."""
    schema, _, params = header.strip().partition(" ")
    if schema != AUTH_SCHEMA:
        raise SignatureError("unsupported authorization schema")
    fields = dict(_AUTH_PARAM.findall(params))
    missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - fields.keys()
    if missing:
        raise SignatureError(f"authorization lacks {sorted(missing)}")
    return fields


def jsapi_pay_sign(key: rsa.RSAPrivateKey, appid: str, timestamp: str, nonce: str, prepay_id: str) -> str:
    """``paySign`` for ``wx.requestPayment`` / WeixinJSBridge over ``package=prepay_id=…``."""
    return sign(key, pay_sign_message(appid, timestamp, nonce, f"prepay_id={prepay_id}"))


def _aes_key(key: bytes) -> AESGCM:
    if len(key) not in (16, 32):
        raise SignatureError("APIv3 key must be 32 bytes (16 accepted for legacy test vectors)")
    return AESGCM(key)


def aead_encrypt(key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    """AEAD_AES_256_GCM seal; returns base64(ciphertext || tag). ``nonce`` is the raw 12-char string."""
    sealed = _aes_key(key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return base64.b64encode(sealed).decode()


def aead_decrypt(key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    """Open an AEAD_AES_256_GCM resource (also AES-128 for 16-byte keys). Raises SignatureError."""
    try:
        sealed = base64.b64decode(ciphertext_b64, validate=True)
        return _aes_key(key).decrypt(nonce.encode(), sealed, associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise SignatureError("resource does not decrypt under the APIv3 key") from exc


def encrypt_sensitive(key: rsa.RSAPublicKey, plaintext: str) -> str:
    """A sensitive field (a receiver's name) as WeChat Pay wants it: RSA-OAEP (SHA-1, MGF1 SHA-1) under
    WeChat Pay's platform key, base64; the request names the key in ``Wechatpay-Serial``."""
    sealed = key.encrypt(plaintext.encode("utf-8"),
                         padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()),  # noqa: S303 - the protocol's
                                      algorithm=hashes.SHA1(), label=None))  # noqa: S303
    return base64.b64encode(sealed).decode("ascii")
