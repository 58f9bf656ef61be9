"""Alipay bill zip: GBK detail + summary CSVs, ``#`` lines, trailing tabs, negative refunds, malformed zips."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest

from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.parsers.alipay import AlipayBillArchive, parse_alipay_bill_zip, read_alipay_bill_zip
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from tests.reconciliation.factories import SH, alipay_row, rewrite_zip_entry

DETAIL = (
    "#支付宝业务明细查询\n"
    "#账号：[20880211096256330156]\n"
    "#起始日期：[2024年05月01日 00:00:00]   终止日期：[2024年05月02日 00:00:00]\n"
    "#-----------------------------------------业务明细列表----------------------------------------\n"
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
    "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,"
    "商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n"
    "2024050122001458860515315453\t,shop_20240501_0001\t,交易\t,手冲咖啡豆 250g,2024-05-01 10:55:16,"
    "2024-05-01 10:55:23,\t,\t,\t,\t,*津水(602***@qq.com)\t,35.80,35.80,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,"
    "\t,-0.21,0.00,\n"
    "2024050122001458860515315453\t,shop_20240501_0001\t,退款\t,手冲咖啡豆 250g,2024-05-01 10:55:16,"
    "2024-05-01 11:20:00,\t,\t,\t,\t,*津水(602***@qq.com)\t,-10.00,-10.00,0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,"
    "re_20240501_0001\t,0.06,0.00,部分退款\n"
    "2024050122001465870515233238\t,shop_20240501_0002\t,交易\t,挂耳咖啡 10 包,2024-05-01 16:58:56,"
    "2024-05-01 16:58:58,store_01\t,静安店\t,alipay\t,\t,*庚辰(182****01)\t,1.00,0.90,0.00,0.00,0.00,0.10,0.00,,"
    "0.00\t,0.00,\t,0.00,0.00,\n"
    "#-----------------------------------------业务明细列表结束------------------------------------\n"
    "#交易合计：2笔，商家实收共36.70元，商家优惠共0.10元\n"
    "#退款合计：1笔，商家实收退款共-10.00元，商家优惠退款共0.00元\n"
    "#导出时间：[2024年05月02日 05:46:49]\n"
)
SUMMARY = (
    "#支付宝业务汇总查询\n#账号：[20880211096256330156]\n"
    "#-----------------------------------------业务汇总列表----------------------------------------\n"
    "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,"
    "卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\n"
    "\t,\t,1,1,25.80,25.80,0.00,0.00,0.00,-0.15,0.00,25.65\n"
    "store_01\t,静安店\t,1,0,1.00,0.90,0.00,0.10,0.00,0.00,0.00,0.90\n"
    "合计,,2,1,26.80,26.70,0.00,0.10,0.00,-0.15,0.00,26.55\n"
    "#----------------------------------------业务汇总列表结束-------------------------------------\n"
    "#导出时间：[2024年05月02日 05:46:49]\n"
)
STEM = "20880211096256330156_20240501_业务明细"


def zip_of(detail: bytes | None, summary: bytes | None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if detail is not None:
            archive.writestr(f"{STEM}.csv", detail)
        if summary is not None:
            archive.writestr(f"{STEM}(汇总).csv", summary)
    return out.getvalue()


def bill(detail: str = DETAIL, summary: str = SUMMARY) -> bytes:
    return zip_of(detail.encode("gbk"), summary.encode("gbk"))


def code_of(data: bytes) -> str:
    with pytest.raises(BillError) as info:
        read_alipay_bill_zip(data)
    assert info.value.http_status == 422
    return info.value.code


def test_a_bill_zip_parses_to_typed_rows_checked_against_footer_and_summary() -> None:
    rows, footer, summary = read_alipay_bill_zip(bill())
    assert [(r.kind, r.order_amount_fen, r.receipt_fen) for r in rows] == [
        ("payment", 3580, 3580), ("refund", -1000, -1000), ("payment", 100, 90)]
    payment, refund, third = rows
    assert payment.trade_no == "2024050122001458860515315453" and payment.out_trade_no == "shop_20240501_0001"
    assert payment.business_type == "交易" and payment.product == "手冲咖啡豆 250g"
    assert payment.created_at == datetime(2024, 5, 1, 10, 55, 16, tzinfo=SH)
    assert payment.counterparty == "*津水(602***@qq.com)" and payment.store_id == ""
    assert (payment.service_fee, payment.service_fee_fen) == (Decimal("-0.21"), -21)
    assert (refund.refund_request_no, refund.note, refund.event_time) == (
        "re_20240501_0001", "部分退款", datetime(2024, 5, 1, 11, 20, tzinfo=SH))
    assert (third.store_id, third.store_name, third.operator, third.merchant_discount_fen) == (
        "store_01", "静安店", "alipay", 10)
    assert (footer.trade_count, footer.trade_receipt_fen, footer.trade_merchant_discount_fen) == (2, 3670, 10)
    assert (footer.refund_count, footer.refund_receipt_fen) == (1, -1000)
    assert summary.account == "20880211096256330156" and len(summary.stores) == 2
    assert (summary.total.trade_count, summary.total.refund_count, summary.total.order_amount_fen) == (2, 1, 2680)


def test_rows_stream_before_the_checks() -> None:
    archive = AlipayBillArchive(bill())
    assert archive.summary.total.receipt_fen == 2670 and archive.reader.account == "20880211096256330156"
    rows = iter(archive)
    assert next(rows).out_trade_no == "shop_20240501_0001" and archive.footer is None
    assert len(list(rows)) == 2 and archive.footer is not None


def test_writer_round_trip_with_chinese_text_refunds_and_stores() -> None:
    rows = [alipay_row(1, product="咖啡, \"限定\"款", note="备注，中文"),
            alipay_row(1, refund=True, order_amount_fen=-500, receipt_fen=-500, service_fee=Decimal("0.03")),
            alipay_row(2, store_id="store_01", store_name="静安店", merchant_discount_fen=10, receipt_fen=1_980),
            alipay_row(3, finished_at=None, service_fee=Decimal("0.00"))]
    data = render_alipay_bill_zip(rows, pid="2088021109625633", bill_date=date(2024, 5, 1))
    archive = zipfile.ZipFile(io.BytesIO(data), metadata_encoding="gbk")
    names = archive.infolist()
    assert [(i.filename, i.flag_bits & 0x800) for i in names] == [
        ("20880211096256330156_20240501_业务明细.csv", 0), ("20880211096256330156_20240501_业务明细(汇总).csv", 0)]
    detail = archive.read(names[0]).decode("gbk")
    assert "2024050122001000000000000001\t,order_1\t,交易\t," in detail and "\n#交易合计：3笔，" in detail
    parsed, footer, summary = read_alipay_bill_zip(data)
    assert parsed == rows
    assert (footer.trade_count, footer.refund_count, footer.refund_receipt_fen) == (3, 1, -500)
    assert [s.store_id for s in summary.stores] == ["", "store_01"] and summary.total.trade_count == 3


# malformed -------------------------------------------------------------------------------------------------

def test_truncated_or_corrupt_zips_are_archive_errors() -> None:
    data = bill()
    assert code_of(data[: len(data) // 2]) == "bill_archive_invalid"
    assert code_of(data[:-10]) == "bill_archive_invalid"
    assert code_of(b"this is not a zip") == "bill_archive_invalid"
    assert code_of(zip_of(DETAIL.encode("gbk"), None)) == "bill_archive_invalid"  # no summary entry
    assert code_of(zip_of(None, SUMMARY.encode("gbk"))) == "bill_archive_invalid"  # no detail entry
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{STEM}.csv", DETAIL.encode("gbk"))
        archive.writestr(f"{STEM}(汇总).csv", SUMMARY.encode("gbk"))
    raw = stored.getvalue()
    stamp = "[2024年05月02日 05:46:49]".encode("gbk")
    corrupted = raw.replace(stamp, stamp.replace(b"49", b"48"), 1)  # same length, bad CRC-32
    assert corrupted != raw
    assert code_of(corrupted) == "bill_archive_invalid"


def test_non_gbk_bytes_are_encoding_errors() -> None:
    broken = DETAIL.encode("gbk").replace("部分退款".encode("gbk"), b"\xff\xfe\xff")
    assert code_of(zip_of(broken, SUMMARY.encode("gbk"))) == "bill_encoding_invalid"
    assert code_of(zip_of(DETAIL.encode("gbk"), SUMMARY.encode("gbk") + b"\x81")) == "bill_encoding_invalid"


def test_changed_amounts_disagree_with_footer_or_summary() -> None:
    # a row's amount changed: the footer (and summary) no longer agree
    assert code_of(bill(DETAIL.replace(",1.00,0.90,", ",1.00,0.80,", 1))) == "bill_totals_mismatch"
    # the footer changed
    assert code_of(bill(DETAIL.replace("商家实收共36.70元", "商家实收共36.71元"))) == "bill_totals_mismatch"
    assert code_of(bill(DETAIL.replace("#退款合计：1笔", "#退款合计：2笔"))) == "bill_totals_mismatch"
    # the summary's 合计 (and so its store rows no longer add up)
    assert code_of(bill(summary=SUMMARY.replace("合计,,2,1,26.80", "合计,,2,1,26.81"))) == "bill_totals_mismatch"
    # summary consistent in itself but not with the detail rows
    shifted = SUMMARY.replace("1,1,25.80,25.80", "1,1,25.81,25.80").replace("合计,,2,1,26.80", "合计,,2,1,26.81")
    with pytest.raises(BillError) as info:
        read_alipay_bill_zip(bill(summary=shifted))
    assert info.value.code == "bill_totals_mismatch"
    assert info.value.details["mismatches"][0]["field"] == "合计 订单金额(元)"


def test_malformed_detail_files() -> None:
    end = DETAIL.index("#-----------------------------------------业务明细列表结束")
    assert code_of(bill(DETAIL[:end])) == "bill_malformed"  # truncated: no footer
    assert code_of(bill(DETAIL.replace(",35.80,35.80,", ",35.805,35.80,", 1))) == "bill_amount_invalid"
    assert code_of(bill(DETAIL.replace(",-0.21,0.00,\n", ",-0.21,\n", 1))) == "bill_malformed"  # column count
    assert code_of(bill(DETAIL.replace("退款\t,", "分账\t,", 1))) == "bill_malformed"  # unknown 业务类型
    assert code_of(bill(DETAIL + "2024050122001465870515233239\t,x\n")) == "bill_malformed"  # after footer
    assert code_of(bill(DETAIL.replace("支付宝交易号,", "交易号,", 1))) == "bill_malformed"  # not a detail header
    assert code_of(bill(DETAIL.replace("2024-05-01 16:58:56", "2024/05/01 16:58", 1))) == "bill_malformed"
    assert code_of(bill("")) == "bill_empty"
    assert code_of(bill("#支付宝业务明细查询\n#账号：[20880211096256330156]\n")) == "bill_empty"


def test_malformed_summary_files() -> None:
    assert code_of(bill(summary="")) == "bill_empty"
    no_total = "\n".join(line for line in SUMMARY.split("\n") if not line.startswith("合计"))
    assert code_of(bill(summary=no_total)) == "bill_malformed"
    assert code_of(bill(summary=SUMMARY.replace(",实收净额（元）", ""))) == "bill_malformed"


def test_parse_is_lazy_generator_and_writer_output_parses_with_rewritten_entries() -> None:
    data = render_alipay_bill_zip([alipay_row(1), alipay_row(2)], pid="2088021109625633", bill_date=date(2024, 5, 1))
    assert sum(1 for _ in parse_alipay_bill_zip(data)) == 2
    tampered = rewrite_zip_entry(data, "_业务明细.csv", lambda b: b.replace(b",19.90,19.90,", b",19.90,19.80,", 1))
    assert code_of(tampered) == "bill_totals_mismatch"


def test_a_store_id_starting_with_a_hash_is_a_row_not_a_comment() -> None:
    # found by the property test: summary comment lines never have the header's width, store rows always do
    rows = [alipay_row(1, store_id="#1", store_name="#静安店")]
    parsed, _, summary = read_alipay_bill_zip(
        render_alipay_bill_zip(rows, pid="2088021109625633", bill_date=date(2024, 5, 1)))
    assert parsed == rows and [s.store_id for s in summary.stores] == ["#1"]
