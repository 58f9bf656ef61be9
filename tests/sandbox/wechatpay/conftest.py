"""Fixtures for the WeChat Pay sandbox tests (helpers live in ``wechat_sandbox_support``,
``wechat_bill_support`` and ``wechat_profitsharing_support``)."""

from wechat_bill_support import bills
from wechat_profitsharing_support import advance, sharing
from wechat_sandbox_support import sandbox

__all__ = ["advance", "bills", "sandbox", "sharing"]
