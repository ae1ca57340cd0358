"""``AsyncClient``: the asyncio client (FastAPI and other async services). Same API as ``Client``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from atomfleet.client import _calls
from atomfleet.client._base import (
    UploadSource,
    download_target,
    is_api_url,
    next_poll,
    transport_error,
    upload_parts,
)
from atomfleet.client._calls import Call
from atomfleet.client._errors import WaitTimeout, WorkflowWaitTimeout
from atomfleet.client._events import STREAM_PATH, Event, SseParser, stream_params
from atomfleet.client._models import (
    Artifact,
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
from atomfleet.client._retry import (
    Retries,
    RetryEvent,
    answer_retryable,
    retry_after,
    transport_retryable,
)

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """An asyncio client of one atomfleet API with one token; ``async with`` or ``aclose()``.

    Create one per process (e.g. in a FastAPI lifespan) and share it: it pools connections.
    """

    def __init__(self, base_url: str, token: str, *, events_url: str | None = None, timeout: float = 30.0, retries: Retries | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # The events process's URL when it is not reached through the API's own address.
        self.events_url = (events_url or os.environ.get("ATOMFLEET_EVENTS_URL") or self.base_url).rstrip("/")
        self.retries = retries or Retries()
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )
        self._plain = httpx.AsyncClient(timeout=timeout)  # presigned URLs: never the token

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncClient:
        url, token = os.environ.get("ATOMFLEET_URL"), os.environ.get("ATOMFLEET_TOKEN")
        if not url or not token:
            raise ValueError("set ATOMFLEET_URL and ATOMFLEET_TOKEN")
        return cls(url, token, **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._plain.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the retry loop (see _retry for what is retried) ---------------------------------------
    async def _send(self, method: str, path: str, safe: bool, build: Callable[[], dict[str, Any]]) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(method, path, **build())
            except httpx.TransportError as exc:
                wait = self.retries.delay(attempt) if transport_retryable(exc, safe) else None
                if wait is None:
                    raise transport_error(method, path, exc, attempt) from exc
                await self._pause(RetryEvent(method, path, attempt, wait, type(exc).__name__))
                continue
            reason = answer_retryable(response) if safe else None
            if reason is not None:
                wait = self.retries.delay(attempt, retry_after(response))
                if wait is not None:
                    await self._pause(RetryEvent(method, path, attempt, wait, reason))
                    continue
            return response

    async def _pause(self, event: RetryEvent) -> None:
        if self.retries.on_retry is not None:
            self.retries.on_retry(event)
        await asyncio.sleep(event.delay)

    async def _call(self, call: Call[T]) -> T:
        def build() -> dict[str, Any]:
            return {"params": call.params, "json": call.json, "headers": call.headers}

        return _calls.read(call, await self._send(call.method, call.path, call.safe, build))

    # -- the API -------------------------------------------------------------------------------
    async def atoms(self) -> list[AtomInfo]:
        return await self._call(_calls.atoms())

    async def submit(self, atom: str, args: Mapping[str, Any], *, idempotency_key: str | None = None,
                     priority: int | None = None) -> Run:
        return await self._call(_calls.submit(atom, args, idempotency_key, priority))

    async def submit_batch(self, atom: str, items: Iterable[BatchItem | Mapping[str, Any]]) -> BatchResult:
        return await self._call(_calls.submit_batch(atom, items))

    async def run(self, run_id: str) -> Run:
        return await self._call(_calls.run(run_id))

    async def runs(self, *, status: str | None = None, atom: str | None = None, queue: str | None = None,
                   limit: int | None = None, cursor: str | None = None) -> Page[Run]:
        return await self._call(_calls.runs(status=status, atom=atom, queue=queue, limit=limit, cursor=cursor))

    async def iter_runs(self, *, status: str | None = None, atom: str | None = None, queue: str | None = None,
                        page_size: int | None = None) -> AsyncIterator[Run]:
        cursor: str | None = None
        while True:
            page = await self.runs(status=status, atom=atom, queue=queue, limit=page_size, cursor=cursor)
            for run in page.items:
                yield run
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def cancel(self, run_id: str) -> Run:
        return await self._call(_calls.cancel(run_id))

    async def result(self, run_id: str) -> RunResult:
        return await self._call(_calls.result(run_id))

    async def wait(self, run_id: str, timeout: float = 3600.0, *, poll_interval: float = 0.2,
                   max_poll_interval: float = 5.0, on_update: Callable[[Run], None] | None = None) -> Run:
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            run = await self.run(run_id)
            if on_update is not None:
                on_update(run)
            if run.is_terminal:
                return run
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(run, timeout)
            await asyncio.sleep(min(interval, left))
            interval = next_poll(interval, max_poll_interval)

    # -- workflows (docs/workflows.md) ---------------------------------------------------------
    async def submit_workflow(self, steps: Iterable[Step | Mapping[str, Any]], *, on_failure: str | None = None,
                              idempotency_key: str | None = None) -> Workflow:
        return await self._call(_calls.submit_workflow(steps, on_failure, idempotency_key))

    async def get_workflow(self, workflow_id: str) -> Workflow:
        return await self._call(_calls.workflow(workflow_id))

    async def list_workflows(self, *, status: str | None = None, limit: int | None = None,
                             cursor: str | None = None) -> Page[Workflow]:
        return await self._call(_calls.workflows(status=status, limit=limit, cursor=cursor))

    async def iter_workflows(self, *, status: str | None = None, page_size: int | None = None) -> AsyncIterator[Workflow]:
        cursor: str | None = None
        while True:
            page = await self.list_workflows(status=status, limit=page_size, cursor=cursor)
            for workflow in page.items:
                yield workflow
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def cancel_workflow(self, workflow_id: str) -> Workflow:
        return await self._call(_calls.cancel_workflow(workflow_id))

    async def retry_workflow(self, workflow_id: str) -> Workflow:
        return await self._call(_calls.retry_workflow(workflow_id))

    async def wait_workflow(self, workflow_id: str, timeout: float = 3600.0, *, poll_interval: float = 0.2,
                            max_poll_interval: float = 5.0, on_update: Callable[[Workflow], None] | None = None) -> Workflow:
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            workflow = await self.get_workflow(workflow_id)
            if on_update is not None:
                on_update(workflow)
            if workflow.is_terminal:
                return workflow
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkflowWaitTimeout(workflow, timeout)
            await asyncio.sleep(min(interval, left))
            interval = next_poll(interval, max_poll_interval)

    async def upload(self, source: UploadSource, *, name: str | None = None,
                     content_type: str | None = None) -> Upload:
        parts = upload_parts(source, name, content_type)
        with parts.opened() as opener:
            def build() -> dict[str, Any]:
                return {"files": {"file": opener()}}

            response = await self._send("POST", _calls.UPLOAD_PATH, False, build)
        return _calls.read(Call("POST", _calls.UPLOAD_PATH, _calls.parse_upload, ok=(201,)), response)

    async def download(self, artifact: Artifact | str, dest: str | os.PathLike[str] | IO[bytes]) -> int:
        url = artifact.url if isinstance(artifact, Artifact) else artifact
        http = self._http if is_api_url(self.base_url, url) else self._plain
        written = 0
        try:
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _calls.api_error(response)
                with download_target(dest) as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                        written += len(chunk)
        except httpx.TransportError as exc:
            raise transport_error("GET", url, exc, 1) from exc
        return written

    async def download_path(self, artifact: Artifact, folder: str | os.PathLike[str]) -> Path:
        path = Path(folder) / Path(artifact.name).name
        await self.download(artifact, path)
        return path

    # -- the event stream (docs/events.md) -----------------------------------------------------

    async def events(self, *, after: int | None = None, types: Iterable[str] | None = None, run: str | None = None,
               workflow: str | None = None, read_timeout: float = 60.0, give_up_after: float = 300.0) -> AsyncIterator[Event]:
        """Every event matching the filters after ``after`` (None: from now), as they happen.

        Reconnects on its own and resumes with ``Last-Event-ID`` (no gap, no duplicate); gives up
        with ``TransportError`` after ``give_up_after`` seconds without a stream. Stop by leaving
        the loop. The stream's URL is ``events_url`` (default: the API's URL).
        """
        url = self.events_url + STREAM_PATH
        last, failing_since, attempt = after, None, 0
        while True:
            headers = {"Accept": "text/event-stream"} | ({"Last-Event-ID": str(last)} if last is not None else {})
            wait: float | None = None
            try:
                async with self._http.stream("GET", url, params=stream_params(last, types, run, workflow), headers=headers,
                                       timeout=httpx.Timeout(10.0, read=read_timeout)) as response:
                    if response.status_code != 200:
                        await response.aread()
                        if response.status_code != 503:
                            raise _calls.api_error(response)
                        wait = retry_after(response)
                    else:
                        parser = SseParser()
                        async for line in response.aiter_lines():
                            event = parser.feed(line)
                            if event is not None:
                                failing_since, attempt, last = None, 0, event.id
                                yield event
            except httpx.TransportError as exc:
                failure: Exception = exc
            else:
                failure = ConnectionResetError("the stream ended")
            now = time.monotonic()
            failing_since = failing_since if failing_since is not None else now
            if now - failing_since > give_up_after:
                raise transport_error("GET", STREAM_PATH, failure, attempt + 1) from failure
            attempt += 1
            await asyncio.sleep(wait if wait is not None else min(self.retries.max_backoff, self.retries.backoff * 2 ** min(attempt - 1, 10)) * (0.5 if attempt == 1 else 1))
