"""The gateway side of the acp 5.1.0 wire format: read a request form, check it the way the real gateway
does, and write signed answers.

Checks run in a fixed order and stop at the first failure, each with the gateway's ``respCode``: the
form must parse (10); ``txnType``/``txnSubType`` must be present (13) and name a transaction this endpoint
serves (10); every required field must be present and non-empty (13); constants (``version`` 5.1.0,
``encoding`` UTF-8, ``signMethod`` 01, ``accessType`` 0, the transaction's ``bizType``/``channelType``,
``currencyCode`` 156, ``fileType`` 00) and formats (15-digit ``merId``, 8–40 alphanumeric ``orderId``,
``txnTime``, ``txnAmt`` in fen without leading zero, http(s) URLs, ``settleDate`` a real ``MMdd``) must
hold (10). The file download (76) names no order: it is the one transaction without ``orderId``. The
merchant (31) and the signature (11) are checked by the caller, which knows the merchants.

Every answer is signed with the gateway's current key: the fields, ``signPubKeyCert`` (the PEM of the
signing certificate) and ``signature`` over all the others. ``respMsg`` is the Chinese text followed by a
seven-digit code in brackets, as the real gateway writes it; the digits are the sandbox's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlsplit

from indiepay.channels.unionpay import signing
from indiepay.core.clock import BUSINESS_TZ
from indiepay.sandbox.unionpay.certs import Signer

OK, FAILED, PROCESSING = "00", "01", "05"
FORMAT, SIGNATURE, DUPLICATE, MISSING = "10", "11", "12", "13"
MERCHANT, AMOUNT_LIMIT, NOT_FOUND, ORIGINAL_INVALID = "31", "33", "34", "35"
FILE_NOT_FOUND = "98"
RESP_TEXT = {
    OK: "成功", FAILED: "交易失败", PROCESSING: "交易已受理，请稍后查询交易结果", FORMAT: "报文格式错误",
    SIGNATURE: "验证签名失败", DUPLICATE: "重复交易", MISSING: "报文交易要素缺失", MERCHANT: "商户状态不正确",
    AMOUNT_LIMIT: "交易金额超限", NOT_FOUND: "查无此交易", ORIGINAL_INVALID: "原交易不存在或状态不正确",
    FILE_NOT_FOUND: "文件不存在",
}

BACK, FRONT, QUERY, FILE = "back", "front", "query", "file"
CURRENCY = "156"
COMMON_REQUIRED = ("version", "encoding", "signMethod", "certId", "signature", "txnType", "txnSubType", "bizType",
                   "accessType", "merId", "orderId", "txnTime")
_ECHOED = ("txnType", "txnSubType", "bizType", "accessType", "merId", "orderId", "txnTime")
_SAFE = re.compile(r"[0-9A-Za-z]{1,40}")
_MER_ID = re.compile(r"\d{15}")
_ORDER_ID = re.compile(r"[0-9A-Za-z]{8,40}")
_TIME = re.compile(r"\d{14}")
_AMOUNT = re.compile(r"[1-9]\d{0,11}")
_QUERY_ID = re.compile(r"[0-9A-Za-z]{1,64}")
_CERT_ID = re.compile(r"\d{1,64}")
_MMDD = re.compile(r"\d{4}")


@dataclass(frozen=True)
class TxnSpec:
    """One transaction type: which endpoint serves it and which fields it needs."""

    name: str
    endpoint: str
    biz_types: frozenset[str]
    channel_types: frozenset[str] | None  # None: channelType not required
    required: tuple[str, ...]
    names_order: bool = True  # False: no orderId (the file download)


SPECS: dict[tuple[str, str], TxnSpec] = {
    ("01", "07"): TxnSpec("qr", BACK, frozenset({"000000"}), frozenset({"08"}),
                          ("channelType", "txnAmt", "currencyCode", "backUrl")),
    ("01", "01"): TxnSpec("front", FRONT, frozenset({"000201"}), frozenset({"07", "08"}),
                          ("channelType", "txnAmt", "currencyCode", "frontUrl", "backUrl")),
    ("04", "00"): TxnSpec("refund", BACK, frozenset({"000201", "000000"}), frozenset({"07", "08"}),
                          ("channelType", "origQryId", "txnAmt", "backUrl")),
    ("00", "00"): TxnSpec("query", QUERY, frozenset({"000000"}), None, ()),
    ("76", "01"): TxnSpec("file", FILE, frozenset({"000000"}), None, ("fileType", "settleDate"), names_order=False),
}


class GatewayError(Exception):
    """A request the gateway refuses: answered with ``resp_code`` (``detail`` is for the sandbox's log)."""

    def __init__(self, resp_code: str, detail: str = "") -> None:
        super().__init__(f"{resp_code} {RESP_TEXT.get(resp_code, '')} {detail}".strip())
        self.resp_code = resp_code
        self.detail = detail


def resp_msg(code: str) -> str:
    """``成功[0000000]``: UnionPay's text and a seven-digit code."""
    return f"{RESP_TEXT[code]}[{int(code):07d}]"


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """A URL-encoded UTF-8 form; raises GatewayError(10) when it is not one (or names a field twice)."""
    if content_type and not content_type.lower().startswith("application/x-www-form-urlencoded"):
        raise GatewayError(FORMAT, f"content type {content_type!r}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True,
                          encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise GatewayError(FORMAT, f"not a form: {exc}") from None
    fields = dict(pairs)
    if not fields or len(fields) != len(pairs):
        raise GatewayError(FORMAT, "empty form or a field given twice")
    return fields


def parse_beijing(text: str) -> datetime | None:
    """``yyyyMMddHHmmss`` Beijing wall time as an aware UTC instant (None when not a real time)."""
    if not _TIME.fullmatch(text):
        return None
    try:
        naive = datetime.strptime(text, "%Y%m%d%H%M%S")  # noqa: DTZ007 - the zone is attached below
    except ValueError:
        return None
    return naive.replace(tzinfo=BUSINESS_TZ).astimezone(UTC)


def beijing(at: datetime, pattern: str) -> str:
    return at.astimezone(BUSINESS_TZ).strftime(pattern)


def month_day(text: str) -> tuple[int, int] | None:
    """``settleDate`` (``MMdd``) as (month, day) when it names a real calendar day (29 Feb included)."""
    if not _MMDD.fullmatch(text):
        return None
    month, day = int(text[:2]), int(text[2:])
    try:
        date(2000, month, day)  # a leap year: every MMdd that ever exists
    except ValueError:
        return None
    return month, day


def _url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(value) <= 512


def check_request(fields: Mapping[str, str], endpoint: str) -> TxnSpec:
    """Run the format checks for a request that arrived at ``endpoint``; return its transaction spec.

    Raises:
        GatewayError: 13 for a missing field, 10 for a bad value or a transaction this endpoint does not serve.
    """
    def present(name: str) -> bool:
        return bool(fields.get(name))

    for name in ("txnType", "txnSubType"):
        if not present(name):
            raise GatewayError(MISSING, name)
    spec = SPECS.get((fields["txnType"], fields["txnSubType"]))
    if spec is None or spec.endpoint != endpoint:
        raise GatewayError(FORMAT, f"txnType {fields['txnType']} / txnSubType {fields['txnSubType']} at {endpoint}")
    common = COMMON_REQUIRED if spec.names_order else tuple(n for n in COMMON_REQUIRED if n != "orderId")
    for name in (*common, *spec.required):
        if not present(name):
            raise GatewayError(MISSING, name)
    constants: list[tuple[str, bool]] = [
        ("version", fields["version"] == signing.VERSION),
        ("encoding", fields["encoding"].upper() in ("UTF-8", "UTF8")),
        ("signMethod", fields["signMethod"] == signing.SIGN_METHOD_RSA),
        ("accessType", fields["accessType"] == "0"),
        ("bizType", fields["bizType"] in spec.biz_types),
        ("channelType", spec.channel_types is None or fields.get("channelType") in spec.channel_types),
        ("currencyCode", fields.get("currencyCode", CURRENCY) == CURRENCY),
        ("merId", bool(_MER_ID.fullmatch(fields["merId"]))),
        ("orderId", not spec.names_order or bool(_ORDER_ID.fullmatch(fields["orderId"]))),
        ("txnTime", parse_beijing(fields["txnTime"]) is not None),
        ("certId", bool(_CERT_ID.fullmatch(fields["certId"]))),
        ("txnAmt", "txnAmt" not in spec.required or bool(_AMOUNT.fullmatch(fields["txnAmt"]))),
        ("backUrl", "backUrl" not in spec.required or _url(fields["backUrl"])),
        ("frontUrl", "frontUrl" not in spec.required or _url(fields["frontUrl"])),
        ("origQryId", "origQryId" not in spec.required or bool(_QUERY_ID.fullmatch(fields["origQryId"]))),
        ("fileType", "fileType" not in spec.required or fields["fileType"] == "00"),
        ("settleDate", "settleDate" not in spec.required or month_day(fields["settleDate"]) is not None),
        ("payTimeout", not present("payTimeout") or parse_beijing(fields["payTimeout"]) is not None),
        ("orderDesc", len(fields.get("orderDesc", "")) <= 256),
        ("reqReserved", len(fields.get("reqReserved", "")) <= 1024),
    ]
    for name, ok in constants:
        if not ok:
            raise GatewayError(FORMAT, f"{name}={fields.get(name, '')[:64]!r}")
    return spec


def answer_fields(request: Mapping[str, str], resp_code: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An answer's fields (unsigned): the protocol constants, the request's identifying fields echoed when
    they are plain tokens (a malformed value is not repeated into an unencoded body), the code and
    message, then ``extra``."""
    fields = {"version": signing.VERSION, "encoding": "UTF-8", "signMethod": signing.SIGN_METHOD_RSA}
    for name in _ECHOED:
        value = request.get(name, "")
        if _SAFE.fullmatch(value):
            fields[name] = value
    fields.update(respCode=resp_code, respMsg=resp_msg(resp_code))
    fields.update(extra or {})
    return fields


def sign_fields(fields: Mapping[str, str], signer: Signer) -> dict[str, str]:
    """``fields`` plus ``signPubKeyCert`` and the ``signature`` over everything else."""
    signed = {k: v for k, v in fields.items() if k not in ("signature", "signPubKeyCert")}
    signed["signPubKeyCert"] = signer.cert_pem
    signed["signature"] = signing.sign(signer.key, signed)
    return signed


def answer_body(fields: Mapping[str, str], signer: Signer) -> str:
    """The body of a synchronous answer: the signed fields as ``k=v&…`` without URL encoding."""
    return signing.encode_response(sign_fields(fields, signer))
