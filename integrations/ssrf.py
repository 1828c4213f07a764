"""Where the desk may send: refuse URLs that reach inside the network (SSRF).

Checked when an endpoint is saved and again before every send, after resolving the host, and
the connection then goes to the address that was checked (a name that resolves to a public
address at save time and to 127.0.0.1 later is refused then). Loopback, private, link-local,
multicast, reserved and unspecified addresses are refused unless they fall inside
WEBHOOK_ALLOWED_NETWORKS. Production sends to https URLs only (WEBHOOK_REQUIRE_HTTPS).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrl(ValueError):
    """The URL may not be used; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # the checked addresses, to connect to


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(cidr.strip(), strict=False)
        for cidr in settings.WEBHOOK_ALLOWED_NETWORKS
        if cidr.strip()
    ]


def _is_internal(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def check_address(raw: str) -> None:
    address = ipaddress.ip_address(raw.split("%", 1)[0])
    if not _is_internal(address):
        return
    if any(address in network for network in allowed_networks()):
        return
    raise UnsafeUrl(
        f"{address} is a loopback, private, link-local, multicast or reserved address "
        "(allow it with WEBHOOK_ALLOWED_NETWORKS)."
    )


def parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"Not a valid URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrl("The URL must start with https:// (or http:// outside production).")
    if scheme == "http" and settings.WEBHOOK_REQUIRE_HTTPS:
        raise UnsafeUrl("The URL must use https.")
    if not parts.hostname:
        raise UnsafeUrl("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL may not carry a user name or password.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def resolve(url: str) -> Target:
    """Parse, resolve and check every address of the host; raise UnsafeUrl when any is refused."""
    scheme, host, port, path = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"The host {host} does not resolve ({exc}).") from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeUrl(f"The host {host} does not resolve.")
    for address in addresses:
        check_address(address)
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=addresses)
