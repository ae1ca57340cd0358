"""Domain errors of runs. Each carries a stable ``code`` and the HTTP status the API answers with.

    RunError
    ├── UnknownAtom            404 unknown_atom
    ├── InvalidArguments       400 invalid_args (details: JSON path + message of each problem)
    ├── IdempotencyConflict    409 idempotency_conflict
    ├── RunNotFound            404 run_not_found (also for another tenant's run)
    ├── RunAlreadyFinished     409 run_finished
    ├── ArtifactNotFound       404 artifact_not_found
    ├── BatchRejected          400 invalid_batch (details.errors: index, code, message, details
    │                          of each refused item; nothing of the batch was created)
    └── BatchTooLarge          413 batch_too_large (details: limit, items)
"""

from __future__ import annotations

from typing import Any


class RunError(Exception):
    code = "run_error"
    http_status = 400

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class UnknownAtom(RunError):
    code, http_status = "unknown_atom", 404


class InvalidArguments(RunError):
    code, http_status = "invalid_args", 400


class IdempotencyConflict(RunError):
    code, http_status = "idempotency_conflict", 409


class RunNotFound(RunError):
    code, http_status = "run_not_found", 404


class RunAlreadyFinished(RunError):
    code, http_status = "run_finished", 409


class ArtifactNotFound(RunError):
    code, http_status = "artifact_not_found", 404


class BatchRejected(RunError):
    code, http_status = "invalid_batch", 400


class BatchTooLarge(RunError):
    code, http_status = "batch_too_large", 413
