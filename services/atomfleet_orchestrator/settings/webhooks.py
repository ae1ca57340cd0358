"""Webhooks: delivery timings, retry schedule, secrets, and the destinations they may reach
(docs/events.md, "Webhooks"; docs/configuration.md)."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from atomfleet_orchestrator.envconfig import env_float, env_int, env_str, require_below


def _schedule(name: str, default: str) -> tuple[float, ...]:
    raw = env_str(name, default)
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a comma-separated list of seconds, got {raw!r}") from None
    if not delays or any(d < 0 or d != d for d in delays):
        raise ImproperlyConfigured(f"{name} must list at least one delay, none negative, got {raw!r}")
    return delays


def _networks(name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    raw = env_str(name, "")
    try:
        return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a comma-separated list of CIDRs: {exc}") from None


# Standard Webhooks' schedule: the delay before each attempt, the first one immediate. Each delay
# is stretched by a random 0 to ATOMFLEET_WEBHOOK_RETRY_JITTER of itself.
ATOMFLEET_WEBHOOK_RETRY_SCHEDULE = _schedule(
    "ATOMFLEET_WEBHOOK_RETRY_SCHEDULE", "0,5,300,1800,7200,18000,36000,50400,72000,86400"
)
ATOMFLEET_WEBHOOK_RETRY_JITTER = env_float("ATOMFLEET_WEBHOOK_RETRY_JITTER", 0.1, minimum=0)
# A Retry-After longer than this is cut to it (a receiver cannot park a delivery for a month).
ATOMFLEET_WEBHOOK_MAX_RETRY_AFTER = env_float("ATOMFLEET_WEBHOOK_MAX_RETRY_AFTER", 86400, minimum=0)
ATOMFLEET_WEBHOOK_TIMEOUT = env_float("ATOMFLEET_WEBHOOK_TIMEOUT", 15, minimum=0.1)
# A sender holds a delivery this long; past it (the sender died) beat publishes it again and the
# next sender retries with the same webhook-id. Above the timeout so a live sender keeps it.
ATOMFLEET_WEBHOOK_LEASE_SECONDS = env_float("ATOMFLEET_WEBHOOK_LEASE_SECONDS", 60, minimum=1)
# A published delivery no sender claimed in this long (its message was lost) is published again.
ATOMFLEET_WEBHOOK_DISPATCH_TIMEOUT = env_float("ATOMFLEET_WEBHOOK_DISPATCH_TIMEOUT", 120, minimum=1)
# A destination's name must resolve within this long (at create/update and at each send).
ATOMFLEET_WEBHOOK_RESOLVE_TIMEOUT = env_float("ATOMFLEET_WEBHOOK_RESOLVE_TIMEOUT", 2, minimum=0.1)
ATOMFLEET_WEBHOOK_INTERVAL = env_float("ATOMFLEET_WEBHOOK_INTERVAL", 1, minimum=0.1)
ATOMFLEET_WEBHOOK_BATCH = env_int("ATOMFLEET_WEBHOOK_BATCH", 500, minimum=1)
# After a rotation the old secret also signs for this long.
ATOMFLEET_WEBHOOK_SECRET_GRACE_SECONDS = env_int("ATOMFLEET_WEBHOOK_SECRET_GRACE_SECONDS", 86400, minimum=0)
ATOMFLEET_WEBHOOK_REPLAY_MAX_EVENTS = env_int("ATOMFLEET_WEBHOOK_REPLAY_MAX_EVENTS", 10000, minimum=1)
ATOMFLEET_WEBHOOK_MAX_ENDPOINTS = env_int("ATOMFLEET_WEBHOOK_MAX_ENDPOINTS", 50, minimum=1)
# Destinations in these networks are allowed although not public (loopback, private, link-local,
# CGNAT, metadata addresses are refused otherwise). `atomfleet dev` admits loopback.
ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS = _networks("ATOMFLEET_WEBHOOK_ALLOWED_NETWORKS")

require_below(
    "ATOMFLEET_WEBHOOK_TIMEOUT", ATOMFLEET_WEBHOOK_TIMEOUT,
    "ATOMFLEET_WEBHOOK_LEASE_SECONDS", ATOMFLEET_WEBHOOK_LEASE_SECONDS,
    "a sender still waiting for the receiver must not lose its delivery to another sender",
)
