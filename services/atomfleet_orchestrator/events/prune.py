"""Retention: events older than ATOMFLEET_EVENT_RETENTION_DAYS are deleted by beat in bounded batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import DateTimeField, ExpressionWrapper, Value
from django.db.models.functions import Now

from atomfleet_orchestrator.events.models import Event

__all__ = ["Pruned", "prune_events"]


@dataclass(frozen=True)
class Pruned:
    deleted: int
    batches: int
    more: bool  # the last round stopped at its batch cap: the next one continues


def prune_events(batch_size: int | None = None, max_batches: int | None = None) -> Pruned:
    """Delete expired events, ``batch_size`` rows per statement, at most ``max_batches`` statements.

    Each batch is its own short transaction (the table is never locked for long, and a reader's
    horizon is never held back by pruning); what is left waits for the next round.
    """
    size = batch_size or settings.ATOMFLEET_EVENT_PRUNE_BATCH
    rounds = max_batches or settings.ATOMFLEET_EVENT_PRUNE_MAX_BATCHES
    cutoff = ExpressionWrapper(
        Now() - Value(timedelta(days=settings.ATOMFLEET_EVENT_RETENTION_DAYS)), output_field=DateTimeField()
    )
    deleted = batches = 0
    while batches < rounds:
        ids = list(Event.objects.filter(created_at__lt=cutoff).order_by("created_at").values_list("id", flat=True)[:size])
        if not ids:
            return Pruned(deleted, batches, False)
        deleted += Event.objects.filter(id__in=ids).delete()[0]
        batches += 1
        if len(ids) < size:
            return Pruned(deleted, batches, False)
    return Pruned(deleted, batches, True)
