"""Worker runtime: the context atoms run with, and structured logging."""

from atomfleet.runtime.cancellation import CancelToken
from atomfleet.runtime.context import AtomContext, ProgressSink

__all__ = ["AtomContext", "CancelToken", "ProgressSink"]
