"""The atomfleet API client for other services: ``Client`` (blocking) and ``AsyncClient``.

::

    from atomfleet.client import Client

    with Client("https://atomfleet.example.com", token) as fleet:
        run = fleet.submit("text.stats", {"text": "to be or not"}, idempotency_key="order-42")
        run = fleet.wait(run.id, timeout=60)
        print(fleet.result(run.id).result)

Typed results (frozen dataclasses), one error hierarchy (``ClientError``), retries with
exponential backoff and jitter for what is safe to repeat (see ``Retries``), ``wait()``,
streaming ``upload()``/``download()``, batch submission and cursor pages. Needs only httpx:
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
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthenticated,
    UnsupportedMediaType,
    WaitTimeout,
)
from atomfleet.client._events import Event
from atomfleet.client._models import (
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
    Upload,
)
from atomfleet.client._retry import Retries, RetryEvent
from atomfleet.client._sync import Client

__all__ = [
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
    "ServiceUnavailable",
    "TransportError",
    "Unauthenticated",
    "UnsupportedMediaType",
    "Upload",
    "WaitTimeout",
]
