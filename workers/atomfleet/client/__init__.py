"""The atomfleet API client for other services: ``Client`` (blocking) and ``AsyncClient``.

::

    from atomfleet.client import Client

    with Client("https://atomfleet.example.com", token) as fleet:
        run = fleet.submit("text.stats", {"text": "to be or not"}, idempotency_key="order-42")
        run = fleet.wait(run.id, timeout=60)
        print(fleet.result(run.id).result)

Typed results (frozen dataclasses), one error hierarchy (``ClientError``), retries with
exponential backoff and jitter for what is safe to repeat (see ``Retries``), ``wait()``,
streaming ``upload()``/``download()``, batch submission, cursor pages and workflows (DAGs of
steps across queues: ``submit_workflow``, ``wait_workflow``, docs/workflows.md). Needs only httpx:
the client never imports Django, Celery or the orchestrator. docs/client.md has the guide.
"""

from atomfleet.client._async import AsyncClient
from atomfleet.client._errors import (
    ApiError,
    BadRequest,
    ClientError,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    Unauthenticated,
    UnsupportedMediaType,
    WaitTimeout,
    WorkflowWaitTimeout,
)
from atomfleet.client._events import Event
from atomfleet.client._models import (
    STEP_TERMINAL_STATUSES,
    TERMINAL_STATUSES,
    Artifact,
    AtomInfo,
    BatchEntry,
    BatchItem,
    BatchResult,
    Page,
    Progress,
    Run,
    RunFailure,
    RunResult,
    Step,
    Upload,
    Workflow,
    WorkflowFailure,
    WorkflowStep,
)
from atomfleet.client._retry import Retries, RetryEvent
from atomfleet.client._sync import Client

__all__ = [
    "STEP_TERMINAL_STATUSES",
    "TERMINAL_STATUSES",
    "ApiError",
    "Artifact",
    "AsyncClient",
    "AtomInfo",
    "BadRequest",
    "BatchEntry",
    "BatchItem",
    "BatchResult",
    "Client",
    "ClientError",
    "Event",
    "Conflict",
    "Forbidden",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "Progress",
    "Retries",
    "RetryEvent",
    "Run",
    "RunFailure",
    "RunResult",
    "ServerError",
    "QuotaExceeded",
    "RateLimited",
    "ServiceUnavailable",
    "TooManyRequests",
    "Step",
    "TransportError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "Upload",
    "WaitTimeout",
    "Workflow",
    "WorkflowFailure",
    "WorkflowStep",
    "WorkflowWaitTimeout",
]
