"""Where the platform may send what a merchant asked for (its webhooks, its alert webhook): never to a private
address unless the operator allows it (test-mode endpoints by default), never with credentials in the URL,
and live endpoints over HTTPS — so a merchant key cannot turn the server into a scanner of its own network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indiepay.alerts.rules import mask_url
from indiepay.core.errors import InvalidRequest
from indiepay.core.outbound import check, is_public, private_allowed, refusal
from tests.support.platform import PlatformUnderTest, start_platform

PUBLIC = {"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["93.184.216.34", "10.0.0.7"],
          "v6.example.com": ["2606:2800:220:1::1"]}


def fake(host: str) -> list[str]:
    return PUBLIC.get(host, [host])


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
                                     "224.0.0.1", "240.0.0.1"])
def test_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)
    assert refusal(f"https://{address if ':' not in address else f'[{address}]'}/h", livemode=False,
                   private_ok=False, resolver=fake) is not None


def test_the_rules() -> None:
    assert is_public("93.184.216.34") and is_public("2606:2800:220:1::1")
    assert refusal("https://hooks.example.com/h", livemode=True, private_ok=False, resolver=fake) is None
    assert refusal("https://v6.example.com/h", livemode=True, private_ok=False, resolver=fake) is None
    assert "not public (10.0.0.7)" in str(refusal("https://rebind.example.com/h", livemode=True, private_ok=False,
                                                  resolver=fake))
    assert refusal("http://hooks.example.com/h", livemode=True, private_ok=False, resolver=fake) == \
        "a live endpoint must use https"
    assert refusal("http://hooks.example.com/h", livemode=False, private_ok=False, resolver=fake) is None
    assert refusal("https://u:p@hooks.example.com/h", livemode=False, private_ok=True, resolver=fake) == \
        "the address may not carry credentials"
    assert refusal("ftp://hooks.example.com/h", livemode=False, private_ok=True, resolver=fake) is not None
    assert refusal("http://127.0.0.1:9000/h", livemode=True, private_ok=True, resolver=fake) is None

    def unresolvable(host: str) -> list[str]:
        raise OSError("no such host")

    assert refusal("https://not-yet.example/h", livemode=True, private_ok=False, resolver=unresolvable) is None
    assert [private_allowed(p, livemode=live) for p in ("test", "none", "all") for live in (False, True)] == \
        [True, False, False, False, True, True]
    with pytest.raises(InvalidRequest) as refused:
        check("https://10.0.0.1/h", livemode=True, policy="test", resolver=fake)
    assert refused.value.code == "webhook_url_not_allowed" and "not public" in refused.value.details["reason"]
    assert mask_url("https://user:secret@hooks.example.com/path?token=1") == "https://hooks.example.com/path"


@pytest.fixture
def closed(tmp_path: Path, sqlite_url: str) -> Iterator[PlatformUnderTest]:
    with start_platform(tmp_path, sqlite_url, outbound_private_targets="none") as running:
        yield running


def test_merchants_cannot_point_webhooks_at_the_platforms_network(platform: PlatformUnderTest,
                                                                  closed: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    for url in ("http://127.0.0.1:8000/v1/merchants", "https://169.254.169.254/latest/meta-data",
                "https://0x7f000001/hooks", "http://localhost/hooks", "https://[::1]/hooks"):
        refused = merchant.live.put("/v1/webhook_endpoint", json={"url": url})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "webhook_url_not_allowed", url
        alerts = merchant.live.put("/v1/alert_channels", json={"webhook_url": url})
        assert alerts.status_code == 400 and alerts.json()["error"]["code"] == "webhook_url_not_allowed", url
    assert merchant.live.get("/v1/webhook_endpoint").status_code == 404  # nothing was stored
    secret = merchant.live.put("/v1/webhook_endpoint", json={"url": "https://u:p@hooks.example.com/h"})
    assert secret.status_code == 400 and "credentials" in secret.json()["error"]["details"]["reason"]
    # a developer's local receiver stays usable with the test key, under the default policy
    assert merchant.api.put("/v1/webhook_endpoint", json={"url": "http://127.0.0.1:9/hooks"}).status_code == 200
    # and not even that on a platform whose operator allows private targets for no one
    strict = closed.merchant("Strict")
    local = strict.api.put("/v1/webhook_endpoint", json={"url": "http://127.0.0.1:9/hooks"})
    assert local.status_code == 400 and local.json()["error"]["code"] == "webhook_url_not_allowed"
