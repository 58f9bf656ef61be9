"""Builders and Hypothesis strategies for the routing tests, and ``can_take``: the routing rules written out
plainly as the oracle. Small alphabets of ids, channels and methods, skewed so that random snapshots
often hold several accounts that fit a random request (every rule's branch is reached)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from indiepay.routing.rules import AccountSnapshot, RouteRequest

METHODS = {"wechatpay": ("wechat_native", "wechat_jsapi", "wechat_h5"),
           "alipay": ("alipay_qr", "alipay_page", "alipay_wap")}
ALL_METHODS = tuple(method for methods in METHODS.values() for method in methods)


def account(account_id: str, **fields: Any) -> AccountSnapshot:
    """A healthy, enabled, uncapped production WeChat primary serving every WeChat method, weight 1."""
    values: dict[str, Any] = {"channel": "wechatpay", "environment": "production",
                              "methods": frozenset(METHODS["wechatpay"]), "role": "primary", "weight": 1,
                              "enabled": True, "health": "closed", "daily_cap": None, "used_today": 0, **fields}
    return AccountSnapshot(id=account_id, **values)


def request(amount: int = 100, **fields: Any) -> RouteRequest:
    values: dict[str, Any] = {"channel": "wechatpay", "environment": "production", "method": "wechat_native",
                              **fields}
    return RouteRequest(amount=amount, **values)


# skewed towards production WeChat so that most snapshots hold several accounts that fit the request
_CHANNEL = st.sampled_from(("wechatpay", "wechatpay", "wechatpay", "alipay"))
_ENVIRONMENT = st.sampled_from(("production", "production", "production", "sandbox"))
_FIELDS = st.tuples(
    st.integers(0, 99),  # id
    _CHANNEL, _ENVIRONMENT,
    # mostly WeChat methods, sometimes Alipay's too (a misconfiguration that must never match a request)
    st.just(frozenset(METHODS["wechatpay"])) | st.frozensets(st.sampled_from(ALL_METHODS)),
    st.sampled_from(("primary", "backup")), st.integers(0, 6), st.sampled_from((True, True, True, False)),
    st.sampled_from(("closed", "closed", "closed", "half_open", "open")),
    st.none() | st.integers(0, 1_000), st.integers(0, 1_000))


def _build(fields: tuple[Any, ...]) -> AccountSnapshot:
    number, channel, environment, methods, role, weight, enabled, health, daily_cap, used_today = fields
    return AccountSnapshot(id=f"acct_{number:02d}", channel=channel, environment=environment, methods=methods,
                           role=role, weight=weight, enabled=enabled, health=health, daily_cap=daily_cap,
                           used_today=used_today)


def snapshots(max_size: int = 8) -> st.SearchStrategy[list[AccountSnapshot]]:
    """Up to ``max_size`` accounts with distinct ids, in random order."""
    return st.lists(_FIELDS, max_size=max_size, unique_by=lambda fields: fields[0]).map(
        lambda rows: [_build(row) for row in rows])


@st.composite
def requests(draw: st.DrawFn) -> RouteRequest:
    channel = draw(_CHANNEL)
    return RouteRequest(channel=channel, environment=draw(_ENVIRONMENT),
                        method=draw(st.sampled_from(METHODS[channel])), amount=draw(st.integers(1, 600)))


picks = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


def can_take(account: AccountSnapshot, req: RouteRequest) -> bool:
    """The oracle: the rules written out plainly, independently of the implementation."""
    return (account.environment == req.environment and account.channel == req.channel
            and req.method in account.methods and account.enabled and account.health != "open"
            and account.weight > 0
            and (account.daily_cap is None or account.used_today + req.amount <= account.daily_cap))
