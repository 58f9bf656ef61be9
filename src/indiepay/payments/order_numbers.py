"""The numbers a channel knows a payment and a refund by (pure).

A merchant's ``out_trade_no`` / ``out_refund_no`` is unique among *its own* orders only. Collecting
independently, its orders go to its own channel account, so the channel may know them by the merchant's
numbers — which the merchant then also sees in its own WeChat Pay / Alipay merchant portal. Collecting
through the platform, every merchant's orders go to the platform's one shared account: two merchants'
``ORDER1`` would be one order there (the second merchant's buyer shown the first one's QR code, its callback
marking the wrong merchant's payment paid, a refund number of one merchant refused or — worse — answered
with another merchant's refund). There the channel knows each order by a number made from IndiePay's own
id, unique on the account; the merchant's numbers stay what the merchant sees and searches by.

The made numbers are the id without its underscore (``pay_3f9a…`` → ``pay3f9a…``: 27 characters of
``[0-9a-z]``), which every channel's rule accepts (WeChat Pay 6–32 of ``[0-9A-Za-z_|*-]``, Alipay up to 64,
UnionPay 8–32 alphanumeric).
"""

from __future__ import annotations

INDEPENDENT = "independent"


def _made_from(object_id: str) -> str:
    return object_id.replace("_", "")


def channel_out_trade_no(payment_id: str, collection_mode: str, out_trade_no: str) -> str:
    """The ``out_trade_no`` the channel is sent for a payment: the merchant's own on the merchant's own
    account, one made from the payment's id on the platform's shared account."""
    return out_trade_no if collection_mode == INDEPENDENT else _made_from(payment_id)


def channel_out_refund_no(refund_id: str, collection_mode: str, out_refund_no: str) -> str:
    """The ``out_refund_no`` the channel is sent for a refund, by the same rule as its payment's number."""
    return out_refund_no if collection_mode == INDEPENDENT else _made_from(refund_id)
