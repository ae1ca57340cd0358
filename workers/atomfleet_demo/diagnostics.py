"""``diagnostics.*``: sleep in steps with progress, for demos, cancellation and fault drills.

``diagnostics.sleep`` (queue ``default``) is idempotent (run again after its worker is lost);
``diagnostics.sleep_once`` stands for a side-effecting job that must never run twice;
``diagnostics.sleep_io`` and ``diagnostics.sleep_ml`` do the same on ``io_bound`` and
``ml_training``. When ``ATOMFLEET_DIAGNOSTICS_JOURNAL`` names a folder, every execution appends
its start, each step and its end to ``<folder>/<run id>.jsonl``: drills read it to prove that no
run ever executed twice at the same time.

Drill-only arguments misbehave on request: ``fail_with`` raises an error the database cannot store
as given, ``result_bytes`` makes a result large enough to go to storage, ``spawn_child`` starts a
child process that must die with its execution (killed, fenced, out of time).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from atomfleet import AtomContext, AtomError, RetryPolicy, TransientAtomError, atom

JOURNAL_ENV = "ATOMFLEET_DIAGNOSTICS_JOURNAL"

_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["seconds"],
    "properties": {
        "seconds": {"type": "number", "minimum": 0, "maximum": 3000},
        "steps": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10},
        "fail_attempts": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10,
            "default": 0,
            "description": "raise a transient error on the first N attempts (retry drills)",
        },
        "ignore_soft_limit": {
            "type": "boolean",
            "default": False,
            "description": "keep sleeping past the soft time limit, as code stuck outside Python "
            "would (hard-limit kill drills)",
        },
        "fail_with": {
            "type": "string",
            "enum": ["nul_message", "long_code"],
            "description": "after sleeping, raise an AtomError the database cannot store as given: a NUL in "
            "its message, or a code longer than the error_code column (outcome-recording drills)",
        },
        "result_bytes": {
            "type": "integer",
            "minimum": 0,
            "maximum": 16777216,
            "description": "pad the result to about this many bytes, so that it is stored by reference "
            "above the inline limit (storage-failure drills)",
        },
        "spawn_child": {
            "type": "boolean",
            "default": False,
            "description": "first start a child process that sleeps for an hour, as an atom running "
            "ffmpeg or R would; its pid is journaled (event 'child') and its command line names the run "
            "(kill drills: the child must die with the execution)",
        },
        "hold_gil_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": 600,
            "default": 0,
            "description": "first block in C code that holds the GIL this long, as a long regex "
            "match or a native loop would (liveness drills)",
        },
    },
}
_RETRY = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_max=10.0)


class _Journal:
    """Append-only record of one execution (one JSON line per event, flushed at once)."""

    def __init__(self, ctx: AtomContext) -> None:
        folder = os.environ.get(JOURNAL_ENV)
        self._path = os.path.join(folder, f"{ctx.run_id}.jsonl") if folder else None
        self._base = {"run": ctx.run_id, "attempt": ctx.attempt, "pid": os.getpid()}

    def write(self, event: str, **extra: Any) -> None:
        if self._path is not None:
            with open(self._path, "a") as handle:
                handle.write(json.dumps({**self._base, **extra, "event": event, "at": time.time()}) + "\n")


def _sleep(
    ctx: AtomContext,
    *,
    seconds: float,
    steps: int = 10,
    fail_attempts: int = 0,
    ignore_soft_limit: bool = False,
    hold_gil_seconds: int = 0,
    fail_with: str = "",
    result_bytes: int = 0,
    spawn_child: bool = False,
) -> dict[str, Any]:
    journal = _Journal(ctx)
    journal.write("start")
    if spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", f"child-of-{ctx.run_id}"])
        journal.write("child", child_pid=child.pid)
    if hold_gil_seconds:
        ctypes.PyDLL(None).sleep(hold_gil_seconds)  # libc sleep(3) called without releasing the GIL
    if ctx.attempt <= fail_attempts:
        journal.write("end")
        raise TransientAtomError(f"simulated transient failure on attempt {ctx.attempt}")
    for step in range(steps):
        try:
            ctx.sleep(seconds / steps)
        except SoftTimeLimitExceeded:
            if not ignore_soft_limit:
                raise
            ctx.logger.warning("soft time limit ignored on request; the hard limit will kill this process")
        journal.write("step")
        ctx.progress((step + 1) / steps, f"step {step + 1}/{steps}")
    journal.write("end")
    if fail_with == "nul_message":
        raise AtomError("the input had a NUL here:\x00 (PostgreSQL text cannot hold it)")
    if fail_with == "long_code":
        raise AtomError("a code longer than 64 characters", code="x" * 100)
    result: dict[str, Any] = {"slept_seconds": seconds, "steps": steps, "attempt": ctx.attempt}
    if result_bytes:
        result["padding"] = "x" * result_bytes
    return result


# Limits in line with the other atoms of each queue (the grace periods of its workers fit them).
for _name, _queue, _idempotent, _limits, _description in [
    ("diagnostics.sleep", "default", True, (3300, 3400),
     "Sleeps in steps with progress (idempotent: safe to redeliver)."),
    ("diagnostics.sleep_once", "default", False, (3300, 3400),
     "Sleeps in steps with progress; never re-run after a worker loss (not idempotent)."),
    ("diagnostics.sleep_io", "io_bound", True, (1700, 1800), "diagnostics.sleep on the io_bound queue."),
    ("diagnostics.sleep_ml", "ml_training", True, (7000, 7200), "diagnostics.sleep on the ml_training queue."),
]:
    atom(
        name=_name,
        queue=_queue,
        description=_description,
        schema=_SCHEMA,
        soft_time_limit=_limits[0],
        time_limit=_limits[1],
        idempotent=_idempotent,
        retry=_RETRY,
    )(_sleep)
