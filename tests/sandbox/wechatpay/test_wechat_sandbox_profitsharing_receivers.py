"""Profit-sharing receivers and the prepay's ``settle_info``: validation, idempotent add/delete, and the
receiver's name encrypted (RSA-OAEP SHA-1) under the gateway key ``Wechatpay-Serial`` names — the public
key or a platform certificate, through rotation and retirement."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from wechat_profitsharing_support import SharingSandbox, Shop, expect_error, no, oaep_encrypt


def _add(shop: Shop, body: dict[str, Any], serial: str | None = None) -> httpx.Response:
    return shop.call("POST", "/v3/profitsharing/receivers/add", {"appid": shop.appid, **body}, serial=serial)


def _inspect(shop: Shop, out_trade_no: str) -> dict[str, Any]:
    data: dict[str, Any] = shop.http.get(f"{shop.base_url}/_orders/{shop.mchid}/{out_trade_no}").json()
    return data


def test_prepay_records_settle_info(sharing: SharingSandbox) -> None:
    shop = sharing.shop()
    for bad in ("yes", [], {"profit_sharing": "true"}, {"profit_sharing": 1}):
        expect_error(shop.prepay(100, bad), 400, "PARAM_ERROR")
    for settle_info, expected in (({"profit_sharing": True}, True), ({"profit_sharing": False}, False),
                                  ({}, False), (None, False)):
        out_trade_no = no("T")
        assert shop.prepay(100, settle_info, out_trade_no).status_code == 200
        assert _inspect(shop, out_trade_no)["profit_sharing"] is expected
    same = no("T")
    assert shop.prepay(100, {"profit_sharing": True}, same).status_code == 200
    expect_error(shop.prepay(100, {"profit_sharing": False}, same), 400, "INVALID_REQUEST")  # different parameters


def test_add_validates_and_updates_in_place(sharing: SharingSandbox) -> None:
    shop = sharing.shop()
    openid = "o" + no("U")
    base = {"type": "PERSONAL_OPENID", "account": openid, "relation_type": "USER"}
    for change in ({"type": "BANK"}, {"type": None}, {"account": ""}, {"account": "x" * 65},
                   {"relation_type": "FRIEND"}, {"relation_type": None}, {"relation_type": "CUSTOM"},
                   {"relation_type": "CUSTOM", "custom_relation": ""},
                   {"relation_type": "CUSTOM", "custom_relation": "十一个字的自定义关系啊"},
                   {"type": "MERCHANT_ID", "account": "1234567"}, {"type": "MERCHANT_ID", "account": "12345678a"},
                   {"type": "MERCHANT_ID", "account": "1" * 33}, {"appid": None}):
        expect_error(_add(shop, {**base, **change}), 400, "PARAM_ERROR")
    expect_error(_add(shop, {**base, "appid": "wx0000000000000000"}), 400, "INVALID_REQUEST")
    expect_error(_add(shop, {"type": "MERCHANT_ID", "account": "19000001", "relation_type": "BRAND"}),
           400, "PARAM_ERROR")  # a merchant receiver needs its (encrypted) name

    added = _add(shop, base)  # a person's name is optional
    assert added.status_code == 200 and added.json() == {"type": "PERSONAL_OPENID", "account": openid,
                                                         "relation_type": "USER"}
    again = _add(shop, {**base, "relation_type": "CUSTOM", "custom_relation": "代理商"})
    assert again.json() == {"type": "PERSONAL_OPENID", "account": openid, "relation_type": "CUSTOM",
                            "custom_relation": "代理商"}
    named = shop.add_receiver("PERSONAL_OPENID", openid, name="张三", relation="STAFF")
    assert named.status_code == 200 and "name" not in named.json()
    for relation in ("STORE", "STAFF", "STORE_OWNER", "PARTNER", "HEADQUARTER", "BRAND", "DISTRIBUTOR", "USER",
                     "SUPPLIER"):
        assert _add(shop, {**base, "relation_type": relation}).status_code == 200
    expect_error(shop.add_receiver("MERCHANT_ID", shop.mchid, name="自己"), 400, "INVALID_REQUEST")


def test_delete_is_idempotent(sharing: SharingSandbox) -> None:
    shop = sharing.shop()
    body = {"appid": shop.appid, "type": "MERCHANT_ID", "account": "190000001234"}
    for _ in range(2):
        deleted = shop.call("POST", "/v3/profitsharing/receivers/delete", body)
        assert deleted.status_code == 200 and deleted.json() == {"type": "MERCHANT_ID", "account": "190000001234"}
    expect_error(shop.call("POST", "/v3/profitsharing/receivers/delete", {**body, "type": "X"}), 400, "PARAM_ERROR")
    expect_error(shop.call("POST", "/v3/profitsharing/receivers/delete", {**body, "appid": "wx1"}), 400,
                 "INVALID_REQUEST")


@pytest.mark.parametrize("key_mode", ["public_key", "platform_certificate"])
def test_encrypted_name_opens_only_under_the_named_gateway_key(sharing: SharingSandbox, key_mode: str) -> None:
    shop = sharing.shop(key_mode)
    serial, key = shop.encryption_key()
    assert serial.startswith("PUB_KEY_ID_") == (key_mode == "public_key")
    body = {"type": "MERCHANT_ID", "account": "1900000777", "relation_type": "SUPPLIER"}
    assert _add(shop, {**body, "name": oaep_encrypt(key, "供应商有限公司")}, serial).status_code == 200

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    for name, named in ((oaep_encrypt(key, "供应商有限公司"), None),  # no Wechatpay-Serial header
                        (oaep_encrypt(key, "供应商有限公司"), "PUB_KEY_ID_0100000000000000000000"),  # not ours
                        (oaep_encrypt(key, "供应商有限公司"), "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"),
                        (oaep_encrypt(stranger, "供应商有限公司"), serial),  # another key's ciphertext
                        ("供应商有限公司", serial),  # not encrypted at all
                        (base64.b64encode(b"\0" * 256).decode(), serial)):
        expect_error(_add(shop, {**body, "name": name}, named), 400, "PARAM_ERROR")
    other = sharing.shop(key_mode)
    other_serial, other_key = other.encryption_key()
    expect_error(_add(shop, {**body, "name": oaep_encrypt(other_key, "供应商有限公司")}, other_serial),
           400, "PARAM_ERROR")  # another merchant's gateway key is not this merchant's


def test_certificate_rotation_and_the_public_key_migration(sharing: SharingSandbox) -> None:
    shop = sharing.shop("platform_certificate")
    old_serial, old_key = shop.encryption_key()
    body = {"type": "MERCHANT_ID", "account": "1900000888", "relation_type": "STORE"}
    shop.faults(rotate_platform_certificate=True)
    new_serial, new_key = shop.encryption_key()
    assert new_serial != old_serial
    for serial, key in ((old_serial, old_key), (new_serial, new_key)):  # the overlap: both still open names
        assert _add(shop, {**body, "name": oaep_encrypt(key, "门店")}, serial).status_code == 200
    shop.faults(retire_old_platform_certificates=True)
    expect_error(_add(shop, {**body, "name": oaep_encrypt(old_key, "门店")}, old_serial), 400, "PARAM_ERROR")
    view = shop.faults(create_public_key=True)
    shop.refresh_keys()
    public_id = view["wechatpay_public_key_id"]
    named = _add(shop, {**body, "name": oaep_encrypt(shop.platform_keys[public_id], "门店")}, public_id)
    assert named.status_code == 200 and named.headers["wechatpay-serial"] == public_id


def test_a_sandbox_merchants_legal_name_must_match(sharing: SharingSandbox) -> None:
    shop = sharing.shop()
    named = sharing.shop(name="深圳市沙箱科技有限公司")
    unnamed = sharing.shop()
    expect_error(shop.add_receiver("MERCHANT_ID", named.mchid, name="深圳市沙箱科技"), 400, "INVALID_REQUEST",
           "分账接收方全称不匹配")
    assert shop.add_receiver("MERCHANT_ID", named.mchid, name="深圳市沙箱科技有限公司").status_code == 200
    assert shop.add_receiver("MERCHANT_ID", unnamed.mchid, name="随便什么名字").status_code == 200
    assert shop.add_receiver("MERCHANT_ID", "1999999999", name="外部商户").status_code == 200
    bad = sharing.http.post(f"{sharing.base_url}/_provision", json={"name": ""})
    assert bad.status_code == 400


def test_a_name_in_an_order_must_open_too(sharing: SharingSandbox) -> None:
    shop = sharing.shop()
    openid = "o" + no("U")
    assert shop.add_receiver("PERSONAL_OPENID", openid).status_code == 200
    tid = shop.pay(1000)
    serial, ciphertext = shop.encrypt("李四")
    line = {"type": "PERSONAL_OPENID", "account": openid, "amount": 10, "description": "分账", "name": ciphertext}
    body = {"appid": shop.appid, "transaction_id": tid, "receivers": [line], "unfreeze_unsplit": False}
    expect_error(shop.call("POST", "/v3/profitsharing/orders", {**body, "out_order_no": "N1"}), 400, "PARAM_ERROR")
    ok = shop.call("POST", "/v3/profitsharing/orders", {**body, "out_order_no": "N2"}, serial=serial)
    assert ok.status_code == 200 and "name" not in ok.json()["receivers"][0]
