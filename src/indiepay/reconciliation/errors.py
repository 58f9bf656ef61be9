"""Errors raised while reading a channel's bill file.

A bill is evidence: if any part of it cannot be read exactly, or its detail rows disagree with the
totals the channel printed in the same file, reconciliation must stop instead of guessing. Every error
here is a 422 (the file, not the request, is at fault) with a stable ``code`` that the worker, the
upload endpoint and the CLI report unchanged; ``details`` carries the line number and offending value.
"""

from __future__ import annotations

from indiepay.core.errors import Unprocessable


class BillError(Unprocessable):
    """Root of every bill-file error."""

    code = "bill_invalid"


class BillFormatError(BillError):
    """The file is not laid out as the channel lays it out: unknown or duplicated header, wrong column
    count, missing or misplaced summary section, unreadable date, unexpected row kind."""

    code = "bill_malformed"


class BillEmpty(BillFormatError):
    """The file (or a required entry of the archive) holds no bill at all."""

    code = "bill_empty"


class BillAmountError(BillFormatError):
    """An amount is not a plain decimal number, or a trade/refund amount is not a whole number of fen."""

    code = "bill_amount_invalid"


class BillEncodingError(BillFormatError):
    """The bytes are not valid in the file's encoding (UTF-8 for WeChat Pay, GBK for Alipay)."""

    code = "bill_encoding_invalid"


class BillArchiveError(BillFormatError):
    """The compressed file is truncated or corrupt — a gzip-compressed WeChat Pay bill, an Alipay or UnionPay
    zip — or the zip lacks its detail or summary entry. Fetched from a channel, such a file is rejected and
    alerted as a download that failed its hash check (:mod:`.tasks`): a second download is usually good."""

    code = "bill_archive_invalid"


class BillTotalsMismatch(BillError):
    """The detail rows do not add up to the totals printed in the same bill (count, amounts, fees)."""

    code = "bill_totals_mismatch"


class BillAccountMismatch(BillError):
    """The bill names another merchant account than the one it is reconciled for (WeChat Pay's 商户号,
    Alipay's partner id, UnionPay's merId): reconciled, it would report every order as missing."""

    code = "bill_account_mismatch"
