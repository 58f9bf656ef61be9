"""The sandbox gateway's public-key infrastructure: a root CA, an intermediate, UnionPay's signing
certificate under it, and each merchant's signing certificate.

A real merchant installs UnionPay's root and intermediate certificates and trusts whatever signing
certificate an answer carries in ``signPubKeyCert`` as long as it chains to them and its CN names
中国银联股份有限公司 — that is what lets UnionPay rotate its signing key without telling anyone. The
sandbox mirrors that shape so a client's chain checking is exercised for real: the chain is generated
once per gateway state, rotation issues a new signing certificate under the same intermediate, and the
``foreign_signer`` fault signs with a certificate that carries the right CN but chains to an unrelated
root. Merchant certificates come from the same intermediate (as CFCA issues both in production) with a
CN that does *not* name UnionPay, so a client that checks the chain but not the CN would accept a
merchant's own signature as the gateway's — a mistake the sandbox makes visible.

Serials are 11 decimal digits like real ``certId`` values. Private keys are parsed once per PEM (cached),
since parsing on every answer would dominate the gateway's time.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from indiepay.channels.unionpay import signing
from indiepay.sandbox.unionpay.store import GatewayPki, SandboxStore

ROOT_CN = "IndiePay Sandbox UnionPay Root"
MIDDLE_CN = "IndiePay Sandbox UnionPay Middle"
FOREIGN_ROOT_CN = "IndiePay Sandbox Foreign Root"
FOREIGN_MIDDLE_CN = "IndiePay Sandbox Foreign Middle"
LEAF_YEARS = 5
CA_YEARS = 20


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _serial() -> int:
    return 10**10 + secrets.randbelow(9 * 10**10)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def gateway_cn(generation: int) -> str:
    """UnionPay's CN convention: ``<org code>@<id>@中国银联股份有限公司@<n>``."""
    return f"041@Z00000000000001@{signing.UNIONPAY_NAME}@{generation:08d}"


def _issue(subject: x509.Name, public: rsa.RSAPublicKey, issuer: x509.Certificate | None,
           issuer_key: rsa.RSAPrivateKey, *, ca: bool, now: datetime) -> x509.Certificate:
    """A certificate valid from a day ago (clock skew) for 20 years (CAs) or 5 years (signing keys)."""
    issuer_name = issuer.subject if issuer is not None else subject
    issuer_public = issuer_key.public_key()
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(public)
               .serial_number(_serial()).not_valid_before(now - timedelta(days=1))
               .not_valid_after(now + timedelta(days=365 * (CA_YEARS if ca else LEAF_YEARS)))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=not ca,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def new_pki(now: datetime) -> GatewayPki:
    """A fresh root, intermediate and first gateway signing certificate."""
    root_key, middle_key, signer_key = _rsa(), _rsa(), _rsa()
    root_name = _name(ROOT_CN, "IndiePay Sandbox")
    root = _issue(root_name, root_key.public_key(), None, root_key, ca=True, now=now)
    middle = _issue(_name(MIDDLE_CN, "IndiePay Sandbox"), middle_key.public_key(), root, root_key, ca=True, now=now)
    signer = _issue(_name(gateway_cn(1), "China UnionPay"), signer_key.public_key(), middle, middle_key,
                    ca=False, now=now)
    return GatewayPki(root_key=signing.private_key_pem(root_key), root_cert=signing.certificate_pem(root),
                      middle_key=signing.private_key_pem(middle_key), middle_cert=signing.certificate_pem(middle),
                      signer_key=signing.private_key_pem(signer_key), signer_cert=signing.certificate_pem(signer))


def rotated(pki: GatewayPki, now: datetime) -> GatewayPki:
    """The chain with a new signing key and certificate under the same intermediate."""
    key = _rsa()
    generation = pki.generation + 1
    cert = _issue(_name(gateway_cn(generation), "China UnionPay"), key.public_key(),
                  signing.load_certificate(pki.middle_cert), private_key(pki.middle_key), ca=False, now=now)
    return replace(pki, signer_key=signing.private_key_pem(key), signer_cert=signing.certificate_pem(cert),
                   generation=generation)


def with_foreign_signer(pki: GatewayPki, now: datetime) -> GatewayPki:
    """The chain plus an impostor: UnionPay's CN, but issued under a root no merchant installed."""
    if pki.foreign_key is not None:
        return pki
    root_key, middle_key, key = _rsa(), _rsa(), _rsa()
    root = _issue(_name(FOREIGN_ROOT_CN, "Elsewhere"), root_key.public_key(), None, root_key, ca=True, now=now)
    middle = _issue(_name(FOREIGN_MIDDLE_CN, "Elsewhere"), middle_key.public_key(), root, root_key, ca=True, now=now)
    cert = _issue(_name(gateway_cn(1), "China UnionPay"), key.public_key(), middle, middle_key, ca=False, now=now)
    return replace(pki, foreign_key=signing.private_key_pem(key), foreign_cert=signing.certificate_pem(cert))


def new_merchant_cert(pki: GatewayPki, mer_id: str, now: datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A merchant's signing key and certificate (its serial in decimal is the merchant's ``certId``)."""
    key = _rsa()
    cert = _issue(_name(f"041@Z{mer_id}@{mer_id} 沙箱商户@00000001", "IndiePay Sandbox Merchants"),
                  key.public_key(), signing.load_certificate(pki.middle_cert), private_key(pki.middle_key),
                  ca=False, now=now)
    return key, cert


def wire_pem(pem: str) -> str:
    """A certificate as ``signPubKeyCert`` carries it: CRLF line ends, like UnionPay's own. A browser posting
    the front notification normalises every line end of a form value to CRLF, so only a CRLF value keeps
    its signature on that way."""
    return "\r\n".join(pem.strip().splitlines()) + "\r\n"


@lru_cache(maxsize=256)
def private_key(pem: str) -> rsa.RSAPrivateKey:
    return signing.load_private_key(pem)


@lru_cache(maxsize=1024)
def certificate(pem: str) -> x509.Certificate:
    return signing.load_certificate(pem)


@dataclass(frozen=True)
class Signer:
    """A key the gateway signs with and the ``signPubKeyCert`` value that names it."""

    key: rsa.RSAPrivateKey
    cert_pem: str
    cert_id: str


class KeyRing:
    """The gateway's chain, generated on first use and kept in the store; thread-safe."""

    def __init__(self, store: SandboxStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._pki: GatewayPki | None = None

    def pki(self, now: datetime) -> GatewayPki:
        """The chain, generating it (three RSA keys, a fraction of a second) the first time."""
        with self._lock:
            if self._pki is None:
                self._pki = self._store.pki()
                if self._pki is None:
                    self._pki = new_pki(now)
                    self._store.save_pki(self._pki)
            return self._pki

    @property
    def ready(self) -> bool:
        return self._pki is not None

    def replace(self, change: GatewayPki) -> None:
        with self._lock:
            self._pki = change
            self._store.save_pki(change)

    def signer(self, now: datetime, *, foreign: bool = False) -> Signer:
        """The current signing key, or the impostor's when ``foreign`` (create it first: ``with_foreign``)."""
        pki = self.pki(now)
        if foreign and pki.foreign_key is not None and pki.foreign_cert is not None:
            key_pem, cert_pem = pki.foreign_key, pki.foreign_cert
        else:
            key_pem, cert_pem = pki.signer_key, pki.signer_cert
        return Signer(key=private_key(key_pem), cert_pem=wire_pem(cert_pem),
                      cert_id=signing.cert_id(certificate(cert_pem)))
