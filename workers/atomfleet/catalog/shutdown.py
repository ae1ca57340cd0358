"""Does a worker pod's grace period cover the atoms it runs? (pure; checked at worker start-up)

Kubernetes sends SIGTERM, waits ``terminationGracePeriodSeconds``, then SIGKILLs. A worker in warm
shutdown (the default) waits for its running atoms with no limit, so the grace period must outlast
the longest soft time limit of the atoms routed to the queues it consumes, or a rollout, scale-down
or drain kills long runs mid-way. In soft shutdown (``REMAP_SIGTERM=SIGQUIT`` with
``worker_soft_shutdown_timeout``) running atoms get that window, then are requeued: the grace
period must outlast the window. The chart cannot see atom code, so the worker checks this itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from atomfleet.catalog.spec import AtomSpec
from atomfleet.errors import ConfigurationError

__all__ = ["ShutdownBudget", "check_grace_period"]


@dataclass(frozen=True)
class ShutdownBudget:
    """How long a worker pod gets to stop, and how it stops."""

    grace_seconds: int
    """The pod's ``terminationGracePeriodSeconds``."""
    soft_shutdown_seconds: float | None = None
    """The soft shutdown window when SIGTERM starts a soft shutdown; None for a warm shutdown."""


def check_grace_period(atoms: Iterable[AtomSpec], queues: Collection[str], budget: ShutdownBudget) -> None:
    """Raise ConfigurationError, naming both values and the atom, when the grace period is too short."""
    names = ", ".join(sorted(queues))
    if budget.soft_shutdown_seconds is not None:
        if budget.grace_seconds <= budget.soft_shutdown_seconds:
            raise ConfigurationError(
                f"queue {names}: terminationGracePeriodSeconds ({budget.grace_seconds}s) must exceed the "
                f"soft shutdown window ({budget.soft_shutdown_seconds:g}s, shutdown.softTimeout): the pod "
                "would be killed before running atoms are requeued"
            )
        return
    on_queues = [a for a in atoms if a.queue in queues]
    if not on_queues:
        return
    longest = max(on_queues, key=lambda a: (a.soft_time_limit, a.name))
    if budget.grace_seconds <= longest.soft_time_limit:
        raise ConfigurationError(
            f"queue {longest.queue}: terminationGracePeriodSeconds ({budget.grace_seconds}s) must exceed the "
            f"soft time limit of atom {longest.name} ({longest.soft_time_limit}s): a warm shutdown "
            "(rollout, scale-down, drain) would SIGKILL its runs. Raise "
            f"workers.queues.{longest.queue}.terminationGracePeriodSeconds above {longest.soft_time_limit}, "
            "or use shutdown.mode soft"
        )
