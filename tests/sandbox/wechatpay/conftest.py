"""Fixtures for the WeChat Pay sandbox tests (helpers live in ``wechat_sandbox_support``)."""

from wechat_sandbox_support import sandbox

__all__ = ["sandbox"]
