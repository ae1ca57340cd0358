"""atomfleet: run heavy or long-lived Python functions — atoms — as a Celery fleet on Kubernetes.

Atom authors (an atoms package, see docs/atoms.md)::

    from atomfleet import AtomContext, RetryPolicy, TransientAtomError, atom

Other services (see docs/client.md)::

    from atomfleet.client import AsyncClient, Client

This package is the execution side and the SDK: it never imports the orchestrator
(``atomfleet_orchestrator``) nor Django (``tests/test_architecture.py``). Names are loaded on first
use, so ``import atomfleet.probes.check`` (run every few seconds in each pod) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atomfleet.catalog import AtomSpec, RetryPolicy, atom
    from atomfleet.errors import (
        AtomError,
        AtomfleetError,
        ConfigurationError,
        InvalidAtomInput,
        ObjectNotFound,
        RunCancelled,
        TransientAtomError,
    )
    from atomfleet.runtime import AtomContext

__all__ = [
    "AtomContext",
    "AtomError",
    "AtomSpec",
    "AtomfleetError",
    "ConfigurationError",
    "InvalidAtomInput",
    "ObjectNotFound",
    "RetryPolicy",
    "RunCancelled",
    "TransientAtomError",
    "atom",
]

_HOME = {
    "AtomContext": "atomfleet.runtime",
    "AtomSpec": "atomfleet.catalog",
    "RetryPolicy": "atomfleet.catalog",
    "atom": "atomfleet.catalog",
    "AtomError": "atomfleet.errors",
    "AtomfleetError": "atomfleet.errors",
    "ConfigurationError": "atomfleet.errors",
    "InvalidAtomInput": "atomfleet.errors",
    "ObjectNotFound": "atomfleet.errors",
    "RunCancelled": "atomfleet.errors",
    "TransientAtomError": "atomfleet.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'atomfleet' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
