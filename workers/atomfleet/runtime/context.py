"""What an atom gets to talk to the fleet: progress, cancellation, files, artifacts, a logger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from atomfleet.errors import RunCancelled
from atomfleet.runtime.cancellation import CancelToken
from atomfleet.storage import RunArtifacts, TenantFiles

__all__ = ["AtomContext", "ProgressSink"]

# Receives (fraction in [0, 1], message); the orchestrator persists it.
ProgressSink = Callable[[float, str], None]


@dataclass
class AtomContext:
    run_id: str
    tenant: str
    atom: str
    attempt: int
    files: TenantFiles
    artifacts: RunArtifacts
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger]
    progress_sink: ProgressSink
    # Set when a cancellation is requested (the worker signals the pool process); atoms poll it
    # cooperatively through ``cancelled``, ``check_cancelled()`` and ``sleep()``.
    cancel_token: CancelToken = field(default_factory=CancelToken)
    progress_interval: float = 1.0
    _last_progress_at: float = field(default_factory=time.monotonic, init=False)
    _pending: tuple[float, str] | None = field(default=None, init=False)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress; writes are throttled to one per ``progress_interval`` seconds.

        The first write comes one interval after the start (an atom that finishes sooner writes
        nothing: its outcome says it all); a throttled report is kept and written by the next
        one that is let through, or by ``flush_progress``.
        """
        fraction = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if now - self._last_progress_at >= self.progress_interval:
            self._last_progress_at = now
            self._pending = None
            self.progress_sink(fraction, message[:500])
        else:
            self._pending = (fraction, message[:500])

    def flush_progress(self) -> None:
        if self._pending is not None:
            fraction, message = self._pending
            self._pending = None
            self.progress_sink(fraction, message)

    @property
    def cancelled(self) -> bool:
        return self.cancel_token.is_set()

    def check_cancelled(self) -> None:
        """Raise ``RunCancelled`` if a cancellation was requested: call it between steps."""
        if self.cancel_token.is_set():
            raise RunCancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep, waking up at once (with ``RunCancelled``) if the run is cancelled."""
        if self.cancel_token.wait(max(0.0, seconds)):
            raise RunCancelled()
