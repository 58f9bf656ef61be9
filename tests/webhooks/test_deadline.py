"""A delivery to a server the platform does not control has one budget for the whole exchange and keeps
at most a few KiB of the answer: a receiver trickling its answer (body or headers) is hung up on at the
deadline and the attempt fails as a timeout, to be retried; an endless body is cut off, not read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from indiepay.db.jobs.models import Job
from indiepay.webhooks import service as webhooks
from indiepay.webhooks.deadline import BODY_CAP, DeadlineTransport, post_within
from indiepay.webhooks.models import Event, WebhookDelivery
from tests.alerts.conftest import add_merchant, clock, make_runtime  # noqa: F401 -- fixtures
from tests.support.slow_receiver import SlowReceiver, slow_receiver
from tests.support.webhooks import event_for

TRICKLE = 400  # bytes at one per 50 ms: 20 s, against a budget of 0.3 s


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(transport=DeadlineTransport()) as client:
        yield client


def _hung_up_early(receiver: SlowReceiver) -> bool:
    [(sent, total)] = receiver.wait_answered()
    return sent < total


@pytest.mark.parametrize("trickle_head", [False, True], ids=["body", "status-line-and-headers"])
def test_a_receiver_trickling_its_answer_is_hung_up_on_at_the_deadline(http: httpx.Client,
                                                                         trickle_head: bool) -> None:
    receiver = SlowReceiver(body_size=TRICKLE, trickle_head=trickle_head)
    with slow_receiver(receiver) as url:
        with pytest.raises(httpx.TimeoutException, match=r"0\.3 s deadline"):
            post_within(http, url, content=b"{}", headers={"Content-Type": "application/json"}, budget=0.3)
        assert _hung_up_early(receiver)  # each byte came well within the per-read timeout


def test_without_the_deadline_transport_a_trickled_body_still_ends_at_the_deadline() -> None:
    receiver = SlowReceiver(body_size=TRICKLE)
    with httpx.Client() as plain, slow_receiver(receiver) as url:
        with pytest.raises(httpx.ReadTimeout, match=r"0\.3 s deadline"):
            post_within(plain, url, content=b"{}", headers={}, budget=0.3)
        assert _hung_up_early(receiver)


def test_an_endless_body_is_cut_at_the_cap_and_the_status_still_counts(http: httpx.Client) -> None:
    receiver = SlowReceiver(body_size=256 * 1024 * 1024, step=64 * 1024, pause=0)
    with slow_receiver(receiver) as url:
        answer = post_within(http, url, content=b"{}", headers={}, budget=10)
        assert (answer.status_code, len(answer.body), answer.complete) == (200, BODY_CAP, False)
        assert _hung_up_early(receiver)


def test_a_prompt_answer_is_read_whole(http: httpx.Client) -> None:
    receiver = SlowReceiver(body_size=10, step=10, pause=0)
    with slow_receiver(receiver) as url:
        answer = post_within(http, url, content=b"{}", headers={}, budget=10)
        assert (answer.status_code, answer.body, answer.complete) == (200, b"x" * 10, True)
        assert not _hung_up_early(receiver)


def test_a_merchant_endpoint_that_trickles_fails_the_attempt_as_a_timeout_and_is_retried(
        make_runtime: Any) -> None:  # noqa: F811 -- fixture
    runtime = make_runtime(webhook_timeout_seconds=0.3)
    merchant_id = add_merchant(runtime)
    receiver = SlowReceiver(body_size=TRICKLE)
    with slow_receiver(receiver) as url:
        event = event_for(runtime, merchant_id, url, livemode=True)
        assert runtime.worker.drain() == 1
        assert _hung_up_early(receiver)
    with runtime.ctx.db.read() as session:
        [attempt] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id))
        job = session.scalars(select(Job).where(Job.kind == webhooks.DELIVERY_JOB)).one()
        stored = session.get(Event, event.id)
        assert stored is not None and not stored.delivered
    assert (attempt.attempt, attempt.status_code) == (1, None)
    assert attempt.error is not None and attempt.error.startswith("ReadTimeout: ") and "deadline" in attempt.error
    assert (job.status, job.attempts) == ("queued", 1)
