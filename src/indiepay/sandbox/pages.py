"""The shell of the sandbox gateways' own pages (cashier, QR landing, paid, error): one small card, styled
in the channel's colour — the buyer should see at a glance which gateway's page the checkout sent them to."""

from __future__ import annotations

from html import escape


def page(title: str, body: str, *, accent: str) -> str:
    """A whole HTML page around ``body`` (already escaped markup), ``accent`` the channel's CSS colour."""
    style = ("body{font-family:sans-serif;background:#f5f5f5;margin:0}"
             ".box{max-width:420px;margin:40px auto;background:#fff;padding:24px;border-radius:8px}"
             f".amount{{font-size:32px;color:{accent};margin:12px 0}}"
             f"button{{width:100%;padding:12px;font-size:18px;background:{accent};color:#fff;border:0;"
             "border-radius:6px}.muted{color:#888;font-size:13px}")
    return (f"<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{style}</style></head>"
            f"<body><div class=\"box\">{body}</div></body></html>")
