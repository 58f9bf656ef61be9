"""Credential validation catches the typos that would otherwise surface as a SIGN_ERROR at first payment."""

from __future__ import annotations

import pytest
from wechatpay_fakes import credentials

from indiepay.channels.wechatpay import (
    OPTIONAL_FIELDS,
    PRODUCTION_BASE_URL,
    REQUIRED_FIELDS,
    SECRET_FIELDS,
    validate_credentials,
)
from indiepay.core.errors import InvalidRequest


def test_constants() -> None:
    assert PRODUCTION_BASE_URL == "https://api.mch.weixin.qq.com"
    assert {"mchid", "appid", "merchant_serial_no", "merchant_private_key", "apiv3_key"} == REQUIRED_FIELDS
    assert {"wechatpay_public_key_id", "wechatpay_public_key"} == OPTIONAL_FIELDS
    assert {"merchant_private_key", "apiv3_key"} == SECRET_FIELDS


def test_valid_set_is_cleaned() -> None:
    raw = credentials(mchid=" 1900000109 ", merchant_serial_no="5157f09efdc096de15ebe81a47057a7232f1b8e1")
    cleaned = validate_credentials(raw)
    assert cleaned["mchid"] == "1900000109"
    assert cleaned["merchant_serial_no"] == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    assert cleaned["merchant_private_key"].endswith("-----\n")
    without_public = {k: v for k, v in raw.items() if k not in OPTIONAL_FIELDS}
    assert set(validate_credentials(without_public)) == REQUIRED_FIELDS


@pytest.mark.parametrize(("change", "field"), [
    ({"surprise": "x"}, "surprise"),
    ({"mchid": ""}, "mchid"),
    ({"merchant_private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}, "merchant_private_key"),
    ({"apiv3_key": "short"}, "apiv3_key"),
    ({"apiv3_key": "0123456789abcdefghijABCDEFGHIJ012"}, "apiv3_key"),
    ({"wechatpay_public_key_id": "0100000000"}, "wechatpay_public_key_id"),
    ({"wechatpay_public_key": "not a key"}, "wechatpay_public_key"),
])
def test_invalid_fields(change: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        validate_credentials(credentials(**change))
    assert exc.value.code == "invalid_credentials" and exc.value.details == {"field": field}


def test_missing_and_half_public_key() -> None:
    partial = {k: v for k, v in credentials().items() if k != "apiv3_key"}
    with pytest.raises(InvalidRequest) as exc:
        validate_credentials(partial)
    assert exc.value.details == {"field": "apiv3_key"}
    only_id = {k: v for k, v in credentials().items() if k != "wechatpay_public_key"}
    with pytest.raises(InvalidRequest) as exc:
        validate_credentials(only_id)
    assert exc.value.details == {"field": "wechatpay_public_key"}
