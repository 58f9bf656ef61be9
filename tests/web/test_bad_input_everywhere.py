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

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from indiepay.app import create_app
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
    and callbacks kept out of it (the buyer's checkout, the channels' callbacks, the dashboard) — taken from
    the application's routes, so a page added later is swept without being listed here."""
    app = create_app(platform.settings, runtime=platform.runtime)
    paths = app.openapi()["paths"]
    found = [(method.upper(), path) for path, operations in paths.items() for method in operations
             if path.startswith("/v1/")]
    found += [(method, route.path) for route in _api_routes(app.routes) if not route.path.startswith("/v1/")
              for method in sorted(route.methods - {"HEAD"})]
    return found


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """The application's routes, into the routers it includes (FastAPI keeps an included router as one
    entry holding the ``original_router``; ours carry their prefixes themselves)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from _api_routes(included.routes)


def _fill(path: str, value: str) -> str:
    while "{" in path:
        start = path.index("{")
        path = path[:start] + value + path[path.index("}", start) + 1:]
    return path


def _row_counts(platform: PlatformUnderTest) -> dict[str, int]:
    if platform.runtime.ctx.db.is_sqlite:
        tables = [name for (name,) in platform.sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                   "AND name NOT LIKE 'sqlite_%'")]
    else:
        tables = [name for (name,) in platform.sql("SELECT tablename FROM pg_tables WHERE schemaname = "
                                                   "current_schema()")]
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


def test_no_route_answers_bad_input_with_a_server_error(any_platform: PlatformUnderTest) -> None:
    platform = any_platform  # PostgreSQL refuses what SQLite stores (a NUL in text): both are swept
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


ODD_FORMS: tuple[dict[str, str], ...] = (
    {},
    {"amount": "1e999999", "mode": "both", "action": "nope", "url": "javascript:alert(1)", "form_no": "x" * 300,
     "reason": "\x00", "note": "n" * 5000, "method": "cash", "name": "", "short_name": "", "subject_type": "robot",
     "kyc_status": "maybe", "platform_fee_bps": "-1", "single_limit": "1.234", "type": "bogus", "account": "",
     "receiver_1": "\x00", "amount_1": "NaN", "channel": "paypal", "environment": "moon", "role": "king"},
    {"amount": "-0.01", "form_no": "dash你好", "receiver_id": "rcv_nope", "finish": "maybe", "api_key": "\x00",
     "credentials": "{", "daily_limit": "1e30", "tech_fee_bps": "99999", "description": "d" * 1000},
)


def test_no_dashboard_form_answers_bad_input_with_a_server_error(any_platform: PlatformUnderTest) -> None:
    """The dashboard's pages signed in — as a merchant and as the operator, each with the session's form
    token, so every form reaches its own checks — with odd ids, odd query parameters and forms whose every
    field is wrong: never a 500, and nothing written but the audit log's and the sessions' own rows."""
    platform = any_platform
    shop = platform.merchant("Odd Forms Shop")
    shop.api.post("/v1/channel_accounts", json={"channel": "wechatpay", "sandbox": True}).raise_for_status()
    sessions: dict[str, tuple[httpx.Client, str]] = {}
    for role, key in (("merchant", shop.api.headers["Authorization"].removeprefix("Bearer ")),
                      ("operator", platform.settings.admin_key)):
        client = httpx.Client(base_url=platform.base_url, timeout=60, follow_redirects=False)
        platform.clients.append(client)
        assert client.post("/dashboard/login", data={"api_key": key}).status_code == 303
        page = client.get("/dashboard").text
        token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        sessions[role] = (client, token)
    routes = [(method, path) for method, path in _routes(platform)
              if path.startswith("/dashboard") and path not in ("/dashboard/login", "/dashboard/logout")]
    assert len(routes) > 30
    before = _row_counts(platform)
    calls = 0
    for method, template in routes:
        for role, (client, token) in sessions.items():
            for odd in ODD_IDS if "{" in template else ("",):
                path = _fill(template, odd)
                if method == "GET":
                    _check(client.get(path, params=ODD_QUERY), f"{role} GET {path[:80]}")
                    calls += 1
                    continue
                for form in ODD_FORMS:
                    _check(client.post(path, data={**form, "csrf": token}), f"{role} POST {path[:80]} {form}")
                    calls += 1
    after = _row_counts(platform)
    assert calls > 300
    kept = {AUDIT, "dashboard_sessions"}
    assert {k: v for k, v in after.items() if k not in kept} == {k: v for k, v in before.items() if k not in kept}
