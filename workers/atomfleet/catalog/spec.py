"""What an atom declares about itself."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from atomfleet.errors import TransientAtomError

__all__ = ["AtomFunction", "AtomSpec", "RetryPolicy", "task_name_for"]

# An atom is called as ``func(ctx, **args)`` and returns a JSON-serialisable value.
AtomFunction = Callable[..., Any]


@dataclass(frozen=True)
class RetryPolicy:
    """Which exceptions are transient and how to back off between attempts.

    Backoff is exponential with "equal jitter": half of the exponential delay is fixed, the other
    half random, so retries of runs that failed together spread out without ever retrying at once.
    """

    transient: tuple[type[BaseException], ...] = (TransientAtomError,)
    max_retries: int = 3
    backoff_base: float = 2.0
    backoff_max: float = 300.0

    def is_transient(self, exc: BaseException) -> bool:
        return isinstance(exc, self.transient)

    def delay(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        exp = min(self.backoff_max, self.backoff_base * (2 ** max(0, retry_number - 1)))
        return exp / 2 + (rng or random).uniform(0, exp / 2)

    def describe(self) -> dict[str, Any]:
        return {
            "transient": [f"{t.__module__}.{t.__qualname__}" for t in self.transient],
            "max_retries": self.max_retries,
            "backoff_base": self.backoff_base,
            "backoff_max": self.backoff_max,
        }

    @classmethod
    def backoff_of(cls, described: Mapping[str, Any]) -> RetryPolicy:
        """The backoff of a registered spec (the orchestrator has no atom code: no exception types)."""
        return cls(transient=(), max_retries=int(described["max_retries"]),
                   backoff_base=float(described["backoff_base"]), backoff_max=float(described["backoff_max"]))


@dataclass(frozen=True)
class AtomSpec:
    name: str
    queue: str
    func: AtomFunction
    schema: Mapping[str, Any]
    description: str
    soft_time_limit: int
    time_limit: int
    idempotent: bool
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Top-level arguments holding keys of uploaded files: checked to belong to the caller's tenant.
    file_args: tuple[str, ...] = ()

    @property
    def task_name(self) -> str:
        return task_name_for(self.name)

    @property
    def max_attempts(self) -> int:
        """Executions a run may start: the first one and its retries (after errors or losses)."""
        return 1 + self.retry.max_retries

    @property
    def package(self) -> str:
        """The import package that defines the atom (what ``ATOMFLEET_ATOM_PACKAGES`` names)."""
        return getattr(self.func, "__module__", "").partition(".")[0]

    def describe(self) -> dict[str, Any]:
        """What a worker registers with the orchestrator: everything but the code (JSON)."""
        return {
            "name": self.name,
            "queue": self.queue,
            "description": self.description,
            "schema": self.schema,
            "soft_time_limit": self.soft_time_limit,
            "time_limit": self.time_limit,
            "idempotent": self.idempotent,
            "retry": self.retry.describe(),
            "file_args": list(self.file_args),
            "package": self.package,
        }

    @property
    def spec_hash(self) -> str:
        """A content hash of :meth:`describe`: the same spec registered twice is one definition."""
        canonical = json.dumps(self.describe(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def task_name_for(atom_name: str) -> str:
    """The Celery task name of an atom: derived from the catalog, never from user input."""
    return f"atomfleet.atom.{atom_name}"
