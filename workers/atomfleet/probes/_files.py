"""Probe file locations and ages. Stdlib only: shared by the worker and the probe command."""

from __future__ import annotations

import contextlib
import os
import time

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_PROBE_DIR",
    "age_of",
    "liveness_path",
    "max_age",
    "probe_dir",
    "readiness_path",
    "remove",
    "tick_interval",
    "touch",
]

DEFAULT_PROBE_DIR = "/tmp/atomfleet-probes"
DEFAULT_MAX_AGE = 60.0


def probe_dir() -> str:
    return os.environ.get("ATOMFLEET_PROBE_DIR") or DEFAULT_PROBE_DIR


def liveness_path(directory: str | None = None) -> str:
    return os.path.join(directory or probe_dir(), "liveness")


def readiness_path(directory: str | None = None) -> str:
    return os.path.join(directory or probe_dir(), "readiness")


def max_age() -> float:
    return float(os.environ.get("ATOMFLEET_LIVENESS_MAX_AGE") or DEFAULT_MAX_AGE)


def tick_interval() -> float:
    """How often the worker refreshes the liveness file: several times per ``max_age``."""
    return max(0.2, min(5.0, max_age() / 6))


def touch(path: str, content: str = "") -> None:
    """Create or refresh ``path`` (mtime is what the probe reads)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(content)


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def age_of(path: str, now: float | None = None) -> float | None:
    """Seconds since ``path`` was last written; None when it does not exist."""
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - mtime)
