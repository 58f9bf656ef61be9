"""A control character in a merchant's text — a payment description, a merchant's name — is stored as sent
(the NUL guard refuses only NUL), but XML 1.0 cannot hold it: the workbooks used to fail with a server error
(openpyxl's ``IllegalCharacterError``). Every workbook now carries it in OOXML's escape, as Excel writes it,
and the CSV as it is."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.statements.test_api import months, post_payment
from tests.statements.test_transactions_api import span
from tests.statements.test_xlsx_writer import as_excel_reads
from tests.support.platform import PlatformUnderTest

BELL = "Oolong\x07 \x1b[31mred\x1b[0m"


def test_a_control_character_in_a_description_is_shown_not_a_server_error(platform: PlatformUnderTest) -> None:
    tea = platform.merchant("Tea")
    tea.sandbox_account("wechatpay")
    payment = tea.create_payment("wechat_native", amount=880, description=BELL).json()
    tea.pay(payment)
    tea.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    today, since = span()
    workbook = tea.api.get("/v1/exports/transactions", params={"from": since, "to": today, "format": "xlsx"})
    assert workbook.status_code == 200, workbook.text
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    assert as_excel_reads([cell.value for cell in sheet[2]][-1]) == BELL
    as_csv = tea.api.get("/v1/exports/transactions", params={"from": since, "to": today})
    assert BELL in as_csv.content.decode("utf-8-sig")


def test_a_control_character_in_a_merchant_name_does_not_break_its_statement(platform: PlatformUnderTest) -> None:
    created = platform.admin.post("/v1/merchants", json={"name": "Tea\x07 Ltd.", "short_name": "Tea\x1b",
                                                         "subject_type": "enterprise"})
    assert created.status_code == 201, created.text
    live = created.json()["api_keys"]["live"]
    _, current, _ = months(platform.clock.now())
    post_payment(platform, created.json()["id"], "payment_succeeded:pay_bell", 10_000, platform.clock.now())
    for path in (f"/v1/statements/{current}", f"/v1/statements/{current}/tax_summary"):
        answer = platform.admin.get(path, params={"format": "xlsx", "merchant_id": created.json()["id"]})
        assert answer.status_code == 200, (path, answer.text)
        texts = [as_excel_reads(cell.value) for sheet in load_workbook(io.BytesIO(answer.content)).worksheets
                 for row in sheet.iter_rows() for cell in row if isinstance(cell.value, str)]
        assert any("Tea\x07 Ltd." in str(text) for text in texts), texts[:10]
    assert live.startswith("sk_live_")
