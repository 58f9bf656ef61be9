"""Alipay canonical strings, RSA2, key formats and the raw-response scanner."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.channels.alipay.alipay_fakes import Keys

from indiepay.channels.alipay import signing
from indiepay.channels.alipay.signing import ResponseFormatError


def test_request_string_keeps_sign_type_drops_sign_and_empty_values() -> None:
    params = {"sign": "xyz", "sign_type": "RSA2", "app_id": "2021", "b": "", "a": "1", "Z": "up",
              "biz_content": '{"subject":"a b&c=d 中"}', "notify_url": None}
    assert signing.request_sign_content(params) == (
        'Z=up&a=1&app_id=2021&biz_content={"subject":"a b&c=d 中"}&sign_type=RSA2')


def test_notify_string_drops_sign_and_sign_type() -> None:
    params = {"sign": "xyz", "sign_type": "RSA2", "trade_status": "TRADE_SUCCESS", "app_id": "2021",
              "subject": "", "total_amount": "0.01"}
    assert signing.notify_sign_content(params) == "app_id=2021&total_amount=0.01&trade_status=TRADE_SUCCESS"


def test_sign_verify_round_trip_and_flipped_byte(keys: Keys) -> None:
    content = "a=1&b=中文&sign_type=RSA2"
    sign = signing.rsa2_sign(keys.app, content)
    assert signing.rsa2_verify(keys.app.public_key(), content, sign)
    assert not signing.rsa2_verify(keys.app.public_key(), content.replace("1", "2"), sign)
    assert not signing.rsa2_verify(keys.alipay.public_key(), content, sign)
    assert not signing.rsa2_verify(keys.app.public_key(), content, "not base64!")
    raw = bytearray(base64.b64decode(sign))
    raw[10] ^= 0x01
    assert not signing.rsa2_verify(keys.app.public_key(), content, base64.b64encode(bytes(raw)).decode())


def _bare(der: bytes) -> str:
    return base64.b64encode(der).decode()


def test_private_key_formats(keys: Keys) -> None:
    pkcs1 = keys.app.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption()).decode()
    pkcs8_der = keys.app.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    pkcs1_der = keys.app.private_bytes(serialization.Encoding.DER,
                                       serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    wrapped = "\n".join(_bare(pkcs8_der)[i:i + 64] for i in range(0, len(_bare(pkcs8_der)), 64))
    for text in (pkcs1, signing.private_key_pem(keys.app), _bare(pkcs8_der), _bare(pkcs1_der), wrapped):
        loaded = signing.load_private_key(text)
        assert loaded.private_numbers() == keys.app.private_numbers()


def test_public_key_formats(keys: Keys) -> None:
    public = keys.alipay.public_key()
    spki_der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1).decode()
    for text in (signing.public_key_pem(public), _bare(spki_der), pkcs1_pem, "  " + _bare(spki_der) + "\n"):
        assert signing.load_public_key(text).public_numbers() == public.public_numbers()


def test_bad_keys_rejected() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()
    for text in ("", "not a key", "QUJD", signing.private_key_pem(small), ec_pem):
        with pytest.raises(ValueError):
            signing.load_private_key(text)
    with pytest.raises(ValueError):
        signing.load_public_key(signing.public_key_pem(small.public_key()))


TRICKY = ('{"code":"10000","msg":"Success","subject":"quote \\" brace } { ] [ , : \\\\",'
          '"nested":{"a":[1,{"b":"}"}],"c":null},"qr_code":"https:\\/\\/qr.alipay.com\\/bax0","u":"\\u4e2d中"}')


def test_scanner_returns_exact_raw_member() -> None:
    text = '{"alipay_trade_precreate_response":' + TRICKY + ',"sign":"abc="}'
    name, raw, sign = signing.split_signed_response(text, "alipay.trade.precreate")
    assert (name, raw, sign) == ("alipay_trade_precreate_response", TRICKY, "abc=")


def test_scanner_sign_first_whitespace_and_error_response() -> None:
    text = ' { "sign" : "s1" ,\n "error_response" : ' + TRICKY + ' \n}\n'
    assert signing.split_signed_response(text, "alipay.trade.query") == ("error_response", TRICKY, "s1")


def test_scanner_prefers_method_member_and_handles_missing_sign() -> None:
    text = '{"error_response":{"code":"1"},"alipay_trade_query_response":{"code":"10000"}}'
    assert signing.split_signed_response(text, "alipay.trade.query") == (
        "alipay_trade_query_response", '{"code":"10000"}', None)


@pytest.mark.parametrize("text", [
    "", "[]", "{", '{"alipay_trade_query_response":{"code":"1"}', '{"alipay_trade_query_response":"x}',
    '{"other_response":{}}', '{"alipay_trade_query_response":{}} trailing', '{"a" 1}',
    '{"alipay_trade_query_response":{"a":[}}',
])
def test_scanner_rejects_malformed(text: str) -> None:
    with pytest.raises(ResponseFormatError):
        signing.split_signed_response(text, "alipay.trade.query")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(body=st.dictionaries(st.text(max_size=10), json_values, max_size=6), sign=st.text(min_size=1),
       ascii_only=st.booleans(), escape_slash=st.booleans(), sign_first=st.booleans(), spaces=st.booleans())
def test_scanner_property(body: dict[str, object], sign: str, ascii_only: bool, escape_slash: bool,
                          sign_first: bool, spaces: bool) -> None:
    sep = (", ", ": ") if spaces else (",", ":")
    inner = json.dumps(body, ensure_ascii=ascii_only, separators=sep)
    if escape_slash:
        inner = inner.replace("/", "\\/")
    members = [('"alipay_trade_refund_response"', inner), ('"sign"', json.dumps(sign))]
    if sign_first:
        members.reverse()
    text = "{" + sep[0].join(k + sep[1] + v for k, v in members) + "}"
    assert signing.split_signed_response(text, "alipay.trade.refund") == ("alipay_trade_refund_response", inner,
                                                                          sign)
    assert json.loads(inner) == body
