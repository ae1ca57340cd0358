"""What an atom declares about itself."""

from __future__ import annotations

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


def task_name_for(atom_name: str) -> str:
    """The Celery task name of an atom: derived from the catalog, never from user input."""
    return f"atomfleet.atom.{atom_name}"
