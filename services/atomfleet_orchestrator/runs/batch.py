"""Batch submission: many runs of one atom in one request and one transaction, all or nothing.

Each item goes through ``submit_run``, exactly as if it had its own request (schema, files,
idempotency key), inside one transaction: if any item is refused, the transaction rolls back, no
run of the batch exists and nothing is published, and the error lists every refused item. An item
whose idempotency key names an earlier run with the same args is that run (``created`` False),
also when the same key appears twice in one batch; the same key with other args refuses the item.
Runs are published after the commit, like single submissions (or by the outbox).

Items are inserted in the order of their keys (keyless items last), whatever their order in the
request, and answered in request order: two batches sharing keys then wait on the first shared
key's unique index entry instead of each holding one the other needs (a deadlock, which
PostgreSQL broke by failing one batch with 503).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from atomfleet_orchestrator.runs.errors import BatchRejected, BatchTooLarge, RunError, UnknownAtom
from atomfleet_orchestrator.runs.fairness import turns_at_end
from atomfleet_orchestrator.runs.models import AtomRun
from atomfleet_orchestrator.runs.submission import DEFAULT_PRIORITY, submit_run
from atomfleet_orchestrator.tenancy.admission import Admission
from atomfleet_orchestrator.tenancy.models import Tenant

__all__ = ["BatchItem", "check_batch_size", "submit_batch"]


@dataclass(frozen=True)
class BatchItem:
    args: Any
    idempotency_key: str | None = None
    priority: int = DEFAULT_PRIORITY


def check_batch_size(count: int) -> None:
    limit = settings.ATOMFLEET_BATCH_MAX_ITEMS
    if count > limit:
        raise BatchTooLarge(
            f"a batch holds at most {limit} items, got {count}: split it",
            {"limit": limit, "items": count},
        )


def new_runs(tenant: Tenant, items: Sequence[BatchItem]) -> int:
    """The runs the batch would create: keyless items, and distinct keys no run of the tenant has
    (one indexed query). Replays are not counted: the limits never refuse them."""
    keys = {item.idempotency_key for item in items if item.idempotency_key is not None}
    used = set(AtomRun.objects.filter(tenant=tenant, idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    return sum(1 for item in items if item.idempotency_key is None) + len(keys - used)


def submit_batch(
    tenant: Tenant, created_by: str, atom_name: str, items: Sequence[BatchItem],
    admission: Admission | None = None,
) -> list[tuple[AtomRun, bool]]:
    """Every item's run and whether it was created; raises ``BatchRejected`` naming bad items.

    ``admission`` counts the batch's new runs against the tenant's limits before any item is
    checked (a batch is admitted whole or refused whole) and settles the quota before commit.
    """
    check_batch_size(len(items))
    admission = admission or Admission(tenant)
    admission.admit(new_runs(tenant, items))
    refused: list[dict[str, Any]] = []
    outcomes: dict[int, tuple[AtomRun, bool]] = {}
    # Keys in one canonical order, so concurrent batches lock their rows in the same order.
    canonical = sorted(range(len(items)), key=lambda i: (items[i].idempotency_key is None, items[i].idempotency_key or "", i))
    with turns_at_end():
        for index in canonical:
            item = items[index]
            try:
                outcomes[index] = submit_run(tenant, created_by, atom_name, item.args, item.idempotency_key,
                                             priority=item.priority)
            except UnknownAtom:
                raise  # the whole batch names it: 404, like a single submission
            except RunError as exc:
                refused.append({"index": index, "code": exc.code, "message": exc.message, "details": exc.details})
        if refused:
            refused.sort(key=lambda error: int(error["index"]))
            # Raising inside the block rolls the batch back, with its on-commit publishes.
            raise BatchRejected(
                f"{len(refused)} of {len(items)} items were refused; no run was created",
                {"errors": refused},
            )
        admission.settle(sum(1 for _, created in outcomes.values() if created))
    return [outcomes[index] for index in range(len(items))]
