"""The submit rate limit: one token bucket per tenant in Redis, shared by every API pod.

One Lua script refills the bucket from the time elapsed (Redis's own clock: API hosts' clocks
may differ) and takes the request's runs in one atomic step, so concurrent requests on any number
of pods never spend the same tokens twice. A request takes its whole count or nothing. A request
larger than the burst (a batch above ``submit_burst`` items) is admitted when the bucket holds a
full burst and leaves it in debt: the tenant's long-run rate stays ``submit_rate``, and a batch
is never refused forever.

Redis down or slow (``ATOMFLEET_RATE_LIMIT_TIMEOUT``): :func:`take` returns None and the submit
is admitted (fail-open, like the broker being down sends runs to the outbox): the quota, in
PostgreSQL, still bounds what a tenant can queue. The failure is logged and counted, and Redis is
not asked again for ``_BACKOFF_SECONDS``, so an outage does not add a timeout to every submit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.exceptions import RedisError

from atomfleet_orchestrator.observability.metrics import record_rate_limiter_error

__all__ = ["Bucket", "take"]

log = logging.getLogger(__name__)

KEY_PREFIX = "atomfleet:ratelimit:submit:"
_BACKOFF_SECONDS = 5.0

# KEYS[1]: the bucket; ARGV: rate (tokens/s), burst, requested. Returns {admitted, tokens left}.
# Tokens are kept as a float string (a Lua number returned to Redis would be truncated).
_TAKE = """
if redis.replicate_commands then redis.replicate_commands() end
local rate, burst, wanted = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local admitted = 0
if tokens >= math.min(wanted, burst) then
  tokens = tokens - wanted
  admitted = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
-- Gone once it would be full again: an idle tenant costs no memory.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - math.min(tokens, 0)) / rate * 1000) + 1000)
return {admitted, tostring(tokens)}
"""


@dataclass(frozen=True)
class Bucket:
    """The outcome of one take, with what the RateLimit header fields say."""

    admitted: bool
    burst: int
    rate: float
    tokens: float  # left after this request (negative: in debt after a request above the burst)
    wanted: int

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens))

    @property
    def reset_seconds(self) -> int:
        """Seconds until the bucket is full again."""
        return max(0, math.ceil((self.burst - self.tokens) / self.rate))

    @property
    def retry_after(self) -> int:
        """Seconds until this request would be admitted (at least 1)."""
        missing = min(self.wanted, self.burst) - self.tokens
        return max(1, math.ceil(missing / self.rate))

    @property
    def window_seconds(self) -> int:
        """The time a full burst takes to refill: the policy's window."""
        return max(1, math.ceil(self.burst / self.rate))

    def headers(self) -> dict[str, str]:
        """The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Limit": str(self.burst),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.burst};w={self.window_seconds}",
        }


class _Client:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._script: object = None
        self._url = ""
        self.down_until = 0.0

    def get(self) -> tuple[redis.Redis, object]:
        """The client of the broker's Redis (the URL the API publishes to: one Redis to run)."""
        from atomfleet_orchestrator.celery import app

        url = str(app.conf.broker_url)
        with self._lock:
            if self._client is None or self._url != url:
                self.down_until = 0.0  # another Redis: ask it
                timeout = settings.ATOMFLEET_RATE_LIMIT_TIMEOUT
                self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
                self._script = self._client.register_script(_TAKE)
                self._url = url
            return self._client, self._script


_client = _Client()


def take(tenant_id: int, runs: int, rate: float, burst: int) -> Bucket | None:
    """Take ``runs`` tokens from the tenant's bucket; None when Redis could not be asked."""
    try:
        _, script = _client.get()
        if time.monotonic() < _client.down_until:
            record_rate_limiter_error()
            return None
        admitted, tokens = script(keys=[f"{KEY_PREFIX}{tenant_id}"], args=[rate, burst, runs])  # type: ignore[operator]
    except (RedisError, OSError, ValueError) as exc:
        _client.down_until = time.monotonic() + _BACKOFF_SECONDS
        record_rate_limiter_error()
        log.warning("rate limiter: Redis unavailable, submits admitted without a rate check for %gs: %s",
                    _BACKOFF_SECONDS, exc)
        return None
    return Bucket(bool(admitted), burst, rate, float(tokens), runs)
