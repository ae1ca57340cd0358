"""The orchestrator's catalog: atom specs as workers registered them, kept in the database.

Workers register the specs of the atoms they serve when they start, and keep them marked as served
while they live; a deploy hook registers the atoms of each worker image before any worker starts,
so a queue that KEDA keeps at zero still accepts runs (its backlog is what wakes it). The API
validates arguments against these registrations and never imports atom code.

Two versions of one atom (a rolling deploy): **the newest registration wins** — new runs use the
version of a name registered last, and each run records the hash of the version it was validated
against (``AtomRun.spec_hash``), which is what the lifecycle reads its policy from.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from jsonschema import Draft202012Validator

from atomfleet.catalog import AtomSpec, RetryPolicy, SchemaProblem, schema_problems
from atomfleet_orchestrator.atoms.liveness import LIVE_SECONDS, SERVE_INTERVAL
from atomfleet_orchestrator.atoms.models import AtomDefinition

__all__ = [
    "LIVE_SECONDS",
    "SERVE_INTERVAL",
    "Definition",
    "RegisterReport",
    "clear_cache",
    "current",
    "current_all",
    "mark_served",
    "of_run",
    "register",
    "validate",
    "version",
]



@dataclass(frozen=True)
class Definition:
    """One registered version of an atom (everything but its code)."""

    name: str
    spec_hash: str
    queue: str
    package: str
    description: str
    schema: dict[str, Any]
    soft_time_limit: int
    time_limit: int
    idempotent: bool
    retry: dict[str, Any]
    file_args: tuple[str, ...]
    registered_at: datetime
    served_at: datetime | None

    @classmethod
    def of(cls, row: AtomDefinition) -> Definition:
        return cls(
            name=row.name, spec_hash=row.spec_hash, queue=row.queue, package=row.package,
            description=row.description, schema=row.schema, soft_time_limit=row.soft_time_limit,
            time_limit=row.time_limit, idempotent=row.idempotent, retry=row.retry,
            file_args=tuple(row.file_args), registered_at=row.registered_at, served_at=row.served_at,
        )

    @property
    def max_retries(self) -> int:
        return int(self.retry["max_retries"])

    @property
    def max_attempts(self) -> int:
        return 1 + self.max_retries

    @property
    def backoff(self) -> RetryPolicy:
        return RetryPolicy.backoff_of(self.retry)

    def live(self, now: datetime | None = None) -> bool:
        """A worker marked it served within the last ``LIVE_SECONDS``."""
        now = now or timezone.now()
        return self.served_at is not None and now - self.served_at < timedelta(seconds=LIVE_SECONDS)


@dataclass(frozen=True)
class RegisterReport:
    registered: int
    retired: int


def _fields(spec: AtomSpec) -> dict[str, Any]:
    described = spec.describe()
    return {
        "queue": spec.queue, "package": described["package"], "description": spec.description,
        "schema": described["schema"], "soft_time_limit": spec.soft_time_limit, "time_limit": spec.time_limit,
        "idempotent": spec.idempotent, "retry": described["retry"], "file_args": described["file_args"],
    }


def register(specs: Iterable[AtomSpec], *, retire_missing_on: Iterable[str] = ()) -> RegisterReport:
    """Register these versions as the newest of their names.

    ``retire_missing_on``: queues whose complete set of atoms ``specs`` is (a deploy of a worker
    image): an atom of those queues that is not among them was removed, and is retired — the API
    refuses new runs of it and waiting ones end ``failed``/``unknown_atom``.
    """
    specs = list(specs)
    now = timezone.now()
    for spec in specs:
        AtomDefinition.objects.update_or_create(
            name=spec.name, spec_hash=spec.spec_hash,
            defaults={**_fields(spec), "registered_at": now, "retired_at": None},
        )
    retired = 0
    queues = list(retire_missing_on)
    if queues:
        retired = (
            AtomDefinition.objects.filter(queue__in=queues, retired_at__isnull=True)
            .exclude(name__in=[s.name for s in specs])
            .update(retired_at=Now())
        )
    clear_cache()
    return RegisterReport(registered=len(specs), retired=retired)


def mark_served(specs: Iterable[AtomSpec]) -> int:
    """A live worker serves these versions; registers any that are missing (a worker that started
    while the database was down, or after the versions were deleted). One UPDATE when all exist."""
    specs = list(specs)
    if not specs:
        return 0
    served = Q()
    for spec in specs:
        served |= Q(name=spec.name, spec_hash=spec.spec_hash)
    updated = AtomDefinition.objects.filter(served).update(served_at=Now())
    if updated < len(specs):
        known = set(AtomDefinition.objects.filter(served).values_list("name", "spec_hash"))
        missing = [s for s in specs if (s.name, s.spec_hash) not in known]
        register(missing)
        AtomDefinition.objects.filter(served).update(served_at=Now())
    return len(specs)


# -- reading (the API, beat) ------------------------------------------------------------------------

_cache: dict[tuple[str, str], tuple[float, Definition | None]] = {}
_validators: dict[str, Draft202012Validator] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _cached(key: tuple[str, str], load: Any) -> Definition | None:
    ttl = settings.ATOMFLEET_ATOM_CACHE_SECONDS
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = load()
    if ttl > 0:
        with _lock:
            _cache[key] = (now + ttl, value)
    return value


def current(name: str) -> Definition | None:
    """The version of ``name`` new runs use (newest registration), or None (unknown or retired)."""

    def load() -> Definition | None:
        row = AtomDefinition.objects.filter(name=name, retired_at__isnull=True).order_by("-registered_at").first()
        return Definition.of(row) if row is not None else None

    return _cached(("current", name), load)


def version(name: str, spec_hash: str) -> Definition | None:
    """A given version (retired or not): the one a run was validated against."""

    def load() -> Definition | None:
        row = AtomDefinition.objects.filter(name=name, spec_hash=spec_hash).first()
        return Definition.of(row) if row is not None else None

    return _cached((name, spec_hash), load)


def of_run(atom: str, spec_hash: str) -> Definition | None:
    """The version a run was validated against, else the current one (runs from before versions)."""
    return (version(atom, spec_hash) if spec_hash else None) or current(atom)


def current_all() -> list[Definition]:
    """The current version of every atom that is not retired, by name."""
    rows = AtomDefinition.objects.filter(retired_at__isnull=True).order_by("name", "-registered_at")
    newest: dict[str, Definition] = {}
    for row in rows:
        newest.setdefault(row.name, Definition.of(row))
    return list(newest.values())


def validate(definition: Definition, args: Any) -> list[SchemaProblem]:
    """Every problem of ``args`` against the version's JSON Schema (validators kept per hash)."""
    validator = _validators.get(definition.spec_hash)
    if validator is None:
        validator = _validators[definition.spec_hash] = Draft202012Validator(definition.schema)
    return schema_problems(validator, args)
