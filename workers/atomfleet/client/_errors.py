"""Errors of the atomfleet client; every one carries ``code``, ``http_status`` and ``details``.

    ClientError                     base: catch it to handle every failure of a call
    ├── TransportError              no HTTP answer (connection refused, dropped, timed out),
    │                               after the retries the request allowed; http_status 0
    ├── WaitTimeout                 ``wait()`` gave up; ``run`` is the last state seen
    ├── WorkflowWaitTimeout         ``wait_workflow()`` gave up; ``workflow`` is the last state seen
    └── ApiError                    the API answered with an error body
        ├── BadRequest              400  invalid_args, invalid_request, invalid_batch,
        │                                invalid_workflow, ...
        ├── Unauthenticated         401  unauthenticated
        ├── Forbidden               403
        ├── NotFound                404  unknown_atom, run_not_found, workflow_not_found, ...
        ├── Conflict                409  idempotency_conflict, result_not_ready, run_finished,
        │                                a workflow already ended (cancel) or still running (retry)
        ├── PayloadTooLarge         413  payload_too_large, batch_too_large
        ├── UnsupportedMediaType    415
        ├── TooManyRequests         429  a limit of the tenant; nothing was created
        │   ├── QuotaExceeded            quota_exceeded (details: limit, in_use, requested):
        │   │                            wait for runs to end
        │   └── RateLimited              rate_limited (``retry_after`` seconds; retried by the
        │                                client where it retries safely: keyed submits)
        ├── ServiceUnavailable      503  database_unavailable, ... (``retry_after`` seconds)
        └── ServerError             any other 5xx
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atomfleet.errors import AtomfleetError

if TYPE_CHECKING:
    from atomfleet.client._models import Run, Workflow

__all__ = [
    "ApiError",
    "BadRequest",
    "ClientError",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "QuotaExceeded",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "TransportError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "WaitTimeout",
    "WorkflowWaitTimeout",
    "error_for",
]


class ClientError(AtomfleetError):
    """A call to the atomfleet API failed."""

    def __init__(self, code: str, message: str, *, http_status: int = 0, details: Any = None) -> None:
        super().__init__(f"{http_status or '-'} {code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.details = details


class TransportError(ClientError):
    """The API could not be reached or dropped the connection (``code`` ``unreachable``)."""


class WaitTimeout(ClientError, TimeoutError):
    """``wait()`` ran out of time before the run finished."""

    def __init__(self, run: Run, timeout: float) -> None:
        super().__init__(
            "wait_timeout", f"run {run.id} still {run.status} after {timeout:g}s", details={"status": run.status}
        )
        self.run = run


class WorkflowWaitTimeout(ClientError, TimeoutError):
    """``wait_workflow()`` ran out of time before the workflow ended."""

    def __init__(self, workflow: Workflow, timeout: float) -> None:
        super().__init__(
            "wait_timeout", f"workflow {workflow.id} still {workflow.status} after {timeout:g}s",
            details={"status": workflow.status},
        )
        self.workflow = workflow


class ApiError(ClientError):
    """The API refused the request; ``code`` and ``details`` come from its error body."""

    def __init__(self, code: str, message: str, *, http_status: int, details: Any = None,
                 retry_after: float | None = None) -> None:
        super().__init__(code, message, http_status=http_status, details=details)
        self.retry_after = retry_after


class BadRequest(ApiError):
    pass


class Unauthenticated(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class PayloadTooLarge(ApiError):
    pass


class UnsupportedMediaType(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class QuotaExceeded(TooManyRequests):
    pass


class RateLimited(TooManyRequests):
    pass


class ServiceUnavailable(ApiError):
    pass


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 415: UnsupportedMediaType, 429: TooManyRequests, 503: ServiceUnavailable,
}
_BY_CODE: dict[str, type[ApiError]] = {"quota_exceeded": QuotaExceeded, "rate_limited": RateLimited}


def error_for(status: int, code: str | None = None) -> type[ApiError]:
    if status == 429 and code in _BY_CODE:
        return _BY_CODE[code]
    return _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
