"""Exceptions of the execution side.

    AtomfleetError
    ├── ConfigurationError          bad queue declaration or catalog (a startup error)
    ├── StorageError
    │   ├── ObjectNotFound          no object under that key
    │   └── ObjectAccessDenied      key outside the caller's tenant, or not a valid key
    └── AtomError                   raised by atoms; ``code`` ends up in the run's error
        ├── TransientAtomError      worth retrying (per the atom's retry policy)
        ├── InvalidAtomInput        arguments passed the schema but are unusable
        └── RunCancelled            cooperative cancellation observed by the atom
"""

from __future__ import annotations


class AtomfleetError(Exception):
    """Base of every atomfleet error."""


class ConfigurationError(AtomfleetError):
    """The fleet's declaration (queues, catalog, limits) is inconsistent; refuse to start."""


class StorageError(AtomfleetError):
    """An object store operation failed."""


class ObjectNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"no object at key {key!r}")
        self.key = key


class ObjectAccessDenied(StorageError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"access to {key!r} denied: {reason}")
        self.key = key


class AtomError(AtomfleetError):
    """An atom failed; ``code`` is a stable machine-readable reason."""

    code = "atom_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class TransientAtomError(AtomError):
    code = "transient_error"


class InvalidAtomInput(AtomError):
    code = "invalid_input"


class RunCancelled(AtomError):
    code = "cancelled"

    def __init__(self, message: str = "run cancelled on request") -> None:
        super().__init__(message)
