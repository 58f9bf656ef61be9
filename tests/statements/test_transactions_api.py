"""``GET /v1/exports/transactions`` and the dashboard's export form over real loopback HTTP: sandbox payments
paid and refunded through the gateway come back as rows of the key's own merchant and mode, as a CSV
download (or a workbook), and every way of asking wrongly is a 4xx with its code."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from indiepay.core.clock import business_day
from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, paid_payment, signed_in


def span() -> tuple[str, str]:
    """Today and yesterday (Beijing): a test that crosses midnight still finds what it paid."""
    today = business_day(datetime.now(UTC))
    return today.isoformat(), (today - timedelta(days=1)).isoformat()


def table(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_the_keys_own_movements_come_back_as_a_csv(platform: PlatformUnderTest) -> None:
    tea, cake = platform.merchant("Tea"), platform.merchant("Cake")
    paid = paid_payment(tea, amount=12_345)
    refund = tea.api.post("/v1/refunds", json={"payment_id": paid["id"], "amount": 2_345})
    assert refund.status_code == 201, refund.text
    tea.wait_status(f"/v1/refunds/{refund.json()['id']}", "succeeded")
    tea.create_payment("wechat_native", amount=500)  # never paid: not a movement
    paid_payment(cake, amount=777)
    today, since = span()
    answer = tea.api.get("/v1/exports/transactions", params={"from": since, "to": today})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv") and answer.headers["cache-control"] == "no-store"
    assert f'transactions_{tea.id}_{since}_{today}_test.csv' in answer.headers["content-disposition"]
    rows = table(answer.content)
    assert [(row[1], row[3], row[9]) for row in rows[1:-1]] == [("payment", paid["out_trade_no"], "123.45"),
                                                                ("refund", paid["out_trade_no"], "-23.45")]
    assert rows[-1][:2] == ["合计 Total", "1 payment, 1 refund"] and rows[-1][9] == "100.00"
    assert table(tea.live.get("/v1/exports/transactions", params={"from": since, "to": today}).content)[1][0] \
        == "合计 Total"  # the live key: no live movements
    workbook = tea.api.get("/v1/exports/transactions", params={"from": since, "to": today, "format": "xlsx"})
    assert workbook.status_code == 200 and workbook.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None and sheet.max_row == 4


def test_asking_wrongly_is_a_4xx_with_its_code(platform: PlatformUnderTest) -> None:
    tea = platform.merchant("Tea")
    today = business_day(datetime.now(UTC))
    tomorrow = (today + timedelta(days=1)).isoformat()
    cases = [({"from": "2026-02-30", "to": today.isoformat()}, 400, "invalid_date"),
             ({"from": today.isoformat(), "to": tomorrow}, 400, "invalid_span"),
             ({"from": (today - timedelta(days=400)).isoformat(), "to": today.isoformat()}, 400, "invalid_span"),
             ({"from": today.isoformat(), "to": today.isoformat(), "format": "pdf"}, 400, "invalid_format"),
             ({"from": today.isoformat(), "to": today.isoformat(), "merchant_id": "mch_other"}, 404,
              "merchant_not_found"),
             ({"to": today.isoformat()}, 400, "missing_field")]
    for params, status, code in cases:
        answer = tea.api.get("/v1/exports/transactions", params=params)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (params, answer.text)
    admin = platform.admin.get("/v1/exports/transactions", params={"from": today.isoformat(),
                                                                    "to": today.isoformat()})
    assert admin.status_code == 400 and admin.json()["error"]["code"] == "merchant_id_required"
    named = platform.admin.get("/v1/exports/transactions", params={"from": today.isoformat(),
                                                                    "to": today.isoformat(), "merchant_id": tea.id})
    assert named.status_code == 200 and named.headers["content-disposition"].endswith('_live.csv"')


def test_the_payments_page_exports_the_same_rows(platform: PlatformUnderTest) -> None:
    tea = platform.merchant("Tea")
    paid = paid_payment(tea, amount=4_200)
    client = signed_in(platform, key_of(tea.api))
    page = client.get("/dashboard/payments").text
    assert 'id="export-form"' in page and csrf(page)
    today, since = span()
    download = client.get("/dashboard/exports/transactions", params={"from": since, "to": today})
    assert download.status_code == 200 and download.headers["x-frame-options"] == "DENY"
    assert [row[3] for row in table(download.content)[1:-1]] == [paid["out_trade_no"]]
    refused = client.get("/dashboard/exports/transactions", params={"from": today, "to": "nope"})
    assert refused.status_code == 400 and "invalid_date" in refused.text
