"""Pure alert rules: daily-cap thresholds, rate windows, recipient validation and masking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indiepay.alerts import rules


@pytest.mark.parametrize(("cap", "before", "after", "levels"), [
    (10_000, 0, 7_999, []),
    (10_000, 0, 8_000, [80]),  # exactly 80 % crosses 80
    (10_000, 7_999, 8_000, [80]),
    (10_000, 8_000, 9_000, []),  # already past 80: nothing new
    (10_000, 8_000, 10_000, [100]),
    (10_000, 7_000, 10_000, [80, 100]),  # one big payment crosses both
    (10_000, 0, 12_000, [80, 100]),
    (10_000, 10_000, 10_500, []),  # already over: no repeat
    (3, 2, 3, [80, 100]),  # 2/3 = 66.7 %: integer arithmetic, no rounding
    (3, 0, 2, []),
    (5, 3, 4, [80]),  # 4/5 = 80 % exactly
    (10_000, 5_000, 5_000, []),  # a zero-amount use crosses nothing
])
def test_cap_warning_levels(cap: int, before: int, after: int, levels: list[int]) -> None:
    assert rules.cap_warning_levels(cap, before, after) == levels


def test_cap_warning_levels_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        rules.cap_warning_levels(0, 0, 1)
    with pytest.raises(ValueError, match="decrease"):
        rules.cap_warning_levels(100, 50, 40)


@given(cap=st.integers(1, 10**9), steps=st.lists(st.integers(0, 10**8), max_size=30))
def test_every_level_is_crossed_once_whatever_the_steps(cap: int, steps: list[int]) -> None:
    used, crossed = 0, []
    for step in steps:
        crossed += rules.cap_warning_levels(cap, used, used + step)
        used += step
    assert crossed == [level for level in rules.CAP_LEVELS if used * 100 >= cap * level]


def test_rate_windows_are_aligned_so_every_process_agrees() -> None:
    at = datetime(2030, 1, 1, 10, 59, 59, tzinfo=UTC)
    assert rules.window_start(at, 3600) == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert rules.window_end(at, 3600) == datetime(2030, 1, 1, 11, tzinfo=UTC)
    assert rules.window_start(at + timedelta(seconds=1), 3600) == datetime(2030, 1, 1, 11, tzinfo=UTC)
    start = rules.window_start(at, 3600)
    assert rules.rate_key("mch_1", "late_payment", start) == f"mch_1:late_payment:{int(start.timestamp())}"
    assert rules.rate_key(None, "bill_hash_mismatch", start).startswith("operator:bill_hash_mismatch:")
    # alerts about test data count in a window of their own; live ones and those about neither share one
    assert rules.rate_key("mch_1", "late_payment", start, False) == f"mch_1:late_payment:{int(start.timestamp())}:test"
    assert rules.rate_key("mch_1", "late_payment", start, True) == rules.rate_key("mch_1", "late_payment", start)


@pytest.mark.parametrize(("count", "limit", "admitted"), [(0, 1, True), (9, 10, True), (10, 10, False),
                                                          (11, 10, False)])
def test_rate_limit_decision(count: int, limit: int, admitted: bool) -> None:
    assert rules.admits(count, limit) is admitted


@pytest.mark.parametrize(("value", "ok"), [
    ("+8613800138000", True), ("+14155550123", True), ("+861", False), ("13800138000", False),
    ("+0123456789", False), ("+86 138 0013 8000", False), ("+8613800138000000000", False), ("", False)])
def test_phone_numbers_are_e164(value: str, ok: bool) -> None:
    assert rules.is_phone(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("ops@example.com", True), ("a.b+alerts@mail.example.cn", True), ("no-at.example.com", False),
    ("two@@example.com", False), ("sp ace@example.com", False), ("x@localhost", False),
    ("a@b.c,d@e.f", False), ("<a@example.com>", False)])
def test_email_addresses(value: str, ok: bool) -> None:
    assert rules.is_email(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("https://hooks.example.com/alerts", True), ("http://127.0.0.1:9000/hooks?x=1", True),
    ("ftp://example.com/x", False), ("https://", False), ("https://user:pw@example.com/x", False),
    ("https://example.com/a b", False), ("not a url", False)])
def test_webhook_urls(value: str, ok: bool) -> None:
    assert rules.is_webhook_url(value) is ok


def test_targets_are_masked_for_display() -> None:
    assert rules.mask_target("email", "alice@example.com") == "a***@example.com"
    assert rules.mask_target("sms", "+8613800138000") == "+86*******8000"
    assert rules.mask_target("webhook", "https://h.example.com/a?token=secret#x") == "https://h.example.com/a"
    assert rules.split_list(" a@x.cn, ,b@y.cn ") == ["a@x.cn", "b@y.cn"]


def test_a_delivery_keeps_trying_for_its_whole_window_at_the_job_backoff() -> None:
    from indiepay.alerts.service import DELIVERY_ATTEMPTS, DELIVERY_WINDOW
    from indiepay.db.jobs.queue import backoff

    waits = [backoff(n) for n in range(1, DELIVERY_ATTEMPTS)]  # after each attempt but the last
    assert sum(waits, timedelta(0)) >= DELIVERY_WINDOW >= timedelta(hours=24)
    assert sum(waits[:-1], timedelta(0)) < DELIVERY_WINDOW  # not one attempt more than it takes
    assert max(waits) <= timedelta(hours=1)  # an SMTP server back is noticed within the hour
    assert rules.attempts_within(timedelta(seconds=10), lambda n: timedelta(seconds=4)) == 4
    assert rules.attempts_within(timedelta(0), backoff) == 1
    with pytest.raises(ValueError, match="positive"):
        rules.attempts_within(timedelta(hours=1), lambda n: timedelta(0))


@pytest.mark.parametrize(("code", "reply", "final"), [
    (550, "5.1.1 <a@example.com>: Recipient address rejected: User unknown", True),
    (553, "5.1.3 bad recipient address syntax", True),
    (550, "mailbox unavailable", True),
    (450, "4.2.0 greylisted, try again", False),
    (452, "4.2.2 mailbox full", False),
    (554, "5.7.1 <a@example.com>: Relay access denied", False),
    (550, "5.7.54 SMTP; Unable to relay recipient in non-accepted domain", False),
    (550, "relaying denied", False),
    (530, "5.7.0 Authentication required", False),
])
def test_only_a_definitive_refusal_of_the_recipient_is_final(code: int, reply: str, final: bool) -> None:
    assert rules.recipient_refused_for_good(code, reply) is final
