"""``CancelToken``: how a cancellation request reaches a running atom.

The worker's main process learns of a cancellation with its heartbeat and signals the pool
process; the signal handler calls :meth:`CancelToken.set`, which therefore does only
async-signal-safe work (a flag and one ``os.write``). Waiting uses a pipe rather than a
``threading.Event``, whose lock a signal handler must never take.
"""

from __future__ import annotations

import contextlib
import os
import select

__all__ = ["CancelToken"]


class CancelToken:
    def __init__(self) -> None:
        self._set = False
        self._pipe: tuple[int, int] | None = None

    def set(self) -> None:
        """Request cancellation (safe to call from a signal handler or another thread)."""
        self._set = True
        pipe = self._pipe
        if pipe is not None:
            with contextlib.suppress(OSError):  # full pipe: a wake-up is already pending
                os.write(pipe[1], b"x")

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True as soon as cancellation is requested."""
        if self._set:
            return True
        if self._pipe is None:
            read_fd, write_fd = os.pipe()
            os.set_blocking(read_fd, False)
            os.set_blocking(write_fd, False)
            self._pipe = (read_fd, write_fd)
            if self._set:  # set() ran before the pipe existed
                return True
        readable, _, _ = select.select([self._pipe[0]], [], [], max(0.0, timeout))
        if readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._pipe[0], 512)
        return self._set

    def close(self) -> None:
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            for fd in pipe:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def __del__(self) -> None:
        self.close()
