"""Pure key-lifecycle rules with a fixed clock: certificate expiry from credentials, reminder boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.registry import channel_spec
from indiepay.channels.wechatpay import signing
from indiepay.core.errors import InvalidRequest
from indiepay.keys.expiry import EXPIRY, ROTATION, Reminder, earliest_expiry, reminders_due
from tests.keys.certs import self_signed_pem

ISSUED = datetime(2030, 1, 1, 4, 0, tzinfo=UTC)
EXPIRES = datetime(2030, 6, 30, 4, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def _days(n: float) -> timedelta:
    return timedelta(days=n)


def _slots(reminders: list[Reminder]) -> list[tuple[str, int]]:
    return [r.slot for r in reminders]


# -- certificates ---------------------------------------------------------------------------------------------


def test_earliest_expiry_of_the_certificates_among_the_credentials() -> None:
    early = self_signed_pem(ISSUED, EXPIRES)
    late = self_signed_pem(ISSUED, EXPIRES + _days(365))
    creds = {"mchid": "1900000001",
             "merchant_private_key": "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n",
             "wechatpay_public_key": late, "chain": late + early}
    assert earliest_expiry(creds) == EXPIRES
    assert earliest_expiry(creds).tzinfo is not None  # type: ignore[union-attr]


def test_no_certificate_means_no_expiry() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert earliest_expiry({"merchant_private_key": signing.private_key_pem(key),
                            "wechatpay_public_key": signing.public_key_pem(key.public_key()),
                            "apiv3_key": "x" * 32}) is None
    assert earliest_expiry({}) is None


@pytest.mark.parametrize("bad", [
    "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nMIIB\n",  # unterminated
])
def test_a_malformed_certificate_is_a_clear_error(bad: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        earliest_expiry({"mchid": "1900000001", "wechatpay_public_key": bad})
    assert caught.value.code == "invalid_certificate"
    assert caught.value.details == {"field": "wechatpay_public_key"}


def test_wechat_credentials_with_a_platform_certificate_keep_it_through_validation() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = self_signed_pem(ISSUED, EXPIRES)
    valid = channel_spec("wechatpay").validate({
        "mchid": "1900000001", "appid": "wx8888888888888888", "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A72",
        "merchant_private_key": signing.private_key_pem(key), "apiv3_key": "a" * 32,
        "wechatpay_public_key_id": "PUB_KEY_ID_0119000000012025", "wechatpay_public_key": cert})
    assert earliest_expiry(valid) == EXPIRES


# -- expiry alerts --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "expected"), [
    (_days(31), []),
    (_days(30) + SECOND, []),
    (_days(30), [(EXPIRY, 30)]),
    (_days(8), [(EXPIRY, 30)]),
    (_days(7) + SECOND, [(EXPIRY, 30)]),
    (_days(7), [(EXPIRY, 7)]),
    (_days(1) + SECOND, [(EXPIRY, 7)]),
    (_days(1), [(EXPIRY, 1)]),
    (timedelta(0), [(EXPIRY, 1)]),
    (-_days(10), [(EXPIRY, 1)]),
])
def test_expiry_boundaries_when_nothing_was_sent(before: timedelta, expected: list[tuple[str, int]]) -> None:
    now = EXPIRES - before
    assert _slots(reminders_due(now, now, EXPIRES, set())) == expected


def test_each_expiry_alert_fires_once_on_a_daily_walk() -> None:
    sent: set[tuple[str, int]] = set()
    fired: list[tuple[int, tuple[str, int]]] = []
    for day in range(40, -3, -1):
        for reminder in reminders_due(EXPIRES - _days(day), EXPIRES - _days(60), EXPIRES, sent):
            fired.append((day, reminder.slot))
            sent.add(reminder.slot)
    assert fired == [(30, (EXPIRY, 30)), (7, (EXPIRY, 7)), (1, (EXPIRY, 1))]


def test_after_downtime_only_the_most_urgent_missed_alert_fires() -> None:
    issued = EXPIRES - _days(60)
    assert _slots(reminders_due(EXPIRES - _days(5), issued, EXPIRES, set())) == [(EXPIRY, 7)]
    # the 30-day one was never sent, but the 7-day one was: nothing, and never the 30-day one later
    assert reminders_due(EXPIRES - _days(5), issued, EXPIRES, {(EXPIRY, 7)}) == []
    assert _slots(reminders_due(EXPIRES - _days(20), issued, EXPIRES, set())) == [(EXPIRY, 30)]


def test_severity_rises_as_expiry_nears() -> None:
    order = ["warning", "high", "critical"]
    severities = [reminders_due(EXPIRES - _days(d), EXPIRES - _days(60), EXPIRES, set())[0].severity
                  for d in (30, 7, 1)]
    assert severities == sorted(severities, key=order.index) and len(set(severities)) == 3


def test_no_expiry_known_means_no_expiry_alert() -> None:
    assert reminders_due(ISSUED + _days(10), ISSUED, None, set()) == []


# -- rotation reminders ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("after", "expected"), [
    (_days(90) - SECOND, []),
    (_days(90), [(ROTATION, 90)]),
    (_days(180) - SECOND, [(ROTATION, 90)]),
    (_days(180), [(ROTATION, 180)]),
    (_days(400), [(ROTATION, 180)]),
])
def test_rotation_boundaries(after: timedelta, expected: list[tuple[str, int]]) -> None:
    assert _slots(reminders_due(ISSUED + after, ISSUED, None, set())) == expected


def test_rotation_reminders_fire_once_each_and_beside_expiry_alerts() -> None:
    sent: set[tuple[str, int]] = set()
    fired: list[tuple[int, tuple[str, int]]] = []
    expires = ISSUED + _days(200)
    for day in range(0, 210):
        for reminder in reminders_due(ISSUED + _days(day), ISSUED, expires, sent):
            fired.append((day, reminder.slot))
            sent.add(reminder.slot)
    assert fired == [(90, (ROTATION, 90)), (170, (EXPIRY, 30)), (180, (ROTATION, 180)),
                     (193, (EXPIRY, 7)), (199, (EXPIRY, 1))]
    assert reminders_due(ISSUED + _days(180), ISSUED, None, {(ROTATION, 180)}) == []
