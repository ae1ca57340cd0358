"""The workflow lifecycle's vocabulary: workflow statuses, step states, failure policies, run_if.

The run lifecycle (``runs.lifecycle``) stays the one owner of run states: a step that runs is an
ordinary run, and its reported status is its run's. ``engine`` holds the writes; each happens with
the workflow's row locked, in the transaction of the run's terminal write that caused it.

::

    submit ──► running ──(every step terminal)──► succeeded   no step failed
                 ▲  │                           ├─► failed      error_* names the first failed step
                 │  └─ cancel ─► (cancel_requested)  └─► cancelled   every step terminal after cancel
                 └────────── retry (only when terminal) ─────────┘

    step:  pending ──(last parent ended)──► released (a run) ──(run terminal)──► ended
              │                                │
              ├──► skipped (a parent failed and run_if needs all to succeed; fail_fast after a
              │             failure; a released run cancelled before it started by fail_fast)
              └──► cancelled (the workflow is being cancelled)
           retry: failed/cancelled/skipped steps go back to pending with a new run to come.
"""

from __future__ import annotations

import enum

__all__ = [
    "TERMINAL_STATES",
    "FailurePolicy",
    "RunIf",
    "StepErrorCode",
    "StepState",
    "StepStatus",
    "WorkflowStatus",
]


class WorkflowStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepState(enum.StrEnum):
    """What the engine knows of a step (the run, if any, says the rest)."""

    PENDING = "pending"  # waiting on parents (``waiting_on`` > 0), or due and about to be released
    RELEASED = "released"  # its run exists and has not ended yet
    ENDED = "ended"  # its run ended and the workflow accounted for it (children, open_steps)
    SKIPPED = "skipped"  # never ran (or its waiting run was cancelled by fail_fast)
    CANCELLED = "cancelled"  # never ran: the workflow was cancelled


#: States the workflow no longer waits on.
TERMINAL_STATES = frozenset({StepState.ENDED, StepState.SKIPPED, StepState.CANCELLED})


class StepStatus(enum.StrEnum):
    """A step's status as the API reports it: the run's status, or why there is no run."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


class FailurePolicy(enum.StrEnum):
    #: After a failure no new step starts, running ones finish, the rest end skipped.
    FAIL_FAST = "fail_fast"
    #: Steps that do not need the failed step to succeed still run.
    FINISH_BRANCHES = "finish_branches"


class RunIf(enum.StrEnum):
    ALL_SUCCEEDED = "all_succeeded"  # every parent succeeded (the default)
    ALL_DONE = "all_done"  # every parent ended, however (cleanup and report steps)


class StepErrorCode(enum.StrEnum):
    """Codes of a step's run that the engine ends itself, at release."""

    INVALID_ARGS = "invalid_args"  # the resolved arguments do not match the atom's schema
    UNRESOLVABLE_INPUT = "unresolvable_input"  # a ``$from`` pointer names nothing in the result
    UNKNOWN_ATOM = "unknown_atom"  # the atom was retired after the workflow was accepted

