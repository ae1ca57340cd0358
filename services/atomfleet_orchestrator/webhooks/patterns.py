"""Event type patterns an endpoint subscribes with: an exact type (`run.succeeded`), a family
(`workflow.*`) or everything (`*`)."""

from __future__ import annotations

from collections.abc import Iterable

from atomfleet_orchestrator.events.models import EventType

__all__ = ["EVENT_TYPES", "FAMILIES", "invalid_patterns", "matches"]

# The event log's vocabulary, as the event log defines it (docs/events.md).
EVENT_TYPES = frozenset(str(t) for t in EventType)
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
