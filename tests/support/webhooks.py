"""A merchant's webhook receiver on a loopback port (the demo's inbox, reused), and an event owed to one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from indiepay.cli.demo import WebhookInbox
from indiepay.merchants.auth import Principal
from indiepay.runtime import Runtime
from indiepay.webhooks import service as webhooks
from indiepay.webhooks.models import Event
from tests.support.servers import serve_in_thread


@contextmanager
def webhook_inbox() -> Iterator[tuple[WebhookInbox, str]]:
    inbox = WebhookInbox()
    with serve_in_thread(inbox.app) as url:
        yield inbox, f"{url}/hooks"


def event_for(runtime: Runtime, merchant_id: str, url: str, *, livemode: bool) -> Event:
    """Set the merchant's endpoint of that mode to ``url`` and emit one ``payment.succeeded`` event to it (its
    delivery job queued, in one transaction)."""
    with runtime.ctx.db.transaction() as session:
        webhooks.set_endpoint(session, runtime.ctx, Principal("merchant", merchant_id, livemode=livemode), url)
        event = webhooks.emit_event(session, runtime.ctx, merchant_id=merchant_id, livemode=livemode,
                                    type_="payment.succeeded", data={"object": {"id": "pay_1"}},
                                    dedupe_key="payment.succeeded:pay_1")
    assert event is not None
    return event
