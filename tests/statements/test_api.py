"""GET /v1/statements/{month} and /tax_summary over real HTTP: live keys read their own, the admin names
the merchant, test keys are refused, bad months get stable codes, downloads carry the right headers."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from openpyxl import load_workbook

from indiepay.core.clock import BUSINESS_TZ
from indiepay.ledger import postings as p
from indiepay.ledger import service as ledger
from indiepay.statements.period import parse_month
from indiepay.statements.service import body_sha256
from tests.support.platform import PlatformUnderTest


def months(now: datetime) -> tuple[str, str, str]:
    """(previous, current, next) Beijing months."""
    current = parse_month(now.astimezone(BUSINESS_TZ).strftime("%Y-%m"))
    previous = (current.start - timedelta(seconds=1)).astimezone(BUSINESS_TZ).strftime("%Y-%m")
    following = (current.end + timedelta(seconds=1)).astimezone(BUSINESS_TZ).strftime("%Y-%m")
    return previous, current.label, following


def just_now(now: datetime) -> datetime:
    """A second ago, but never before the current Beijing month started."""
    return max(now - timedelta(seconds=1), parse_month(now.astimezone(BUSINESS_TZ).strftime("%Y-%m")).start)


def post_payment(platform: PlatformUnderTest, merchant_id: str, key: str, amount: int, at: datetime) -> None:
    plan = p.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=merchant_id, amount=amount,
                               channel_fee=amount * 6 // 1000, platform_fee=amount * 4 // 1000)
    with platform.runtime.ctx.db.transaction() as session:
        ledger.post(session, platform.clock, event_key=key, plan=plan, occurred_at=at)


def test_statements_api(platform: PlatformUnderTest) -> None:
    merchant, stranger = platform.merchant("Tea Shop"), platform.merchant("Stranger")
    now = platform.clock.now()
    previous, current, following = months(now)
    post_payment(platform, merchant.id, "payment_succeeded:pay_now", 10_000, just_now(now))
    # two months back: surely final (the previous month stays a draft on the 1st, see FINALISE_AFTER)
    earlier = (parse_month(previous).start - timedelta(seconds=1)).astimezone(BUSINESS_TZ).strftime("%Y-%m")
    post_payment(platform, merchant.id, "payment_succeeded:pay_prev", 2_000,
                 parse_month(earlier).start + timedelta(days=1))

    mine = merchant.live.get(f"/v1/statements/{current}")
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["status"] == "draft" and body["month"] == current and body["merchant_id"] == merchant.id
    assert body["body"]["summary"]["gross"] == 10_000 and body["body_sha256"] == body_sha256(body["body"])
    final = merchant.live.get(f"/v1/statements/{earlier}").json()
    assert final["status"] == "final" and final["body"]["summary"]["gross"] == 2_000
    assert merchant.live.get(f"/v1/statements/{earlier}").json() == final

    refused = merchant.api.get(f"/v1/statements/{current}")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "livemode_required"
    assert stranger.live.get(f"/v1/statements/{current}").json()["body"]["summary"]["gross"] == 0
    other = stranger.live.get(f"/v1/statements/{current}", params={"merchant_id": merchant.id})
    assert other.status_code == 404 and other.json()["error"]["code"] == "merchant_not_found"

    admin = platform.admin.get(f"/v1/statements/{current}")
    assert admin.status_code == 400 and admin.json()["error"]["code"] == "merchant_id_required"
    by_admin = platform.admin.get(f"/v1/statements/{current}", params={"merchant_id": merchant.id})
    assert by_admin.status_code == 200 and by_admin.json()["id"] == body["id"]
    nobody = platform.admin.get(f"/v1/statements/{current}", params={"merchant_id": "mch_nobody"})
    assert nobody.status_code == 404 and nobody.json()["error"]["code"] == "merchant_not_found"

    for month, status, code in (("2026-13", 400, "invalid_month"), ("abc", 400, "invalid_month"),
                                (following, 422, "month_in_future")):
        bad = merchant.live.get(f"/v1/statements/{month}")
        assert (bad.status_code, bad.json()["error"]["code"]) == (status, code), month
        bad_tax = merchant.live.get(f"/v1/statements/{month}/tax_summary")
        assert (bad_tax.status_code, bad_tax.json()["error"]["code"]) == (status, code), month
    wrong_format = merchant.live.get(f"/v1/statements/{current}", params={"format": "pdf"})
    assert wrong_format.status_code == 400 and wrong_format.json()["error"]["code"] == "invalid_format"
    wrong_currency = merchant.live.get(f"/v1/statements/{current}", params={"currency": "USD"})
    assert wrong_currency.status_code == 400 and wrong_currency.json()["error"]["code"] == "invalid_currency"


def test_statement_downloads_and_tax_summary(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea Shop")
    now = platform.clock.now()
    _, current, _ = months(now)
    post_payment(platform, merchant.id, "payment_succeeded:pay_now", 10_600, just_now(now))

    as_csv = merchant.live.get(f"/v1/statements/{current}", params={"format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"] == (
        f'attachment; filename="statement-{merchant.id}-{current}-CNY.csv"')
    assert as_csv.content.startswith(b"\xef\xbb\xbf") and b"106.00,10600" in as_csv.content

    as_xlsx = merchant.live.get(f"/v1/statements/{current}", params={"format": "xlsx"})
    assert as_xlsx.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert as_xlsx.headers["content-disposition"].endswith(f'-{current}-CNY.xlsx"')
    assert load_workbook(io.BytesIO(as_xlsx.content)).sheetnames[0] == "汇总 Summary"

    tax = merchant.live.get(f"/v1/statements/{current}/tax_summary")
    assert tax.status_code == 200, tax.text
    summary = tax.json()
    assert summary["object"] == "tax_summary" and summary["taxable_sales"] == 10_600
    assert summary["platform_fee_vat"] == {"total_incl_vat": 42, "vat": 2, "excl_vat": 40}  # 42 × 6/106 = 2.38
    tax_csv = merchant.live.get(f"/v1/statements/{current}/tax_summary", params={"format": "csv"})
    assert tax_csv.headers["content-disposition"] == (
        f'attachment; filename="tax-summary-{merchant.id}-{current}-CNY.csv"')
    tax_xlsx = merchant.live.get(f"/v1/statements/{current}/tax_summary", params={"format": "xlsx"})
    assert load_workbook(io.BytesIO(tax_xlsx.content)).sheetnames == ["税务汇总 Tax summary"]
    assert merchant.api.get(f"/v1/statements/{current}/tax_summary").json()["error"]["code"] == "livemode_required"
