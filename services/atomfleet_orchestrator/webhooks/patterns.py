"""Event type patterns an endpoint subscribes with: an exact type (`run.succeeded`), a family
(`workflow.*`) or everything (`*`)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["EVENT_TYPES", "FAMILIES", "invalid_patterns", "matches"]

# The event log's vocabulary (docs/events.md).
EVENT_TYPES = frozenset({
    "run.accepted", "run.started", "run.progress", "run.retrying", "run.succeeded", "run.failed",
    "run.cancelled", "workflow.started", "workflow.succeeded", "workflow.failed", "workflow.cancelled",
    "workflow.step_skipped",
})
FAMILIES = frozenset(t.partition(".")[0] for t in EVENT_TYPES)


def invalid_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns that name no event type (empty when all are valid)."""
    return [
        p for p in patterns
        if not (p == "*" or p in EVENT_TYPES or (p.endswith(".*") and p[:-2] in FAMILIES))
    ]


def matches(patterns: Iterable[str], event_type: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False
