"""Row builders and Hypothesis strategies for bill tests."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from indiepay.reconciliation.parsers.alipay import AlipayBillRow
from indiepay.reconciliation.parsers.wechat_fundflow import WechatFundFlowRow
from indiepay.reconciliation.parsers.wechat_trade import TradeBillLayout, WechatTradeRow

SH = ZoneInfo("Asia/Shanghai")
REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT.parent / "shared" / "samples"
WECHAT_SAMPLE = SAMPLES / "wechatpay_tradebill_ALL_wechatpay-php-fixture.csv"


def wechat_payment(i: int = 0, **overrides: Any) -> WechatTradeRow:
    values: dict[str, Any] = dict(
        trade_time=datetime(2024, 5, 1, 10, 0, tzinfo=SH) + timedelta(seconds=i), app_id="wx2421b1c4370ec43b",
        mch_id="1900000109", sub_mch_id=None, device=None, transaction_id=f"4200{i:024d}",
        out_trade_no=f"order_{i}", openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", trade_type="JSAPI",
        trade_state="SUCCESS", bank="OTHERS", currency="CNY", settlement_total_fen=1_990, coupon_fen=0,
        product="小铺·手冲咖啡豆 250g, 新鲜烘焙", attach="", fee=Decimal("0.11940"), rate="0.60%",
        refund_id=None, out_refund_no=None, refund_fen=0, recharge_coupon_refund_fen=0, refund_type=None,
        refund_status=None, order_total_fen=1_990, refund_requested_fen=0, rate_note=None,
    )
    values.update(overrides)
    return WechatTradeRow(**values)


def wechat_refund(i: int = 0, **overrides: Any) -> WechatTradeRow:
    values: dict[str, Any] = dict(
        trade_state="REFUND", settlement_total_fen=0, order_total_fen=0, refund_id=f"5030{i:025d}",
        out_refund_no=f"re_{i}", refund_fen=500, refund_requested_fen=500, refund_type="ORIGINAL",
        refund_status="SUCCESS", fee=Decimal("-0.03000"),
    )
    values.update(overrides)
    return wechat_payment(i, **values)


def wechat_rows(n: int) -> Iterator[WechatTradeRow]:
    """``n`` rows, every tenth a refund, generated lazily (for streaming tests)."""
    for i in range(n):
        if i % 10 == 9:
            yield wechat_refund(i, fee=Decimal("-0.00600"))
        else:
            amount = 100 + i % 5_000
            yield wechat_payment(i, settlement_total_fen=amount, order_total_fen=amount,
                                 fee=(Decimal(amount) * Decimal("0.00006")).quantize(Decimal("0.00001")))


def fund_row(i: int = 0, **overrides: Any) -> WechatFundFlowRow:
    values: dict[str, Any] = dict(
        booked_at=datetime(2024, 5, 1, 12, 0, tzinfo=SH) + timedelta(minutes=i), business_no=f"4200{i:024d}",
        flow_no=f"F{i:020d}", business_name="交易", business_type="交易", direction="收入", amount_fen=1_990,
        balance_fen=10_000 + i, applicant="1900000109API", note="", voucher_no="",
    )
    values.update(overrides)
    return WechatFundFlowRow(**values)


def alipay_row(i: int = 0, *, refund: bool = False, **overrides: Any) -> AlipayBillRow:
    sign = -1 if refund else 1
    values: dict[str, Any] = dict(
        trade_no=f"2024050122001{i:015d}", out_trade_no=f"order_{i}", business_type="退款" if refund else "交易",
        product="小铺·手冲咖啡豆", created_at=datetime(2024, 5, 1, 9, 0, tzinfo=SH) + timedelta(seconds=i),
        finished_at=datetime(2024, 5, 1, 9, 0, 5, tzinfo=SH) + timedelta(seconds=i),
        order_amount_fen=sign * 1_990, receipt_fen=sign * 1_990, service_fee=Decimal("0.12") * -sign,
        store_id="", store_name="", operator="", terminal_id="", counterparty="*津水(602***@qq.com)",
        voucher_name="", refund_request_no=f"re_{i}" if refund else "", note="",
        alipay_red_packet_fen=0, jifenbao_fen=0, alipay_discount_fen=0, merchant_discount_fen=0, voucher_fen=0,
        merchant_red_packet_fen=0, card_fen=0, profit_share_fen=0,
    )
    values.update(overrides)
    return AlipayBillRow(**values)


def rewrite_zip_entry(data: bytes, suffix: str, edit: Callable[[bytes], bytes]) -> bytes:
    """A copy of a bill zip with the entry ending in ``suffix`` passed through ``edit`` (names kept GBK)."""
    source = zipfile.ZipFile(io.BytesIO(data), metadata_encoding="gbk")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.endswith(suffix):
                content = edit(content)
            clone = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            clone.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(clone, content)
    return out.getvalue()


# Hypothesis strategies ------------------------------------------------------------------------------------

times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)).map(
    lambda t: t.replace(microsecond=0, tzinfo=SH))
fen = st.integers(min_value=0, max_value=10**10)
signed_fen = st.integers(min_value=-(10**10), max_value=10**10)
fees = st.integers(min_value=-(10**9), max_value=10**9).map(lambda n: Decimal(n).scaleb(-5))
any_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
ident = st.text("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-", min_size=1, max_size=32)
optional_ident = st.none() | ident.filter(lambda s: s != "0")


@st.composite
def wechat_trade_rows(draw: st.DrawFn, layout: TradeBillLayout) -> WechatTradeRow:
    """A row with exactly the fields ``layout`` carries (others ``None``), so it survives a round trip."""
    refund = layout is TradeBillLayout.REFUND or (layout is TradeBillLayout.ALL and draw(st.booleans()))
    has_refund_columns = layout is not TradeBillLayout.SUCCESS
    return WechatTradeRow(
        trade_time=draw(times), app_id=draw(ident), mch_id=draw(ident), sub_mch_id=draw(optional_ident),
        device=draw(optional_ident), transaction_id=draw(ident), out_trade_no=draw(ident), openid=draw(any_text),
        trade_type=draw(st.sampled_from(["JSAPI", "NATIVE", "APP", "MWEB"])),
        trade_state="REFUND" if refund else draw(st.sampled_from(["SUCCESS", "REVOKED"])),
        bank=draw(ident), currency="CNY", settlement_total_fen=draw(fen), coupon_fen=draw(fen),
        product=draw(any_text), attach=draw(any_text), fee=draw(fees), rate=draw(st.sampled_from(["0.60%", "0.38%"])),
        refund_requested_at=draw(times) if layout is TradeBillLayout.REFUND else None,
        refund_succeeded_at=draw(st.none() | times) if layout is TradeBillLayout.REFUND else None,
        refund_id=draw(optional_ident) if has_refund_columns else None,
        out_refund_no=draw(optional_ident) if has_refund_columns else None,
        refund_fen=draw(fen) if has_refund_columns else None,
        recharge_coupon_refund_fen=draw(fen) if has_refund_columns else None,
        refund_type=draw(st.none() | st.just("ORIGINAL")) if has_refund_columns else None,
        refund_status=draw(st.none() | st.sampled_from(["SUCCESS", "PROCESSING"])) if has_refund_columns else None,
        order_total_fen=draw(fen), refund_requested_fen=draw(fen) if has_refund_columns else None,
        rate_note=draw(st.none() | any_text.filter(bool)),
    )


fund_rows = st.builds(
    WechatFundFlowRow, booked_at=times, business_no=ident, flow_no=ident, business_name=any_text,
    business_type=any_text, direction=st.sampled_from(["收入", "支出"]), amount_fen=fen, balance_fen=signed_fen,
    applicant=any_text, note=any_text, voucher_no=any_text,
)

gbk_text = st.text(st.characters(codec="gbk", exclude_categories=["Cs", "Cc"]), max_size=10).filter(
    lambda s: s == s.strip())


@st.composite
def alipay_rows(draw: st.DrawFn) -> AlipayBillRow:
    refund = draw(st.booleans())
    amount = st.integers(min_value=-(10**9), max_value=10**9)
    return AlipayBillRow(
        trade_no=draw(st.text("0123456789", min_size=28, max_size=28)), out_trade_no=draw(ident),
        business_type="退款" if refund else "交易", product=draw(gbk_text), created_at=draw(times),
        finished_at=draw(st.none() | times), order_amount_fen=draw(amount), receipt_fen=draw(amount),
        service_fee=draw(st.integers(-(10**7), 10**7).map(lambda n: Decimal(n).scaleb(-2))),
        store_id=draw(gbk_text.filter(lambda s: s != "合计")), store_name=draw(gbk_text),
        operator=draw(gbk_text), terminal_id=draw(gbk_text), counterparty=draw(gbk_text),
        voucher_name=draw(gbk_text), refund_request_no=draw(ident) if refund else "", note=draw(gbk_text),
        alipay_red_packet_fen=draw(amount), jifenbao_fen=draw(amount), alipay_discount_fen=draw(amount),
        merchant_discount_fen=draw(amount), voucher_fen=draw(amount), merchant_red_packet_fen=draw(amount),
        card_fen=draw(amount), profit_share_fen=draw(amount),
    )
