"""Bounded process identifiers for prometheus_client's multiprocess files.

prometheus_client names its files ``<type>_<pid>.db``. A prefork pool recycling children after
every task would leave one set of files per dead child, and each scrape reads all of them. Here the
identifier is ``main`` for the worker's main process and ``c<index>`` for a pool child, where the
index is billiard's pool slot (0..concurrency-1). billiard hands a slot to a new child only after
the previous owner was joined, so simultaneously running processes never share an identifier, and
a recycled child continues the counters of its slot's files (sums stay exact, the file count stays
``types x (concurrency + 1)``). Every other process (API, beat, shell) keeps the pid.
"""

from __future__ import annotations

import os

import prometheus_client.values as _values

__all__ = ["current_identifier", "install_value_class", "set_identifier"]

_identifier: str | None = None
_identifier_pid: int | None = None


def current_identifier() -> str:
    """The identifier of this process; falls back to the pid in a process that did not set one."""
    if _identifier is not None and _identifier_pid == os.getpid():
        return _identifier
    return str(os.getpid())


def set_identifier(name: str) -> None:
    """Name this process's metric files (no ``_``: the collector splits file names on it)."""
    if "_" in name:
        raise ValueError(f"metrics process identifier must not contain '_': {name!r}")
    global _identifier, _identifier_pid
    _identifier, _identifier_pid = name, os.getpid()


def install_value_class() -> None:
    """Make every metric value created from now on a multiprocess value with our identifiers.

    Works whether or not prometheus_client was imported before ``PROMETHEUS_MULTIPROC_DIR`` was
    set: metric children read ``values.ValueClass`` when they are created (at ``.labels()``).
    """
    if getattr(_values.ValueClass, "_atomfleet", False):
        return
    value_class = _values.MultiProcessValue(process_identifier=current_identifier)
    value_class._atomfleet = True
    _values.ValueClass = value_class
