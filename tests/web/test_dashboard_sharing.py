"""The dashboard's profit sharing over real loopback HTTP against the sandbox gateways: receivers declared and
withdrawn from the page, a paid payment shared from its page (once per form, never beyond what may be
shared), a share taken back, payment links opened for sharing, and the usual guards — read-only keys, forms
without the session's token, another merchant's objects, the operator, and garbage in every field."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.sharing.sharing_support import paid_payment, share, wait_settled, wechat_receiver
from tests.support.platform import MerchantClient, PlatformUnderTest
from tests.web.test_dashboard import csrf, field, key_of, signed_in


def counts(platform: PlatformUnderTest) -> dict[str, int]:
    """Row counts of every table but the audit log (refusals are audited by design) and the dashboard's
    sessions (a test signs in again)."""
    tables = [name for (name,) in platform.sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT IN ('audit_events', 'dashboard_sessions')")]
    return {name: platform.sql(f'SELECT count(*) FROM "{name}"')[0][0] for name in tables}


def return_form_no(page: str, order_id: str, receiver_id: str) -> str:
    found = re.search(rf'id="return-form-{order_id}-{receiver_id}">.*?name="form_no" value="([^"]+)"', page,
                      re.DOTALL)
    assert found, "no return form for that line"
    return found.group(1)


def shared_order(merchant: MerchantClient, amount: int = 10_000) -> tuple[dict[str, Any], dict[str, Any],
                                                                         dict[str, Any]]:
    """A paid WeChat payment opened for sharing, a merchant receiver, and an order sharing 10 % with it."""
    account = merchant.sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay", amount=amount)
    made = share(merchant, payment["id"], [(receiver["id"], amount // 10)])
    assert made.status_code == 201, made.text
    return payment, receiver, made.json()


def test_a_receiver_is_declared_and_removed_from_the_page(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/sharing")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'id="receiver-form"' in page.text and f'<option value="{account["id"]}">' in page.text
    form = {"csrf": csrf(page.text), "channel_account_id": account["id"], "type": "wechat_merchant",
            "account": "1900012345", "name": "深圳市分销有限公司", "relation": "partner", "description": "north"}

    nameless = client.post("/dashboard/sharing/receivers", data={**form, "name": ""})
    assert nameless.status_code == 400 and "missing_field" in nameless.text
    mismatched = client.post("/dashboard/sharing/receivers", data={**form, "type": "alipay_user_id"})
    assert mismatched.status_code == 400 and "receiver_type_mismatch" in mismatched.text
    odd = client.post("/dashboard/sharing/receivers", data={**form, "type": "boss", "relation": "uncle"})
    assert odd.status_code == 400 and "invalid_receiver" in odd.text and "relation, type" in odd.text
    assert merchant.api.get("/v1/profit_sharing/receivers").json()["data"] == []

    added = client.post("/dashboard/sharing/receivers", data=form)
    assert added.status_code == 200 and 'id="notice"' in added.text, added.text
    listed = merchant.api.get("/v1/profit_sharing/receivers").json()["data"]
    assert [(r["account"], r["type"], r["relation"], r["status"], r["name_hint"]) for r in listed] == \
        [("1900012345", "wechat_merchant", "partner", "active", "*司")]
    receiver_id = listed[0]["id"]
    assert f'id="receiver-{receiver_id}"' in added.text and "*司" in added.text and "深圳" not in added.text
    assert f'id="remove-{receiver_id}"' in added.text

    removed = client.post(f"/dashboard/sharing/receivers/{receiver_id}/remove", data={"csrf": csrf(page.text)})
    assert removed.status_code == 200 and "removed" in removed.text, removed.text
    assert merchant.api.get(f"/v1/profit_sharing/receivers/{receiver_id}").json()["status"] == "removed"
    assert f'id="remove-{receiver_id}"' not in removed.text  # listed, without a button


def test_a_payment_is_shared_from_its_page_once_and_never_beyond_what_may_be_shared(
        platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay", amount=10_000)
    client = signed_in(platform, key_of(merchant.api))
    path = f"/dashboard/payments/{payment['id']}"
    page = client.get(path).text
    assert 'id="share-form"' in page and 'id="shared">¥0.00' in page and "up to ¥100.00" in page
    assert f'<option value="{receiver["id"]}">' in page

    form = {"csrf": csrf(page), "form_no": field(page, "form_no"), "receiver_1": receiver["id"], "amount_1": "10.00",
            "receiver_2": "", "amount_2": "", "receiver_3": "", "amount_3": ""}
    first = client.post(f"{path}/shares", data=form)
    assert first.status_code == 200 and 'id="notice"' in first.text, first.text
    assert 'id="shared">¥10.00' in first.text and "up to ¥90.00" in first.text  # refundable dropped with the share
    again = client.post(f"{path}/shares", data=form)  # the same form, resent
    assert again.status_code == 200 and "This share was already asked for." in again.text
    orders = merchant.api.get("/v1/profit_sharing/orders", params={"payment_id": payment["id"]}).json()["data"]
    assert [(o["amount"], o["out_order_no"], o["finish"]) for o in orders] == [(1_000, form["form_no"], False)]
    assert f'id="share-{orders[0]["id"]}"' in again.text
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 1_000
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 9_001})
    assert refund.status_code == 409  # the API agrees: the share is not refundable
    listing = client.get("/dashboard/sharing").text
    assert f'href="/dashboard/payments/{payment["id"]}"' in listing and "¥10.00" in listing

    fresh = field(again.text, "form_no")
    over = client.post(f"{path}/shares", data={**form, "form_no": fresh, "amount_1": "90.01"})
    assert over.status_code == 409 and "share_exceeds_shareable" in over.text, over.text
    for lines, code in (({"amount_1": "0"}, "invalid_amount"), ({"amount_1": "1.001"}, "invalid_amount"),
                        ({"amount_1": "abc"}, "invalid_amount"), ({"amount_1": "1e30"}, "invalid_amount"),
                        ({"receiver_1": "", "amount_1": "1.00"}, "invalid_share_line"),
                        ({"receiver_2": receiver["id"], "amount_2": "1.00"}, "duplicate_receiver"),
                        ({"receiver_1": "", "amount_1": ""}, "missing_field"),
                        ({"form_no": ""}, "invalid_form")):
        refused = client.post(f"{path}/shares", data={**form, "form_no": fresh, **lines})
        assert 400 <= refused.status_code < 500 and code in refused.text, (lines, refused.text)
    assert len(merchant.api.get("/v1/profit_sharing/orders", params={"payment_id": payment["id"]}).json()["data"]) == 1
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 1_000


def test_a_share_is_taken_back_from_a_succeeded_line(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    payment, receiver, order = shared_order(merchant)
    client = signed_in(platform, key_of(merchant.api))
    path = f"/dashboard/payments/{payment['id']}"
    assert f'id="return-form-{order["id"]}' not in client.get(path).text  # not while the share is pending
    wait_settled(merchant, f"/v1/profit_sharing/orders/{order['id']}", "finished", "sharing.sync")
    page = client.get(path).text
    form = {"csrf": csrf(page), "form_no": return_form_no(page, order["id"], receiver["id"]),
            "receiver_id": receiver["id"], "amount": "4.00"}
    returns_path = f"/dashboard/sharing/orders/{order['id']}/returns"
    asked = client.post(returns_path, data=form)
    assert asked.status_code == 200 and "Return psr_" in asked.text, asked.text
    again = client.post(returns_path, data=form)  # the same form, resent
    assert again.status_code == 200 and "This return was already asked for." in again.text
    listed = merchant.api.get("/v1/profit_sharing/returns", params={"order_id": order["id"]}).json()["data"]
    assert [(r["amount"], r["out_return_no"]) for r in listed] == [(400, form["form_no"])]
    wait_settled(merchant, f"/v1/profit_sharing/returns/{listed[0]['id']}", "succeeded", "sharing.return_sync")
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 600
    page = client.get(path).text
    assert 'id="shared">¥6.00' in page and "up to ¥94.00" in page
    fresh = return_form_no(page, order["id"], receiver["id"])
    for amount, status, code in (("6.01", 409, "return_exceeds_share"), ("0", 400, "invalid_amount"),
                                 ("1e17", 400, "invalid_amount"), ("x", 400, "invalid_amount")):
        refused = client.post(returns_path, data={**form, "form_no": fresh, "amount": amount})
        assert refused.status_code == status and code in refused.text, (amount, refused.text)
    assert len(merchant.api.get("/v1/profit_sharing/returns", params={"order_id": order["id"]}).json()["data"]) == 1


def test_a_payment_link_can_be_opened_for_sharing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    client = signed_in(platform, key_of(merchant.api))
    page = client.get("/dashboard/payments").text
    assert 'id="link-profit-sharing"' in page
    made = client.post("/dashboard/payments", data={
        "csrf": csrf(page), "form_no": field(page, "form_no"), "amount": "12.00", "description": "Tea set",
        "method": "wechat_native", "profit_sharing": "1"})
    assert made.status_code == 303, made.text
    payment_id = made.headers["location"].rsplit("/", 1)[1]
    assert merchant.api.get(f"/v1/payments/{payment_id}").json()["profit_sharing"] is True
    shown = client.get(made.headers["location"]).text
    assert 'id="sharing"' in shown and 'id="share-form"' not in shown  # nothing to share until it is paid


def _guarded_forms(receiver: dict[str, Any], payment: dict[str, Any], order: dict[str, Any],
                   account_id: str) -> list[tuple[str, dict[str, str]]]:
    """A valid form for each of the sharing actions (each would write, were it let through)."""
    return [("/dashboard/sharing/receivers", {"channel_account_id": account_id, "type": "wechat_openid",
                                              "account": "o" + "y" * 27, "relation": "distributor"}),
            (f"/dashboard/sharing/receivers/{receiver['id']}/remove", {}),
            (f"/dashboard/payments/{payment['id']}/shares", {"form_no": "dashguard0001", "receiver_1": receiver["id"],
                                                              "amount_1": "1.00"}),
            (f"/dashboard/sharing/orders/{order['id']}/returns", {"form_no": "dashguard0002",
                                                                  "receiver_id": receiver["id"], "amount": "1.00"})]


def test_read_only_keys_and_forms_without_the_token_change_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    payment, receiver, order = shared_order(merchant)
    wait_settled(merchant, f"/v1/profit_sharing/orders/{order['id']}", "finished", "sharing.sync")
    forms = _guarded_forms(receiver, payment, order, receiver["channel_account_id"])
    made = merchant.api.post("/v1/api_keys", json={"mode": "test", "read_only": True})
    assert made.status_code == 201, made.text
    reader = signed_in(platform, made.json()["key"])
    page = reader.get("/dashboard/sharing").text
    assert receiver["account"] in page and 'id="receiver-form"' not in page and 'id="remove-' not in page
    payment_page = reader.get(f"/dashboard/payments/{payment['id']}").text
    assert 'id="share-form"' not in payment_page and 'id="return-form-' not in payment_page
    before = counts(platform)
    for path, data in forms:
        refused = reader.post(path, data={**data, "csrf": csrf(page)})
        assert refused.status_code == 403 and "read_only_key" in refused.text, (path, refused.text)
    client = signed_in(platform, key_of(merchant.api))
    assert 'id="share-form"' in client.get(f"/dashboard/payments/{payment['id']}").text
    for path, data in forms:
        for token in ({}, {"csrf": "guessed"}):
            forged = client.post(path, data={**data, **token})
            assert forged.status_code == 403 and "csrf_failed" in forged.text, (path, forged.text)
    assert counts(platform) == before
    assert merchant.api.get(f"/v1/profit_sharing/receivers/{receiver['id']}").json()["status"] == "active"
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["shared_amount"] == 1_000


def test_another_merchants_receivers_orders_and_payments_are_not_found(platform: PlatformUnderTest) -> None:
    owner = platform.merchant("Owner")
    payment, receiver, order = shared_order(owner)
    other = platform.merchant("Other")
    own_account = other.sandbox_account("wechatpay")
    own_receiver = wechat_receiver(other, own_account["id"])
    client = signed_in(platform, key_of(other.api))
    page = client.get("/dashboard/sharing").text
    assert receiver["account"] not in page and order["id"] not in page and own_receiver["account"] in page
    before = counts(platform)
    for path, data in _guarded_forms(receiver, payment, order, receiver["channel_account_id"]):
        refused = client.post(path, data={**data, "csrf": csrf(page)})
        assert refused.status_code == 404, (path, refused.text)
    with_own = client.post(f"/dashboard/payments/{payment['id']}/shares", data={
        "csrf": csrf(page), "form_no": "dashguard0003", "receiver_1": own_receiver["id"], "amount_1": "1.00"})
    assert with_own.status_code == 404 and "payment_not_found" in with_own.text
    assert counts(platform) == before
    live = signed_in(platform, key_of(owner.live))  # the owner's live key does not see test data either
    assert receiver["account"] not in live.get("/dashboard/sharing").text
    admin = signed_in(platform, platform.settings.admin_key or "")
    sent_away = admin.get("/dashboard/sharing")
    assert sent_away.status_code == 303 and sent_away.headers["location"] == "/dashboard"


def test_garbage_in_every_field_is_a_4xx_and_writes_nothing(platform: PlatformUnderTest) -> None:
    """The routes' own checks as a signed-in merchant with a good token (the API-wide sweep reaches the
    dashboard signed out only), against real objects and odd ids."""
    merchant = platform.merchant()
    payment, receiver, order = shared_order(merchant)
    wait_settled(merchant, f"/v1/profit_sharing/orders/{order['id']}", "finished", "sharing.sync")
    client = signed_in(platform, key_of(merchant.api))
    token = csrf(client.get("/dashboard/sharing").text)
    account_id, receiver_id = receiver["channel_account_id"], receiver["id"]
    odd_forms: list[dict[str, str]] = [
        {}, {"form_no": "", "amount": "", "receiver_id": "", "type": "", "account": ""},
        {"form_no": "dash" + "x" * 300, "amount": "1e30", "receiver_id": "rcv_" + "x" * 300, "amount_1": "1e999",
         "receiver_1": "rcv_nope"},
        {"form_no": "dash!!", "amount": "NaN", "amount_1": "Infinity", "receiver_1": receiver_id, "finish": "yes"},
        {"form_no": "dash你好你好你好", "amount": "-1", "amount_1": "0.001", "receiver_1": receiver_id,
         "receiver_id": receiver_id},
        {"form_no": "dashodd00001", "amount": "99999999.99", "receiver_id": receiver_id,  # an amount, too much
         "amount_1": "99999999.99", "receiver_1": receiver_id},
        {"form_no": "dashodd00002", "amount": "40000000000000000", "receiver_id": receiver_id,
         "amount_2": "40000000000000000", "receiver_2": receiver_id},
        {"form_no": "dashodd00003", "amount": "1", "receiver_id": "\x00", "amount_1": "1", "receiver_1": "\x00",
         "amount_2": "1", "receiver_2": receiver_id, "amount_3": "1", "receiver_3": receiver_id},
        {"channel_account_id": account_id, "type": "bogus", "account": "x" * 500, "relation": "boss", "name": ""},
        {"channel_account_id": account_id, "type": "alipay_user_id", "account": "2088000000000001"},
        {"channel_account_id": account_id, "type": "wechat_merchant", "account": "1900000001", "name": " "},
        {"channel_account_id": "\x00", "type": "wechat_openid", "account": "o" + "z" * 27},
        {"channel_account_id": account_id, "type": "wechat_openid", "account": "o" + "z" * 27,
         "description": "d" * 81},
    ]
    paths = ["/dashboard/sharing/receivers"]
    for odd in (receiver_id, "nope", "pay_" + "x" * 300, "%E4%BD%A0", "..%2F..%2Fetc"):
        paths += [f"/dashboard/sharing/receivers/{odd}/remove", f"/dashboard/sharing/orders/{odd}/returns"]
    for odd in (payment["id"], order["id"], "nope", "pay_" + "x" * 300):
        paths += [f"/dashboard/payments/{odd}/shares", f"/dashboard/sharing/orders/{odd}/returns"]
    before = counts(platform)
    seen: set[int] = set()
    for path in paths:
        if path.endswith("/remove") and receiver_id in path:
            continue  # a good form there removes the receiver: it is the one action without fields
        for data in odd_forms:
            answer = client.post(path, data={**data, "csrf": token})
            seen.add(answer.status_code)
            assert answer.status_code < 500, (path, data, answer.status_code, answer.text[:300])
        for body, kind in ((b"{", "application/json"), (b"\xff\xfe\x00", "application/octet-stream"),
                           (b"--x\r\nbroken", "multipart/form-data; boundary=x")):
            odd_body = client.post(path, content=body, headers={"Content-Type": kind})
            assert odd_body.status_code < 500, (path, body, odd_body.text[:300])
    assert client.get("/dashboard/sharing", params={"starting_after": "\x01", "status": "[]"}).status_code == 200
    assert counts(platform) == before
    assert {400, 404, 409} <= seen and all(400 <= status < 500 or status == 200 for status in seen), seen
    assert httpx.codes.is_success(client.get(f"/dashboard/payments/{payment['id']}").status_code)
