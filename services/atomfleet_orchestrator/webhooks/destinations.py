"""SSRF guard: where a webhook may be sent.

A destination's host is resolved when the endpoint is created or changed (to refuse it early)
and again at every send; the request then goes to the address that was checked (the URL names
the IP; ``Host`` and TLS SNI/verification keep the name), so a DNS answer that changes between
check and connect (rebinding) cannot reach an address that was never checked.

Refused unless ``ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS`` admits them: every address that is not
globally routable (loopback, private, link-local — cloud metadata 169.254.169.254 among them —,
CGNAT 100.64/10, unspecified, reserved, documentation ranges), multicast, and the metadata
addresses that are not in those ranges. A host with any refused address is refused whole.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

__all__ = ["Destination", "DestinationRefused", "check_address", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Metadata services reachable on addresses that look public to the ipaddress module.
_METADATA = frozenset({ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")})


class DestinationRefused(Exception):
    """The URL cannot be used: ``code`` is `webhook_url_refused` or `webhook_url_unresolvable`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Destination:
    url: str  # the URL to request: the checked IP in place of the host name
    host_header: str
    sni_hostname: str | None  # https only: the name TLS verifies


def check_address(address: IPAddress) -> str | None:
    """Why ``address`` may not be reached (None when it may)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in settings.ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS):
        return None
    if address in _METADATA:
        return "a cloud metadata address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private or not address.is_global:
        return "a private or reserved address"
    return None


_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def _getaddrinfo(host: str, port: int) -> list[Any]:
    """``getaddrinfo`` bounded by ATOMFLEET_WEBHOOK_RESOLVE_TIMEOUT.

    The system resolver has no deadline of its own (an unanswering name server: 5 s per try and
    server), and an API request or a sender must not wait on it. It runs on a few threads of their
    own; past the deadline the name counts as unresolvable and the lookup finishes in the
    background (it cannot be interrupted). The pool is bounded: hung lookups queue, never pile up.
    """
    global _resolver
    with _resolver_lock:
        if _resolver is None:  # created on first use: a gunicorn worker forks before any lookup
            _resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")
    timeout = settings.ATOMFLEET_WEBHOOK_RESOLVE_TIMEOUT
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()
        raise OSError(f"no answer from the resolver within {timeout:g}s") from None


def _addresses(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = _getaddrinfo(host, port)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused("webhook_url_unresolvable", f"cannot resolve {host!r}: {exc}") from None
    # Drop an IPv6 scope (fe80::1%eth0): link-local is refused anyway.
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


def resolve(url: str) -> Destination:
    """Resolve and check ``url``'s host; raises :class:`DestinationRefused`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused("webhook_url_refused", "the URL must be http:// or https:// with a host")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused("webhook_url_refused", "the URL's port is not valid") from None
    addresses = _addresses(host, port)
    for address in addresses:
        reason = check_address(address)
        if reason is not None:
            raise DestinationRefused(
                "webhook_url_refused",
                f"{host!r} resolves to {address}, {reason}; ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS can admit it",
            )
    chosen = addresses[0]
    literal = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{literal}:{port}"
    host_header = parts.netloc.rpartition("@")[2]
    return Destination(
        url=parts._replace(netloc=netloc).geturl(),
        host_header=host_header,
        sni_hostname=host if parts.scheme == "https" else None,
    )
