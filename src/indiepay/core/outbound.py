"""Where the platform may send a request a merchant asked for: its webhooks and its alert webhooks.

A merchant chooses these URLs, and the server posts to them — from inside the network it runs in. Unchecked,
a merchant key (a test key, handed to any developer) made the server post to ``127.0.0.1``, the cloud's
metadata address ``169.254.169.254`` or any internal host, and the delivery log told it what answered
there: a port scanner of the platform's own network. So a URL's host is resolved and every address it
resolves to must be a public one — unless the operator allows private targets (``INDIEPAY_OUTBOUND_PRIVATE_
TARGETS``): ``test`` (the default) lets test-mode endpoints reach them, for a developer's local receiver
next to ``make serve``; ``none`` allows them for no one (a production platform reachable from the internet);
``all`` for everyone (a closed network whose merchants' systems sit on private addresses). A live endpoint
that may not reach private addresses must also use HTTPS: live events carry real payments. Credentials
in the URL are refused (they would be shown back and repeated in alert texts).

The check runs when a URL is set and again before each delivery (a name can be pointed elsewhere after it
was checked), where it gives the refusal its reason. What it cannot stop alone is a name that resolves
differently between the check and the connection a moment later (DNS rebinding): that is closed by the
connection itself — the platform's transport resolves the name once, checks every address with
:func:`is_public` and connects only to an address it checked (``public_only`` in
:func:`indiepay.webhooks.deadline.post_within`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import httpx

from indiepay.core.errors import InvalidRequest

PRIVATE_TARGETS = ("test", "none", "all")
Resolver = Callable[[str], Iterable[str]]


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal, in any notation the resolver takes, to itself)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)})


def private_allowed(policy: str, *, livemode: bool) -> bool:
    """Whether an endpoint of this mode may reach private addresses under the operator's policy."""
    return policy == "all" or (policy == "test" and not livemode)


def is_public(address: str) -> bool:
    """A globally routable unicast address: not loopback, private, link-local (the metadata service),
    shared (CGNAT), multicast, reserved or unspecified — IPv4 as IPv6 (``::ffff:127.0.0.1``) too."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def refusal(url: str, *, livemode: bool, private_ok: bool, resolver: Resolver = resolve) -> str | None:
    """Why the platform may not send to ``url`` (None: it may). A host that does not resolve (yet) is not
    refused here: the delivery then fails and is retried, and is checked again before it is sent."""
    if any(char.isspace() or not char.isprintable() for char in url):
        return "the address may not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        httpx.URL(url)  # what the sender will parse: a host name IDNA cannot encode is never reachable
    except (ValueError, httpx.InvalidURL):
        return "not a URL the platform can send to"
    if parts.scheme not in ("http", "https") or not host:
        return "the address must be an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "the address may not carry credentials"
    if private_ok:
        return None
    if livemode and parts.scheme != "https":
        return "a live endpoint must use https"
    try:
        addresses = list(resolver(host))
    except (OSError, UnicodeError):
        return None
    private = [address for address in addresses if not is_public(address)]
    if private:
        return f"{host} resolves to an address that is not public ({private[0]})"
    return None


def check(url: str, *, livemode: bool, policy: str, code: str = "webhook_url_not_allowed",
          resolver: Resolver = resolve) -> None:
    """Refuse a URL the platform may not send to.

    Raises:
        InvalidRequest (``code``): with ``details.reason``.
    """
    reason = refusal(url, livemode=livemode, private_ok=private_allowed(policy, livemode=livemode),
                     resolver=resolver)
    if reason is not None:
        raise InvalidRequest(f"the platform will not send to this address: {reason}", code=code,
                             details={"reason": reason})
