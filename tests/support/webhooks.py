"""A merchant's webhook receiver on a loopback port (the demo's inbox, reused)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from indiepay.cli.demo import WebhookInbox
from tests.support.servers import serve_in_thread


@contextmanager
def webhook_inbox() -> Iterator[tuple[WebhookInbox, str]]:
    inbox = WebhookInbox()
    with serve_in_thread(inbox.app) as url:
        yield inbox, f"{url}/hooks"
