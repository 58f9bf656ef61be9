"""The dashboard's collection page over real loopback HTTP: the advisor's figures over the key's own data,
the readiness checklist, the switch between independent and platform collection (the live key's: refused,
with the unmet items named, until one of the merchant's own production accounts is verified), its history,
and the usual guards (CSRF, read-only keys, test keys, a mode that does not exist, the operator)."""

from __future__ import annotations

from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, paid_payment, signed_in


def current_mode(platform: PlatformUnderTest, merchant_id: str) -> str:
    rows = platform.sql("SELECT collection_mode FROM merchants WHERE id = :m", m=merchant_id)
    return str(rows[0][0])


def test_the_page_shows_the_advice_over_the_keys_own_data(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    paid_payment(merchant, amount=12_345)
    page = signed_in(platform, key_of(merchant.api)).get("/dashboard/collection")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    advice = merchant.api.get("/v1/advisor").json()
    assert advice["monthly_volume"] == 12_345
    assert 'id="monthly-volume">¥123.45' in page.text
    assert f'id="recommended-mode"><strong>{advice["recommended_mode"]}' in page.text
    assert "test payments and sandbox accounts" in page.text
    for reason in advice["reasons"]:
        assert reason.replace("'", "&#39;") in page.text
    assert "An account of your own verified by a ¥0.01 payment" in page.text
    assert 'id="checklist-sandbox"' in page.text  # the test key's checklist is a rehearsal
    live = signed_in(platform, key_of(merchant.live)).get("/dashboard/collection").text
    assert 'id="monthly-volume">¥0.00' in live and "live payments and production accounts" in live
    assert 'id="checklist-sandbox"' not in live


def test_switching_to_independent_waits_for_a_verified_account(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.live))
    page = client.get("/dashboard/collection").text
    if current_mode(platform, merchant.id) == "independent":  # start from platform collection
        assert client.post("/dashboard/collection", data={"csrf": csrf(page), "mode": "platform"}).status_code == 303
        page = client.get("/dashboard/collection").text
    assert current_mode(platform, merchant.id) == "platform" and 'value="independent"' in page
    before = platform.sql("SELECT count(*) FROM collection_mode_changes WHERE merchant_id = :m", m=merchant.id)
    refused = client.post("/dashboard/collection", data={"csrf": csrf(page), "mode": "independent"})
    assert refused.status_code == 422 and "mode_switch_not_ready" in refused.text
    assert 'id="unmet"' in refused.text and "An account of your own verified by a ¥0.01 payment" in refused.text
    assert current_mode(platform, merchant.id) == "platform"
    assert platform.sql("SELECT count(*) FROM collection_mode_changes WHERE merchant_id = :m", m=merchant.id) == before

    merchant.verify(merchant.sandbox_account("wechatpay"))  # a sandbox account is no proof for live money
    still = client.post("/dashboard/collection", data={"csrf": csrf(page), "mode": "independent"})
    assert still.status_code == 422 and "mode_switch_not_ready" in still.text
    merchant.verify(merchant.live_account("wechatpay"))
    switched = client.post("/dashboard/collection", data={"csrf": csrf(page), "mode": "independent"})
    assert switched.status_code == 303 and switched.headers["location"] == "/dashboard/collection"
    assert current_mode(platform, merchant.id) == "independent"
    history = client.get("/dashboard/collection").text
    assert "<td>platform</td><td>independent</td><td class=\"mono\">merchant:live</td>" in history
    again = client.post("/dashboard/collection", data={"csrf": csrf(page), "mode": "independent"})  # a stale form
    assert again.status_code == 200 and "nothing changed" in again.text
    assert platform.sql("SELECT to_mode FROM collection_mode_changes WHERE merchant_id = :m "
                        "ORDER BY created_at DESC, id DESC LIMIT 1", m=merchant.id) == [("independent",)]


def test_the_switch_is_guarded(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.live))
    page = client.get("/dashboard/collection").text
    mode = current_mode(platform, merchant.id)
    other = "platform" if mode == "independent" else "independent"
    no_token = client.post("/dashboard/collection", data={"mode": other})
    assert no_token.status_code == 403 and "csrf_failed" in no_token.text
    unknown = client.post("/dashboard/collection", data={"csrf": csrf(page), "mode": "both"})
    assert unknown.status_code == 400 and "invalid_mode" in unknown.text
    made = merchant.live.post("/v1/api_keys", json={"mode": "live", "read_only": True})
    reader = signed_in(platform, made.json()["key"])
    look = reader.get("/dashboard/collection").text
    assert 'id="switch"' not in look
    refused = reader.post("/dashboard/collection", data={"csrf": csrf(look), "mode": other})
    assert refused.status_code == 403 and "read_only_key" in refused.text
    assert current_mode(platform, merchant.id) == mode
    assert platform.sql("SELECT count(*) FROM collection_mode_changes WHERE merchant_id = :m", m=merchant.id) == [(0,)]
    operator = signed_in(platform, platform.settings.admin_key)
    assert operator.get("/dashboard/collection").headers["location"] == "/dashboard"


def test_a_test_key_sees_how_the_merchant_collects_but_cannot_switch(platform: PlatformUnderTest) -> None:
    """The mode decides where live money goes: signed in with a test key, the page shows the mode, the advice
    and the checklist but no switch, and a switch posted anyway is refused — even with a verified sandbox
    account and no production account, where the switch would strand the live payments."""
    merchant = platform.merchant()
    assert platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode",
                              json={"mode": "platform"}).status_code == 200
    merchant.verify(merchant.sandbox_account("wechatpay"))
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/collection").text
    assert 'id="current-mode"><strong>platform</strong>' in page and 'id="recommended-mode"' in page
    assert 'id="checklist"' in page and 'id="switch"' not in page
    assert 'id="switch-live-only"' in page and "sign in with your live key" in page
    for mode in ("independent", "platform"):
        refused = client.post("/dashboard/collection", data={"csrf": csrf(page), "mode": mode})
        assert refused.status_code == 403 and "livemode_required" in refused.text
        assert 'id="switch"' not in refused.text
    assert current_mode(platform, merchant.id) == "platform"
    assert platform.sql("SELECT actor FROM collection_mode_changes WHERE merchant_id = :m", m=merchant.id) == [
        ("admin",)]
    live = signed_in(platform, key_of(merchant.live)).get("/dashboard/collection").text
    assert 'id="switch"' in live and 'id="switch-live-only"' not in live
