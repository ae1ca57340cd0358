"""Webhook metrics, counted in the senders (the `webhooks` workers' /metrics, multiprocess)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from atomfleet_orchestrator.observability.metrics import OnFirstUse

__all__ = ["ATTEMPT_RESULTS", "DELIVERY_OUTCOMES", "precreate_webhook_series", "record_attempt", "record_outcome"]

# One attempt's result; `refused`: the SSRF guard stopped it before connecting.
ATTEMPT_RESULTS = ("success", "http_error", "throttled", "gone", "timeout", "network_error", "refused")
# A delivery's end: `endpoint_gone` (410), `expired` (its event was pruned first).
DELIVERY_OUTCOMES = ("delivered", "failed", "endpoint_gone", "expired")

WEBHOOK_ATTEMPTS = Counter("atomfleet_webhook_attempts", "Webhook delivery attempts, by result.", ("result",))
WEBHOOK_DELIVERIES = Counter(
    "atomfleet_webhook_deliveries", "Webhook deliveries that ended, by outcome.", ("outcome",)
)
# Unlabeled: defined on first use, in the sender's own metrics folder (observability.metrics).
WEBHOOK_LATENCY = OnFirstUse(lambda: Histogram(
    "atomfleet_webhook_latency_seconds",
    "Time from sending a webhook to its receiver's answer (seconds; attempts that got one).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, float("inf")),
))


def precreate_webhook_series() -> None:
    for result in ATTEMPT_RESULTS:
        WEBHOOK_ATTEMPTS.labels(result)
    for outcome in DELIVERY_OUTCOMES:
        WEBHOOK_DELIVERIES.labels(outcome)
    WEBHOOK_LATENCY()


def record_attempt(result: str, latency: float | None) -> None:
    WEBHOOK_ATTEMPTS.labels(result).inc()
    if latency is not None:
        WEBHOOK_LATENCY().observe(latency)


def record_outcome(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(outcome).inc()
