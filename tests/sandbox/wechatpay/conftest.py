"""Fixtures for the WeChat Pay sandbox tests (helpers live in ``wechat_sandbox_support`` and
``wechat_bill_support``)."""

from wechat_bill_support import bills
from wechat_sandbox_support import sandbox

__all__ = ["bills", "sandbox"]
