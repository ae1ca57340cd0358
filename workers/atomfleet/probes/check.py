"""``atomfleet-probe liveness|readiness``: exit 0 when healthy, 1 when not.

Runs every few seconds in each worker pod as an exec probe, so it imports neither Celery nor
Django (stdlib only) and reads two file ages:

- liveness: the ``liveness`` file is younger than ``ATOMFLEET_LIVENESS_MAX_AGE`` (default 60 s).
  The worker refreshes it from its consumer event loop, and from a helper thread while it is not
  consuming (starting, broker down and reconnecting, shutting down) — so a stuck loop fails the
  probe and an unreachable broker does not.
- readiness: the ``readiness`` file exists (the worker consumes its queues) and liveness holds.
"""

from __future__ import annotations

import argparse
import sys

from atomfleet.probes import _files

__all__ = ["check", "main"]


def check(kind: str, directory: str | None = None, max_age: float | None = None) -> tuple[bool, str]:
    """Return ``(healthy, reason)`` for ``kind`` in ``liveness``/``readiness``."""
    limit = _files.max_age() if max_age is None else max_age
    age = _files.age_of(_files.liveness_path(directory))
    if age is None:
        return False, "liveness file missing (worker not started?)"
    if age > limit:
        return False, f"liveness file is {age:.1f}s old (limit {limit:g}s): event loop stuck"
    if kind == "liveness":
        return True, f"alive ({age:.1f}s)"
    if _files.age_of(_files.readiness_path(directory)) is None:
        return False, "not consuming (readiness file absent)"
    return True, "consuming"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atomfleet-probe", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("liveness", "readiness"))
    parser.add_argument("--dir", default=None, help="probe folder (default $ATOMFLEET_PROBE_DIR)")
    parser.add_argument("--max-age", type=float, default=None, help="seconds (default $ATOMFLEET_LIVENESS_MAX_AGE)")
    args = parser.parse_args(argv)
    healthy, reason = check(args.kind, args.dir, args.max_age)
    print(f"{args.kind}: {reason}", file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
