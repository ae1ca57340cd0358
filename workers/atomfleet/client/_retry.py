"""When and how long the client waits before trying a request again.

Only what is safe is retried:

- a failure to *connect* (nothing was sent): any request;
- a dropped connection, a read timeout, a 503 or a 429 ``rate_limited`` answer (the request may
  have been processed; a rate-limited one was not, but is retried under the same rule):
  only requests that are safe to repeat, i.e. GET, cancel (idempotent on the server) and
  POSTs that carry an idempotency key (every item's key, for a batch).

The delay grows exponentially with jitter; a 503's or 429's ``Retry-After`` is waited for as given, unless
it exceeds ``max_backoff`` (then the error is raised at once: the service asked for longer than
this client is willing to block).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RetryEvent", "Retries", "answer_retryable", "retry_after"]


@dataclass(frozen=True)
class RetryEvent:
    """Passed to ``Retries.on_retry`` before each wait (log it, count it)."""

    method: str
    path: str
    attempt: int  # the attempt that failed, from 1
    delay: float  # seconds about to be waited
    reason: str  # "503", "ConnectError", ...


@dataclass(frozen=True)
class Retries:
    """Retry settings: ``attempts`` counts the first try (1 turns retries off)."""

    attempts: int = 4
    backoff: float = 0.5  # the first delay's upper bound, doubled at each retry
    max_backoff: float = 30.0
    on_retry: Callable[[RetryEvent], None] | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_backoff < 0:
            raise ValueError("attempts must be >= 1, backoff and max_backoff >= 0")

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed ``attempt`` (from 1), or None to give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_backoff else None
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": spread, never ~0


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def transport_retryable(exc: httpx.TransportError, safe: bool) -> bool:
    return safe or isinstance(exc, _NOT_SENT)


def answer_retryable(response: httpx.Response) -> str | None:
    """Why a safe request may be sent again after this answer ("503", "rate_limited"), or None.

    A 429 ``rate_limited`` created nothing and says when to come back; ``quota_exceeded`` is not
    retried (it lasts until runs end)."""
    if response.status_code == 503:
        return "503"
    if response.status_code == 429:
        try:
            if response.json()["error"]["code"] == "rate_limited":
                return "rate_limited"
        except (ValueError, KeyError, TypeError):
            return None
    return None


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
