"""Bad input on every route of the API: never a 500, always a JSON error with a stable code.

The routes are taken from the application's own OpenAPI description (and the checkout's and callbacks'
routers, kept out of it), so a route added later is covered without touching this file. Each is called as
the operator, as a merchant (test key) and with no key (from an address of its own), with path parameters
that name nothing or are malformed, with query parameters of the wrong kind, and — where it takes a body —
with bodies that are not JSON, not an object, or objects whose fields have the wrong types. Every answer
must be below 500, and a 4xx in JSON must carry ``error.code``. No row may be written by any of that (the
database's row counts before and after), except the audit log's record of each refused request; an empty
or ``null`` body — "no body" to a route whose body is optional, such as a key roll with its defaults — is
sent afterwards and checked for server errors only.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.routing import APIRoute

from indiepay.app import create_app
from indiepay.notify.api import router as notify_router
from indiepay.web.checkout import router as checkout_router
from indiepay.web.dashboard import router as dashboard_router
from indiepay.web.dashboard_accounts import router as dashboard_accounts_router
from indiepay.web.dashboard_books import router as dashboard_books_router
from indiepay.web.dashboard_keys import router as dashboard_keys_router
from indiepay.web.dashboard_pages import router as dashboard_pages_router
from indiepay.web.dashboard_webhooks import router as dashboard_webhooks_router
from tests.support.platform import PlatformUnderTest

ODD_IDS = ("nope", "pay_" + "x" * 300, "%00", "..%2F..%2Fetc", "%E4%BD%A0%E5%A5%BD", "1;DROP TABLE payments")
ODD_QUERY = {"limit": "-1", "starting_after": "\x00", "status": "[]", "since": "not-a-date", "date": "2026-13-40",
             "livemode": "maybe", "kind": "'", "out_trade_no": "x" * 500}
# no body at all, as JSON may say it: a route whose body is optional takes these as "no body" (e.g. a key
# roll with the defaults), so they are checked for server errors only, after the no-write check
NO_BODIES: tuple[tuple[bytes, str], ...] = ((b"", "application/json"), (b"null", "application/json"))
ODD_BODIES: tuple[tuple[bytes, str], ...] = (
    (b"{", "application/json"),
    (b"[]", "application/json"),
    (b'"text"', "application/json"),
    (b"1e999", "application/json"),
    (b'{"amount": "NaN", "currency": 7, "method": [], "reason": {}, "note": null, "action": 1}',
     "application/json"),
    (b'{"amount": 1e30, "out_trade_no": "\\u0000", "url": "javascript:alert(1)", "rules": "x"}',
     "application/json"),
    (b'{"a":' * 200 + b"1" + b"}" * 200, "application/json"),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
    (b"amount=1&currency=CNY", "application/x-www-form-urlencoded"),
)
AUDIT = "audit_events"  # bad input may add rows here only: refused requests are audited by design


def _routes(platform: PlatformUnderTest) -> list[tuple[str, str]]:
    """Every (method, path) of the API, from the application's own OpenAPI description, and of the pages
    and callbacks kept out of it (the buyer's checkout, the channels' callbacks)."""
    paths = create_app(platform.settings, runtime=platform.runtime).openapi()["paths"]
    found = [(method.upper(), path) for path, operations in paths.items() for method in operations
             if path.startswith("/v1/")]
    for router in (checkout_router, notify_router, dashboard_router, dashboard_pages_router,
                   dashboard_books_router, dashboard_webhooks_router, dashboard_accounts_router,
                   dashboard_keys_router):
        found += [(method, route.path) for route in router.routes if isinstance(route, APIRoute)
                  for method in sorted(route.methods - {"HEAD"})]
    return found


def _fill(path: str, value: str) -> str:
    while "{" in path:
        start = path.index("{")
        path = path[:start] + value + path[path.index("}", start) + 1:]
    return path


def _row_counts(platform: PlatformUnderTest) -> dict[str, int]:
    tables = [name for (name,) in platform.sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                               "AND name NOT LIKE 'sqlite_%'")]
    return {name: platform.sql(f'SELECT count(*) FROM "{name}"')[0][0] for name in tables}


def _check(response: httpx.Response, what: str, seen: set[int] | None = None) -> None:
    if seen is not None:
        seen.add(response.status_code)
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        body: Any = response.json()
        code = body.get("error", {}).get("code")
        if "/notify/" in what and code is None:  # a callback is answered in its channel's format
            code = body.get("code")  # (WeChat Pay: {"code": "FAIL", "message": …})
        assert isinstance(code, str), f"{what}: {body}"


def _call_everything(routes: list[tuple[str, str]], callers: dict[str, httpx.Client],
                     bodies: tuple[tuple[bytes, str], ...], statuses: dict[str, set[int]]) -> int:
    """Every route as every caller, with odd ids, odd query parameters and each of ``bodies``."""
    calls = 0
    for method, template in routes:
        for role, client in callers.items():
            if (method, template) == ("POST", "/dashboard/login") and role != "anonymous":
                continue  # every odd sign-in fails: counted against the caller's address, so the stranger's only
            for odd in ODD_IDS[:3] if "{" in template else ("",):
                path = _fill(template, odd)
                what = f"{role} {method} {path[:80]}"
                if method == "GET":
                    _check(client.get(path, params=ODD_QUERY), what, statuses[role])
                    calls += 1
                    continue
                for body, content_type in bodies:
                    _check(client.request(method, path, content=body, headers={"Content-Type": content_type}),
                           f"{what} body {body[:40]!r}", statuses[role])
                    calls += 1
    return calls


def test_no_route_answers_bad_input_with_a_server_error(platform: PlatformUnderTest) -> None:
    shop = platform.merchant("Odd Input Tea")
    shop.api.post("/v1/channel_accounts", json={"channel": "wechatpay", "sandbox": True}).raise_for_status()
    # from an address of its own: its failed authentications throttle that address, not the others'
    anonymous = httpx.Client(base_url=platform.base_url, timeout=60,
                             transport=httpx.HTTPTransport(local_address="127.0.0.9"))
    platform.clients.append(anonymous)
    callers = {"admin": platform.admin, "merchant": shop.api, "anonymous": anonymous}
    statuses: dict[str, set[int]] = {role: set() for role in callers}
    routes = _routes(platform)
    assert len(routes) > 40  # the whole API, not a stub of it
    before = _row_counts(platform)
    calls = _call_everything(routes, callers, ODD_BODIES, statuses)
    after = _row_counts(platform)
    calls += _call_everything(routes, callers, NO_BODIES, statuses)
    for method, template in routes:  # the rest of the odd ids once, as the merchant
        for odd in ODD_IDS[3:] if "{" in template else ():
            _check(shop.api.request(method, _fill(template, odd)), f"merchant {method} {template} {odd}")
            calls += 1
    assert calls > 500
    # the known callers reached the routes' own checks (validation, lookups), not the failure limiter
    assert 429 not in statuses["admin"] | statuses["merchant"] and {400, 404} <= statuses["merchant"], statuses
    assert {k: v for k, v in after.items() if k != AUDIT} == {k: v for k, v in before.items() if k != AUDIT}
    audited = platform.sql(f"SELECT action, result FROM {AUDIT} ORDER BY sequence")[before[AUDIT]:after[AUDIT]]
    assert audited and {result for _, result in audited} == {"refused"}, audited  # what was refused, nothing done
