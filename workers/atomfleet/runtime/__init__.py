"""Worker runtime: the context atoms run with, and structured logging."""

from atomfleet.runtime.context import AtomContext, ProgressSink

__all__ = ["AtomContext", "ProgressSink"]
