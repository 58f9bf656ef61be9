"""UnionPay 5.1.0 wire rules: the signature, the answer format, the certificate chain, credentials."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from indiepay.channels.unionpay import signing, validate_credentials
from indiepay.channels.unionpay.client import parse_trace_time, parse_txn_time, txn_time
from indiepay.core.errors import InvalidRequest
from indiepay.sandbox.unionpay.certs import new_merchant_cert, new_pki, with_foreign_signer

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki():  # type: ignore[no-untyped-def]
    return new_pki(NOW)


def test_signature_is_rsa_sha256_over_the_lower_hex_digest_of_the_sorted_fields() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fields = {"txnAmt": "100", "orderId": "A1", "backUrl": "https://m.example/n?a=1&b=2", "merId": "777"}
    content = signing.sign_content({**fields, "signature": "ignored"})
    assert content == "backUrl=https://m.example/n?a=1&b=2&merId=777&orderId=A1&txnAmt=100"
    signature = signing.sign(key, fields)
    digest_hex = hashlib.sha256(content.encode()).hexdigest().encode()
    key.public_key().verify(base64.b64decode(signature), digest_hex, padding.PKCS1v15(), hashes.SHA256())
    assert signing.verify(key.public_key(), {**fields, "signature": signature})
    assert not signing.verify(key.public_key(), {**fields, "txnAmt": "101", "signature": signature})
    assert not signing.verify(key.public_key(), {**fields, "extra": "", "signature": signature})
    flipped = signature[:100] + ("A" if signature[100] != "A" else "B") + signature[101:]
    assert not signing.verify(key.public_key(), {**fields, "signature": flipped})
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sloppy = signature[:-3] + alphabet[alphabet.index(signature[-3]) ^ 1] + "=="  # an unused low bit set
    assert base64.b64decode(sloppy) == base64.b64decode(signature)
    assert not signing.verify(key.public_key(), {**fields, "signature": sloppy})
    assert not signing.verify(key.public_key(), {**fields, "signature": "not base64!"})
    assert not signing.verify(key.public_key(), fields)


def test_answers_split_on_top_level_ampersands_only() -> None:
    text = "respCode=00&reserved={a=1&b={c=2}}&signPubKeyCert=-----BEGIN x==\r\nend-----&empty="
    assert signing.parse_response(text) == {"respCode": "00", "reserved": "{a=1&b={c=2}}",
                                            "signPubKeyCert": "-----BEGIN x==\r\nend-----", "empty": ""}
    fields = {"a": "1", "b": "x=y"}
    assert signing.parse_response(signing.encode_response(fields)) == fields
    for bad in ("", "a=1&b", "a={1", "a=1}", "a=1&a=2", "=1"):
        with pytest.raises(signing.ResponseFormatError):
            signing.parse_response(bad)


def test_the_chain_accepts_unionpays_signer_and_nothing_else(pki) -> None:  # type: ignore[no-untyped-def]
    middle, root = signing.load_certificate(pki.middle_cert), signing.load_certificate(pki.root_cert)
    signer = signing.load_certificate(pki.signer_cert)
    signing.check_chain(signer, middle, root, NOW)
    with pytest.raises(signing.CertificateRejected, match="validity"):
        signing.check_chain(signer, middle, root, NOW + timedelta(days=365 * 6))
    impostor = with_foreign_signer(pki, NOW)
    assert impostor.foreign_cert is not None
    with pytest.raises(signing.CertificateRejected, match="not issued by"):
        signing.check_chain(signing.load_certificate(impostor.foreign_cert), middle, root, NOW)
    _, merchant_cert = new_merchant_cert(pki, "777000000000001", NOW)
    with pytest.raises(signing.CertificateRejected, match="does not name"):  # right chain, not UnionPay
        signing.check_chain(merchant_cert, middle, root, NOW)
    with pytest.raises(signing.CertificateRejected):  # the anchors swapped
        signing.check_chain(signer, root, middle, NOW)


def _credentials(pki, mer_id: str = "777000000000001"):  # type: ignore[no-untyped-def]
    key, cert = new_merchant_cert(pki, mer_id, NOW)
    return key, cert, {"mer_id": mer_id, "sign_private_key": signing.private_key_pem(key),
                       "sign_cert": signing.certificate_pem(cert), "middle_cert": pki.middle_cert,
                       "root_cert": pki.root_cert}


def test_credentials_normalise_from_pem_or_from_the_pfx(pki) -> None:  # type: ignore[no-untyped-def]
    key, cert, given = _credentials(pki)
    stored = validate_credentials(given)
    assert sorted(stored) == ["mer_id", "middle_cert", "root_cert", "sign_cert", "sign_private_key"]
    pfx = pkcs12.serialize_key_and_certificates(b"merchant", key, cert, None,
                                                serialization.BestAvailableEncryption(b"123456"))
    from_pfx = validate_credentials({"mer_id": given["mer_id"], "middle_cert": pki.middle_cert,
                                     "root_cert": pki.root_cert, "sign_pfx": base64.b64encode(pfx).decode(),
                                     "sign_pfx_password": "123456"})
    assert from_pfx == stored  # the password is not kept; the pair is stored as PEM


@pytest.mark.parametrize("change,field", [
    ({"mer_id": "77700000000000"}, "mer_id"),
    ({"sign_private_key": "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"}, "sign_private_key"),
    ({"sign_cert": "nope"}, "sign_cert"),
    ({"root_cert": None}, "root_cert"),
    ({"colour": "blue"}, "colour"),
    ({"sign_pfx_password": "x"}, "sign_pfx_password"),
    ({"sign_pfx": "AAAA"}, "sign_pfx"),
])
def test_bad_credentials_name_the_field(pki, change, field) -> None:  # type: ignore[no-untyped-def]
    _, _, given = _credentials(pki)
    given.update(change)
    given = {k: v for k, v in given.items() if v is not None}
    with pytest.raises(InvalidRequest) as refused:
        validate_credentials(given)
    assert refused.value.code == "invalid_credentials" and refused.value.details["field"] == field


def test_a_certificate_of_another_key_or_anchors_out_of_order_are_refused(pki) -> None:  # type: ignore[no-untyped-def]
    _, _, given = _credentials(pki)
    _, other_cert, _ = _credentials(pki, "777000000000002")
    with pytest.raises(InvalidRequest) as refused:
        validate_credentials({**given, "sign_cert": signing.certificate_pem(other_cert)})
    assert refused.value.details["field"] == "sign_cert"
    with pytest.raises(InvalidRequest) as refused:
        validate_credentials({**given, "middle_cert": pki.root_cert, "root_cert": pki.middle_cert})
    assert refused.value.details["field"] == "middle_cert"


def test_times_are_beijing_seconds_and_trace_times_take_the_year_nearest_the_order() -> None:
    opened = datetime(2026, 12, 31, 15, 59, 59, 900_000, tzinfo=UTC)  # 23:59:59.9 in Beijing
    assert txn_time(opened) == "20261231235959"
    assert txn_time(opened.replace(tzinfo=None)) == "20261231235959"  # naive means UTC
    order_time = parse_txn_time("20261231235959")
    assert order_time == opened.replace(microsecond=0)
    assert parse_trace_time("0101000001", order_time) == datetime(2026, 12, 31, 16, 0, 1, tzinfo=UTC)
    assert parse_trace_time("1231235959", order_time) == order_time
    assert parse_trace_time("0230000000", order_time) is None  # no 30 February in either year
    ahead = parse_txn_time("20270101000005")  # the merchant's clock a few seconds ahead of UnionPay's at New Year
    assert parse_trace_time("1231235959", ahead) == datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)
    assert parse_trace_time("1124120000", order_time) == datetime(2026, 11, 24, 4, tzinfo=UTC)  # nearest: weeks back
    assert parse_txn_time("2026123") is None and parse_trace_time(None, order_time) is None
