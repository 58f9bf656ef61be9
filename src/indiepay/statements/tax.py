"""The accountant's tax summary of a month, derived from the stored statement (pure; no database).

Rules (also carried in every summary as ``rule``):

* **Taxable sales** = gross volume − refunds, per collection mode (what the merchant sold in the month).
* **Fees paid to channels** = channel fees net of the shares refunds returned. WeChat Pay / Alipay invoice
  these themselves (in platform collection the platform passes them on at cost), so they are not split.
* **Fees paid to the platform** = the platform service fee (platform collection) + the technology fee
  (independent collection) + platform fees charged on their own, each net of refunds. They are
  VAT-inclusive at 6 % (modern services): ``VAT = round_half_up(total × 6 / 106)`` to the fen, computed
  **once on the month's total** (the platform invoices the month as one amount, so per-payment rounding
  would not add up to the invoice), and ``amount excluding VAT = total − VAT``. Rounding is half away from
  zero, so a month whose fee refunds exceed its fees (a negative total) splits symmetrically.

Because the summary is a function of the statement body, a final statement always yields the same summary.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from indiepay.statements.schemas import PlatformFeeVat, StatementBody, TaxModeLine, TaxSummary

VAT_RATE = Decimal("0.06")
RULE = ("Taxable sales = gross volume − refunds, per collection mode. Fees paid to the platform (service fee, "
        "technology fee and fees charged on their own, net of refunds) are VAT-inclusive at 6%: "
        "VAT = round_half_up(total × 6 / 106) to the fen, once on the month's total; "
        "amount excluding VAT = total − VAT. Channel fees are invoiced by the channels and not split.")


def vat_included(total: int) -> int:
    """The VAT inside a VAT-inclusive ``total`` (fen) at 6 %: ``round_half_up(total × 6 / 106)``."""
    with localcontext() as context:
        context.prec = 60  # exact for any int64 amount; the quotient is then rounded once, to the fen
        share = Decimal(total) * Decimal(6) / Decimal(106)
        return int(share.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tax_summary(body: dict[str, Any], *, status: str, statement_sha256: str) -> dict[str, Any]:
    """The tax summary (as JSON-ready data) of a statement ``body`` whose hash is ``statement_sha256``."""
    statement = StatementBody.model_validate(body)
    by_mode = [TaxModeLine(mode=mode.mode, gross=mode.gross, refunds=mode.refunds,
                           taxable_sales=mode.gross - mode.refunds, fees_to_channels=mode.channel_fee,
                           fees_to_platform=mode.platform_fee)
               for mode in statement.by_mode]
    other = statement.summary.other_fees
    to_platform = sum(line.fees_to_platform for line in by_mode) + other
    vat = vat_included(to_platform)
    summary = TaxSummary(
        merchant_id=statement.merchant_id, merchant_name=statement.merchant_name, month=statement.month,
        currency=statement.currency, status="final" if status == "final" else "draft",
        statement_sha256=statement_sha256, vat_rate=str(VAT_RATE), rule=RULE, by_mode=by_mode,
        taxable_sales=sum(line.taxable_sales for line in by_mode),
        fees_to_channels=sum(line.fees_to_channels for line in by_mode),
        fees_to_platform=to_platform, other_platform_fees=other,
        platform_fee_vat=PlatformFeeVat(total_incl_vat=to_platform, vat=vat, excl_vat=to_platform - vat))
    return summary.model_dump(mode="json")
