"""Whose bill it is: every reader reports the merchant number its bill names (WeChat Pay's 商户号 — by the
DuckDB reader and the Python reader alike —, Alipay's partner id, UnionPay's merId), and a bill of another
account is refused before anything is stored."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from indiepay.accounts.models import ChannelAccount
from indiepay.reconciliation import bills
from indiepay.reconciliation.columnar_bill import SEVERAL
from indiepay.reconciliation.errors import BillAccountMismatch
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.reconciliation.writers.unionpay import render_unionpay_bill_zip
from indiepay.reconciliation.writers.wechat import render_wechat_trade_bill
from indiepay.vault.envelope import fingerprint
from tests.reconciliation.factories import SAMPLES, alipay_row, wechat_payment
from tests.reconciliation.test_unionpay_bill import row as unionpay_row


def read(content: bytes, tmp_path: Path, *, on_disk: bool = False) -> bills.ReadBill:
    if not on_disk:
        return bills.read_bill(io.BytesIO(content), tmp_path / "bill.csv")
    path = tmp_path / "bill.in"
    path.write_bytes(content)
    with path.open("rb") as stream:
        return bills.read_bill(stream, tmp_path / "bill.csv")


def test_the_real_wechat_bill_names_its_merchant_in_both_readers(tmp_path: Path) -> None:
    sample = next(SAMPLES.glob("wechatpay_tradebill_*.csv")).read_bytes()
    fast = read(sample, tmp_path, on_disk=True)
    assert fast.normalised.suffix == ".parquet" and fast.merchant_no == "1921000401"  # read by DuckDB
    other = sample.replace(b"`1921000401", b"`1921000402", 1)  # one row of another merchant
    assert read(other, tmp_path, on_disk=True).merchant_no == SEVERAL
    written = render_wechat_trade_bill([wechat_payment(1, mch_id="1900000109"), wechat_payment(2, mch_id="1900000109")])
    slow = read(written, tmp_path)
    assert slow.normalised.suffix == ".csv" and slow.merchant_no == "1900000109"  # read by the Python reader
    mixed = render_wechat_trade_bill([wechat_payment(1, mch_id="1900000109"), wechat_payment(2, mch_id="1900000110")])
    assert read(mixed, tmp_path).merchant_no == SEVERAL


def test_alipay_and_unionpay_bills_name_their_merchant(tmp_path: Path) -> None:
    alipay = render_alipay_bill_zip([alipay_row()], pid="2088021109625633", bill_date=date(2024, 5, 1))
    assert read(alipay, tmp_path).merchant_no == "2088021109625633"
    unionpay = render_unionpay_bill_zip([unionpay_row()], mer_id="777290058110097", clearing_day=date(2027, 1, 1))
    assert read(unionpay, tmp_path).merchant_no == "777290058110097"
    empty = render_unionpay_bill_zip([], mer_id="777290058110097", clearing_day=date(2027, 1, 1))
    assert read(empty, tmp_path).merchant_no == "777290058110097"  # the archive's name says it


def _account(channel: str, field: str, value: str) -> ChannelAccount:
    return ChannelAccount(id="acct_x", merchant_id="mch_x", owner="merchant", channel=channel, environment="sandbox",
                          role="primary", status="active", base_url="http://x",
                          credentials={field: {"fingerprint": fingerprint(value), "last4": value[-4:]}})


@pytest.mark.parametrize(("channel", "field", "own", "other"), [
    ("wechatpay", "mchid", "1900000109", "1900000110"), ("alipay", "seller_id", "2088021109625633", "2088000000000000"),
    ("unionpay", "mer_id", "777290058110097", "777290058110098")])
def test_a_bill_of_another_account_is_refused(channel: str, field: str, own: str, other: str, tmp_path: Path) -> None:
    account = _account(channel, field, own)
    mine = bills.ReadBill(channel=channel, sha1="", size=0, content_gz=b"", rows=1, first_day=None,
                          normalised=tmp_path / "n.csv", merchant_no=own)
    bills.check_account(account, mine)
    bills.check_account(account, bills.ReadBill(**{**mine.__dict__, "merchant_no": None}))  # names none
    for wrong in (other, SEVERAL):
        with pytest.raises(BillAccountMismatch) as refused:
            bills.check_account(account, bills.ReadBill(**{**mine.__dict__, "merchant_no": wrong}))
        assert refused.value.code == "bill_account_mismatch" and refused.value.http_status == 422
