import pytest

from indiepay.webhooks import signing

BODY = b'{"id":"evt_1","type":"payment.succeeded"}'


def test_signature_verifies_and_binds_body_and_time() -> None:
    header = signing.header_value("whsec_x", 1_700_000_000, BODY)
    assert signing.verify("whsec_x", header, BODY, now=1_700_000_000) == 1_700_000_000
    with pytest.raises(signing.WebhookSignatureError):
        signing.verify("whsec_x", header, BODY + b" ", now=1_700_000_000)
    with pytest.raises(signing.WebhookSignatureError):
        signing.verify("whsec_other", header, BODY, now=1_700_000_000)


@pytest.mark.parametrize("skew", [-301, 301])
def test_signature_outside_300_seconds_is_rejected(skew: int) -> None:
    header = signing.header_value("whsec_x", 1_700_000_000, BODY)
    assert signing.verify("whsec_x", header, BODY, now=1_700_000_000 + 300)
    with pytest.raises(signing.WebhookSignatureError):
        signing.verify("whsec_x", header, BODY, now=1_700_000_000 + skew)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=notanumber,v1=abc", "garbage"])
def test_malformed_headers_are_rejected(header: str | None) -> None:
    with pytest.raises(signing.WebhookSignatureError):
        signing.verify("whsec_x", header, BODY, now=1_700_000_000)
