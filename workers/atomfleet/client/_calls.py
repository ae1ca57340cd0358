"""The API's operations as data: what to send and how to read the answer.

``Client`` and ``AsyncClient`` execute the same ``Call`` objects, so both speak the same API;
only the I/O (blocking or awaited) differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from atomfleet.client._errors import ApiError, error_for
from atomfleet.client._models import (
    AtomInfo,
    BatchItem,
    BatchResult,
    Page,
    Run,
    RunResult,
    Step,
    Upload,
    Workflow,
)
from atomfleet.client._retry import retry_after

T = TypeVar("T")

API = "/api/v1"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    ok: tuple[int, ...] = (200,)
    params: Mapping[str, Any] | None = None
    json: Any = None
    safe: bool = False  # may be sent again after a dropped connection or a 503
    headers: Mapping[str, str] = field(default_factory=dict)


def _segment(value: str) -> str:
    return quote(value, safe="")


def atoms() -> Call[list[AtomInfo]]:
    return Call("GET", f"{API}/atoms", lambda d: [AtomInfo.from_json(a) for a in d["results"]], safe=True)


def submit(atom: str, args: Mapping[str, Any], idempotency_key: str | None, priority: int | None = None) -> Call[Run]:
    body = BatchItem(args, idempotency_key, priority).to_json()
    return Call("POST", f"{API}/atoms/{_segment(atom)}/runs", Run.from_json, ok=(200, 202), json=body,
                safe=idempotency_key is not None)


def submit_batch(atom: str, items: Iterable[BatchItem | Mapping[str, Any]]) -> Call[BatchResult]:
    batch = [i if isinstance(i, BatchItem) else BatchItem(i["args"], i.get("idempotency_key"), i.get("priority"))
             for i in items]
    return Call("POST", f"{API}/atoms/{_segment(atom)}/runs/batch", BatchResult.from_json, ok=(200, 202),
                json={"items": [i.to_json() for i in batch]},
                safe=bool(batch) and all(i.idempotency_key is not None for i in batch))


def run(run_id: str) -> Call[Run]:
    return Call("GET", f"{API}/runs/{_segment(str(run_id))}", Run.from_json, safe=True)


def runs(*, status: str | None, atom: str | None, queue: str | None, limit: int | None,
         cursor: str | None) -> Call[Page[Run]]:
    params = {"status": status, "atom": atom, "queue": queue, "limit": limit, "cursor": cursor}
    return Call("GET", f"{API}/runs", Page.of_runs, params={k: v for k, v in params.items() if v is not None},
                safe=True)


def cancel(run_id: str) -> Call[Run]:
    # Cancelling twice is a no-op on the server, so a lost answer can be asked again.
    return Call("POST", f"{API}/runs/{_segment(str(run_id))}/cancel", Run.from_json, ok=(200, 202), safe=True)


def result(run_id: str) -> Call[RunResult]:
    return Call("GET", f"{API}/runs/{_segment(str(run_id))}/result", RunResult.from_json, safe=True)


def submit_workflow(steps: Iterable[Step | Mapping[str, Any]], on_failure: str | None,
                    idempotency_key: str | None) -> Call[Workflow]:
    body: dict[str, Any] = {"steps": [s.to_json() if isinstance(s, Step) else dict(s) for s in steps]}
    if on_failure is not None:
        body["on_failure"] = on_failure
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    return Call("POST", f"{API}/workflows", Workflow.from_json, ok=(200, 202), json=body,
                safe=idempotency_key is not None)


def workflow(workflow_id: str) -> Call[Workflow]:
    return Call("GET", f"{API}/workflows/{_segment(str(workflow_id))}", Workflow.from_json, safe=True)


def workflows(*, status: str | None, limit: int | None, cursor: str | None) -> Call[Page[Workflow]]:
    params = {"status": status, "limit": limit, "cursor": cursor}
    return Call("GET", f"{API}/workflows", Page.of_workflows,
                params={k: v for k, v in params.items() if v is not None}, safe=True)


def cancel_workflow(workflow_id: str) -> Call[Workflow]:
    # Like a run's cancel: asking again while the workflow is being cancelled changes nothing.
    return Call("POST", f"{API}/workflows/{_segment(str(workflow_id))}/cancel", Workflow.from_json,
                ok=(200, 202), safe=True)


def retry_workflow(workflow_id: str) -> Call[Workflow]:
    # Not repeated after a lost answer: had the first retry already ended again, a second would
    # re-run its failed steps once more.
    return Call("POST", f"{API}/workflows/{_segment(str(workflow_id))}/retry", Workflow.from_json,
                ok=(200, 202))


UPLOAD_PATH = f"{API}/files"


def parse_upload(data: Any) -> Upload:
    return Upload.from_json(data)


def read(call: Call[T], response: httpx.Response) -> T:
    """The parsed body of a successful answer, or the ``ApiError`` the answer describes."""
    if response.status_code not in call.ok:
        raise api_error(response)
    try:
        data = response.json()
    except ValueError:
        raise ApiError("unexpected_response", f"{call.method} {call.path}: the answer is not JSON",
                       http_status=response.status_code, details={"body": response.text[:300]}) from None
    return call.parse(data)


def api_error(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error.get("message", "")), error.get("details")
    except (ValueError, KeyError, TypeError):  # not our error body: a proxy, a load balancer
        code, message, details = "http_error", response.text[:300] or response.reason_phrase, None
    cls = error_for(response.status_code, code)
    return cls(code, message, http_status=response.status_code, details=details,
               retry_after=retry_after(response))
