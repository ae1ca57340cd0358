"""``diagnostics.*`` (queue ``default``): sleep in steps with progress.

For demos, cancellation and fault tests. ``diagnostics.sleep`` is idempotent (redelivered after a
worker dies); ``diagnostics.sleep_once`` stands for a side-effecting job that must never run twice.
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from atomfleet.catalog import RetryPolicy, atom
from atomfleet.errors import TransientAtomError
from atomfleet.runtime import AtomContext

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
    },
}
_RETRY = RetryPolicy(max_retries=5, backoff_base=0.5, backoff_max=10.0)


def _sleep(
    ctx: AtomContext, *, seconds: float, steps: int = 10, fail_attempts: int = 0, ignore_soft_limit: bool = False
) -> dict[str, Any]:
    if ctx.attempt <= fail_attempts:
        raise TransientAtomError(f"simulated transient failure on attempt {ctx.attempt}")
    for step in range(steps):
        try:
            ctx.sleep(seconds / steps)
        except SoftTimeLimitExceeded:
            if not ignore_soft_limit:
                raise
            ctx.logger.warning("soft time limit ignored on request; the hard limit will kill this process")
        ctx.progress((step + 1) / steps, f"step {step + 1}/{steps}")
    return {"slept_seconds": seconds, "steps": steps, "attempt": ctx.attempt}


for _name, _idempotent, _description in [
    ("diagnostics.sleep", True, "Sleeps in steps with progress (idempotent: safe to redeliver)."),
    ("diagnostics.sleep_once", False,
     "Sleeps in steps with progress; never re-run after a worker loss (not idempotent)."),
]:
    atom(
        name=_name,
        queue="default",
        description=_description,
        schema=_SCHEMA,
        soft_time_limit=3300,
        time_limit=3400,
        idempotent=_idempotent,
        retry=_RETRY,
    )(_sleep)
