"""Events a merchant can read and have sent again: ``GET /v1/events`` (newest first, by type and delivery,
in pages), ``GET /v1/events/{id}``, ``POST /v1/events/{id}/redeliver`` — over real HTTP with a real webhook
receiver; and a redelivery after the automatic attempts gave up."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from indiepay.alerts.models import Alert
from indiepay.cli.demo import WebhookInbox
from indiepay.core.clock import FixedClock
from indiepay.db.jobs.queue import DeadJob
from indiepay.merchants.auth import Principal
from indiepay.runtime import job_dead_alerts
from indiepay.webhooks import service as webhooks
from indiepay.webhooks.models import WebhookDelivery
from tests.alerts.conftest import add_merchant, inbox, make_runtime  # noqa: F401 -- fixtures
from tests.support.platform import PlatformUnderTest
from tests.support.webhooks import webhook_inbox


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def test_events_are_listed_read_and_sent_again(any_platform: PlatformUnderTest) -> None:
    merchant = any_platform.merchant()
    merchant.sandbox_account("alipay")
    with webhook_inbox() as (receiver, url):
        receiver.secret = merchant.api.put("/v1/webhook_endpoint", json={"url": url}).json()["secret"]
        payments = [merchant.create_payment("alipay_qr", amount=100 + n).json() for n in range(2)]
        for payment in payments:
            merchant.pay(payment)
            receiver.wait_for("payment.succeeded", payment["id"])
        closed = merchant.create_payment("alipay_qr").json()
        merchant.api.post(f"/v1/payments/{closed['id']}/close")
        receiver.wait_for("payment.closed", closed["id"])

        for _ in range(200):  # the receiver has them; the worker records each delivery just after
            if not ids(merchant.api.get("/v1/events", params={"delivered": "false"})):
                break
            time.sleep(0.05)
        listed = merchant.api.get("/v1/events")
        events = listed.json()["data"]
        assert [e["type"] for e in events] == ["payment.closed", "payment.succeeded", "payment.succeeded"]
        assert [e["data"]["object"]["id"] for e in events] == [closed["id"], payments[1]["id"], payments[0]["id"]]
        assert all(e["delivered"] and e["object"] == "event" and not e["livemode"] for e in events)
        succeeded = merchant.api.get("/v1/events", params={"type": "payment.succeeded", "limit": 1})
        assert ids(succeeded) == [events[1]["id"]] and succeeded.json()["has_more"]
        rest = merchant.api.get("/v1/events", params={"type": "payment.succeeded",
                                                      "starting_after": events[1]["id"]})
        assert ids(rest) == [events[2]["id"]] and not rest.json()["has_more"]
        assert ids(merchant.api.get("/v1/events", params={"delivered": "false"})) == []
        one = merchant.api.get(f"/v1/events/{events[0]['id']}")
        assert one.status_code == 200 and one.json() == events[0]

        sent_before = len(receiver.events)
        again = merchant.api.post(f"/v1/events/{events[2]['id']}/redeliver")
        assert again.status_code == 202 and again.json()["id"] == events[2]["id"]
        copies: list[dict[str, Any]] = []
        for _ in range(200):
            copies = [e for e in receiver.events if e["id"] == events[2]["id"]]
            if len(copies) == 2:
                break
            any_platform.run_jobs_now(webhooks.DELIVERY_JOB)
            time.sleep(0.05)
        assert len(copies) == 2 and copies[1] == copies[0]  # the same event, signed anew
        assert len(receiver.events) == sent_before + 1
        for _ in range(100):  # the log row is written just after the receiver answered
            attempts = merchant.api.get("/v1/webhook_deliveries", params={"event_id": events[2]["id"]}).json()
            if len(attempts) == 2:
                break
            time.sleep(0.05)
        assert [(a["event_id"], a["attempt"], a["status_code"]) for a in attempts] == [
            (events[2]["id"], 2, 204), (events[2]["id"], 1, 204)]
        assert len(merchant.api.get("/v1/webhook_deliveries", params={"limit": 1}).json()) == 1

    stranger = any_platform.merchant("Noodle Bar")
    for path in (f"/v1/events/{events[0]['id']}", "/v1/events/evt_nosuchevent"):
        missing = stranger.api.get(path)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "event_not_found"
    assert stranger.api.post(f"/v1/events/{events[0]['id']}/redeliver").json()["error"]["code"] == "event_not_found"
    assert ids(stranger.api.get("/v1/events")) == []
    bad_cursor = stranger.api.get("/v1/events", params={"starting_after": events[0]["id"]})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"
    assert merchant.api.get("/v1/events", params={"limit": 0}).status_code == 400
    assert ids(merchant.live.get("/v1/events")) == []  # test-mode events only under the test key
    other_mode = merchant.live.post(f"/v1/events/{events[0]['id']}/redeliver")
    assert other_mode.status_code == 404 and other_mode.json()["error"]["code"] == "event_not_found"
    stranger.sandbox_account("alipay")  # its events are kept, but it never set an endpoint to send them to
    theirs = stranger.create_payment("alipay_qr").json()
    stranger.pay(theirs)
    stranger.wait_status(f"/v1/payments/{theirs['id']}", "succeeded")
    [kept] = stranger.api.get("/v1/events").json()["data"]
    assert (kept["type"], kept["delivered"]) == ("payment.succeeded", False)
    nowhere = stranger.api.post(f"/v1/events/{kept['id']}/redeliver")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "webhook_endpoint_not_found"


GAVE_UP_AFTER = (webhooks.DELIVERY_ATTEMPTS + 1) * timedelta(hours=1, seconds=1)
NEXT_DAY, RETRY = timedelta(days=1), timedelta(seconds=6)


@pytest.fixture
def clock() -> FixedClock:
    """Started as far in the past as the test moves it on, so the last delivery is signed at about real time
    (the receiver checks the signature's timestamp against its own clock, ±300 s)."""
    return FixedClock(datetime.now(UTC) - GAVE_UP_AFTER - NEXT_DAY - RETRY)


def test_an_event_whose_deliveries_gave_up_is_delivered_when_sent_again(
        make_runtime: Any, inbox: tuple[WebhookInbox, str], clock: FixedClock) -> None:  # noqa: F811 -- fixtures
    receiver, url = inbox
    runtime = make_runtime()
    merchant_id = add_merchant(runtime)
    merchant = Principal("merchant", merchant_id, livemode=True)
    with runtime.ctx.db.transaction() as session:
        receiver.secret = webhooks.set_endpoint(session, runtime.ctx, merchant, url)[1]
        event = webhooks.emit_event(session, runtime.ctx, merchant_id=merchant_id, livemode=True,
                                    type_="payment.succeeded", data={"object": {"id": "pay_1"}},
                                    dedupe_key="payment.succeeded:pay_1")
    assert event is not None
    right_secret, receiver.secret = receiver.secret, "whsec_not_this_one"  # the endpoint refuses everything
    for _ in range(webhooks.DELIVERY_ATTEMPTS + 1):
        runtime.worker.drain()
        clock.advance(timedelta(hours=1, seconds=1))
    assert receiver.events == []

    def alerts() -> int:
        with runtime.ctx.db.read() as session:
            return len(list(session.scalars(select(Alert).where(Alert.kind == "webhook_delivery_failed"))))

    assert alerts() == 1
    with runtime.ctx.db.read() as session:
        owed = webhooks.list_events(session, merchant, type_=None, delivered=False, limit=10, starting_after=None)
        done = webhooks.list_events(session, merchant, type_=None, delivered=True, limit=10, starting_after=None)
    assert [e.id for e in owed.data] == [event.id] and done.data == []
    clock.advance(NEXT_DAY)  # a new day: another give-up would be a new alert
    with runtime.ctx.db.transaction() as session:
        webhooks.redeliver(session, runtime.ctx, merchant, event.id)
        webhooks.redeliver(session, runtime.ctx, merchant, event.id)  # asked twice while queued: one job
    runtime.worker.drain()  # still refused: one more attempt, counted from the redelivery's first
    assert alerts() == 1
    receiver.secret = right_secret  # the merchant fixed its endpoint
    clock.advance(RETRY)
    runtime.worker.drain()
    assert [e["id"] for e in receiver.events] == [event.id]
    with runtime.ctx.db.read() as session:
        attempts = sorted(session.scalars(select(WebhookDelivery.attempt).where(WebhookDelivery.event_id == event.id)))
        listed = webhooks.list_events(session, merchant, type_=None, delivered=None, limit=10, starting_after=None)
    assert attempts == list(range(1, webhooks.DELIVERY_ATTEMPTS + 3))
    assert [e.delivered for e in listed.data] == [True]
    # that redelivery's job run once more (a retry after a crash): it delivered already, so it sends nothing
    webhooks.deliver(runtime.ctx, event.id, again=True, first_attempt=webhooks.DELIVERY_ATTEMPTS + 1)
    assert len(receiver.events) == 1
    with runtime.ctx.db.transaction() as session:  # asked for again now: sent again
        webhooks.redeliver(session, runtime.ctx, merchant, event.id)
    runtime.worker.drain()
    assert [e["id"] for e in receiver.events] == [event.id, event.id]


def test_a_dead_delivery_job_tells_the_merchant_even_when_an_attempt_left_no_log(
        make_runtime: Any, clock: FixedClock) -> None:  # noqa: F811 -- fixtures
    """The give-up alert used to come when the delivery log reached its twelfth row — but an attempt whose
    worker died mid-request writes no row, so the job died with eleven and nobody was told. It now comes when
    the worker marks the job dead (the merchant's alert, not the operator's ``job_dead``), exactly once."""
    runtime = make_runtime()
    merchant_id = add_merchant(runtime)
    merchant = Principal("merchant", merchant_id, livemode=True)
    with runtime.ctx.db.transaction() as session:
        webhooks.set_endpoint(session, runtime.ctx, merchant, "http://127.0.0.1:9/hooks")
        event = webhooks.emit_event(session, runtime.ctx, merchant_id=merchant_id, livemode=True,
                                    type_="payment.succeeded", data={"object": {"id": "pay_1"}},
                                    dedupe_key="payment.succeeded:pay_1")
    assert event is not None
    on_dead = job_dead_alerts(clock)
    for _ in range(2):  # reported twice (a retry of the report): one alert
        with runtime.ctx.db.transaction() as session:
            on_dead(session, DeadJob("job_1", webhooks.DELIVERY_JOB, {"event_id": event.id}, 12, 12, "ConnectError"))
    with runtime.ctx.db.read() as session:
        kinds = [(a.kind, a.merchant_id) for a in session.scalars(select(Alert))]
    assert kinds == [("webhook_delivery_failed", merchant_id)]


def test_a_delivery_is_checked_again_before_it_is_sent(make_runtime: Any, clock: FixedClock) -> None:  # noqa: F811
    """The endpoint's address is judged again before each attempt (its name may point elsewhere since it was
    set): a live endpoint the policy no longer allows is not contacted, and the attempt says why."""
    runtime = make_runtime(outbound_private_targets="test")
    merchant_id = add_merchant(runtime)
    merchant = Principal("merchant", merchant_id, livemode=True)
    with runtime.ctx.db.transaction() as session:  # stored as if set before (set_endpoint's caller checks)
        webhooks.set_endpoint(session, runtime.ctx, merchant, "https://127.0.0.1:9/hooks")
        event = webhooks.emit_event(session, runtime.ctx, merchant_id=merchant_id, livemode=True,
                                    type_="payment.succeeded", data={"object": {"id": "pay_2"}},
                                    dedupe_key="payment.succeeded:pay_2")
    assert event is not None
    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.deliver(runtime.ctx, event.id)
    with runtime.ctx.db.read() as session:
        (logged,) = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id))
    assert logged.status_code is None and logged.error is not None and logged.error.startswith("refused: ")
    assert "not public (127.0.0.1)" in logged.error
