"""The signer reproduces WeChat Pay's published test vectors byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from indiepay.channels.wechatpay import signing

REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLES = REPO_ROOT.parent / "shared" / "samples"


@pytest.fixture(scope="module")
def vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / "wechatpay_v3_official_signature_vectors.json").read_text())
    return data


def _case(vectors: dict[str, Any], name: str) -> dict[str, Any]:
    return next(case for case in vectors["cases"] if case["name"] == name)


def test_get_request_message_signature_and_authorization(vectors: dict[str, Any]) -> None:
    case = _case(vectors, "request_GET_refund_query")
    key = signing.load_private_key(vectors["merchant_private_key_pem"])
    message = signing.request_message("GET", "/v3/refund/domestic/refunds/123123123123", "1554208460",
                                      "593BEC0C930BF1AFEB40B4A08C8FB242", "")
    assert message == case["message"].encode()
    signature = signing.sign(key, message)
    assert signature == case["signature"]
    header = signing.authorization_header(vectors["mchid"], vectors["serial_no"],
                                          "593BEC0C930BF1AFEB40B4A08C8FB242", "1554208460", signature)
    assert header == case["expected_authorization_header"]
    assert signing.parse_authorization(header)["signature"] == signature
    assert signing.verify(key.public_key(), message, signature)


def test_post_jsapi_request(vectors: dict[str, Any]) -> None:
    case = _case(vectors, "request_POST_jsapi_prepay")
    key = signing.load_private_key(vectors["merchant_private_key_pem"])
    body = {
        "appid": "wxd678efh567hg6787", "mchid": "1900007291", "description": "Image形象店-深圳腾大-QQ公仔",
        "out_trade_no": "1217752501201407033233368018", "notify_url": "https://www.weixin.qq.com/wxpay/pay.php",
        "amount": {"total": 100, "currency": "CNY"}, "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    }
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    message = signing.request_message("POST", "/v3/pay/transactions/jsapi", "1554208460",
                                      "593BEC0C930BF1AFEB40B4A08C8FB242", raw)
    assert message == case["message"].encode()
    assert signing.sign(key, message) == case["signature"]


def test_jsapi_pay_sign(vectors: dict[str, Any]) -> None:
    case = _case(vectors, "paysign_JSAPI")
    key = signing.load_private_key(vectors["merchant_private_key_pem"])
    message = signing.pay_sign_message("wx2421b1c4370ec43b", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242",
                                       "prepay_id=wx201410272009395522657a690389285100")
    assert message == case["message"].encode()
    assert signing.jsapi_pay_sign(key, "wx2421b1c4370ec43b", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242",
                                  "wx201410272009395522657a690389285100") == case["signature"]


def test_app_sign(vectors: dict[str, Any]) -> None:
    case = _case(vectors, "paysign_APP")
    key = signing.load_private_key(vectors["merchant_private_key_pem"])
    message = signing.build_message("wx2421b1c4370ec43b", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242",
                                    "wx201410272009395522657a690389285100")
    assert message == case["message"].encode()
    assert signing.sign(key, message) == case["signature"]


def test_aead_round_trip_and_tamper() -> None:
    key = b"0123456789abcdef0123456789abcdef"
    sealed = signing.aead_encrypt(key, "abcdefghijkl", "transaction", b'{"a":1}')
    assert signing.aead_decrypt(key, "abcdefghijkl", "transaction", sealed) == b'{"a":1}'
    with pytest.raises(signing.SignatureError):
        signing.aead_decrypt(key, "abcdefghijkl", "refund", sealed)
    with pytest.raises(signing.SignatureError):
        signing.aead_decrypt(b"short", "abcdefghijkl", "transaction", sealed)


def test_verify_rejects_garbage() -> None:
    key = signing.load_private_key(json.loads(
        (SAMPLES / "wechatpay_v3_official_signature_vectors.json").read_text())["merchant_private_key_pem"])
    assert not signing.verify(key.public_key(), b"x\n", "not base64!!")
    with pytest.raises(signing.SignatureError):
        signing.parse_authorization('WECHATPAY2-SHA256-RSA2048 mchid="1"')
