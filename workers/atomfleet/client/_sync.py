"""``Client``: the blocking client (scripts, the CLI, threads, Celery tasks of other services)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
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

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """A blocking client of one atomfleet API with one token.

    ``Client.from_env()`` reads ``ATOMFLEET_URL`` and ``ATOMFLEET_TOKEN``. Use it as a context
    manager (or call ``close()``) to release its connections.
    """

    def __init__(self, base_url: str, token: str, *, events_url: str | None = None, timeout: float = 30.0, retries: Retries | None = None,
                 transport: httpx.BaseTransport | None = None, headers: Mapping[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # The events process's URL when it is not reached through the API's own address.
        self.events_url = (events_url or os.environ.get("ATOMFLEET_EVENTS_URL") or self.base_url).rstrip("/")
        self.retries = retries or Retries()
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport,
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )
        # Presigned object-store URLs carry their own authorization: never send them the token.
        self._plain = httpx.Client(timeout=timeout)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        url, token = os.environ.get("ATOMFLEET_URL"), os.environ.get("ATOMFLEET_TOKEN")
        if not url or not token:
            raise ValueError("set ATOMFLEET_URL and ATOMFLEET_TOKEN")
        return cls(url, token, **kwargs)

    def close(self) -> None:
        self._http.close()
        self._plain.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the retry loop ------------------------------------------------------------------------
    def _send(self, method: str, path: str, safe: bool, build: Callable[[], dict[str, Any]]) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, path, **build())
            except httpx.TransportError as exc:
                wait = self.retries.delay(attempt) if transport_retryable(exc, safe) else None
                if wait is None:
                    raise transport_error(method, path, exc, attempt) from exc
                self._pause(RetryEvent(method, path, attempt, wait, type(exc).__name__))
                continue
            reason = answer_retryable(response) if safe else None
            if reason is not None:
                wait = self.retries.delay(attempt, retry_after(response))
                if wait is not None:
                    self._pause(RetryEvent(method, path, attempt, wait, reason))
                    continue
            return response

    def _pause(self, event: RetryEvent) -> None:
        if self.retries.on_retry is not None:
            self.retries.on_retry(event)
        time.sleep(event.delay)

    def _call(self, call: Call[T]) -> T:
        def build() -> dict[str, Any]:
            return {"params": call.params, "json": call.json, "headers": call.headers}

        return _calls.read(call, self._send(call.method, call.path, call.safe, build))

    # -- the API -------------------------------------------------------------------------------
    def atoms(self) -> list[AtomInfo]:
        return self._call(_calls.atoms())

    def submit(self, atom: str, args: Mapping[str, Any], *, idempotency_key: str | None = None,
               priority: int | None = None) -> Run:
        """Submit a run; with an idempotency key it is retried safely and never created twice."""
        return self._call(_calls.submit(atom, args, idempotency_key, priority))

    def submit_batch(self, atom: str, items: Iterable[BatchItem | Mapping[str, Any]]) -> BatchResult:
        """Submit many runs of one atom: all are created or none (``BadRequest`` ``invalid_batch``)."""
        return self._call(_calls.submit_batch(atom, items))

    def run(self, run_id: str) -> Run:
        return self._call(_calls.run(run_id))

    def runs(self, *, status: str | None = None, atom: str | None = None, queue: str | None = None,
             limit: int | None = None, cursor: str | None = None) -> Page[Run]:
        return self._call(_calls.runs(status=status, atom=atom, queue=queue, limit=limit, cursor=cursor))

    def iter_runs(self, *, status: str | None = None, atom: str | None = None, queue: str | None = None,
                  page_size: int | None = None) -> Iterator[Run]:
        """Every matching run, newest first, one page request at a time."""
        cursor: str | None = None
        while True:
            page = self.runs(status=status, atom=atom, queue=queue, limit=page_size, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel(self, run_id: str) -> Run:
        return self._call(_calls.cancel(run_id))

    def result(self, run_id: str) -> RunResult:
        return self._call(_calls.result(run_id))

    def wait(self, run_id: str, timeout: float = 3600.0, *, poll_interval: float = 0.2,
             max_poll_interval: float = 5.0, on_update: Callable[[Run], None] | None = None) -> Run:
        """Poll until the run finishes (any terminal state) and return it; ``WaitTimeout`` after
        ``timeout`` seconds. Polls start every ``poll_interval`` and back off to ``max_poll_interval``."""
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            run = self.run(run_id)
            if on_update is not None:
                on_update(run)
            if run.is_terminal:
                return run
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(run, timeout)
            time.sleep(min(interval, left))
            interval = next_poll(interval, max_poll_interval)

    # -- workflows (docs/workflows.md) ---------------------------------------------------------
    def submit_workflow(self, steps: Iterable[Step | Mapping[str, Any]], *, on_failure: str | None = None,
                        idempotency_key: str | None = None) -> Workflow:
        """Submit a DAG of steps (``Step`` objects or the API's step objects); ``on_failure`` is
        ``fail_fast`` (the server's default) or ``finish_branches``. With an idempotency key it is
        retried safely and the same key returns the same workflow."""
        return self._call(_calls.submit_workflow(steps, on_failure, idempotency_key))

    def get_workflow(self, workflow_id: str) -> Workflow:
        """The workflow and its steps, in submit order (the same as ``workflow()``)."""
        return self._call(_calls.workflow(workflow_id))

    def list_workflows(self, *, status: str | None = None, limit: int | None = None,
                       cursor: str | None = None) -> Page[Workflow]:
        """One page of workflows, newest first; pass ``next_cursor`` as ``cursor`` for the next."""
        return self._call(_calls.workflows(status=status, limit=limit, cursor=cursor))

    def iter_workflows(self, *, status: str | None = None, page_size: int | None = None) -> Iterator[Workflow]:
        cursor: str | None = None
        while True:
            page = self.list_workflows(status=status, limit=page_size, cursor=cursor)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel_workflow(self, workflow_id: str) -> Workflow:
        """Cancel every step: pending and queued steps end at once, running ones are asked to stop;
        the workflow ends ``cancelled`` once every step has ended."""
        return self._call(_calls.cancel_workflow(workflow_id))

    def retry_workflow(self, workflow_id: str) -> Workflow:
        """Run an ended workflow's failed, cancelled and skipped steps again (succeeded steps keep
        their results); the workflow is ``running`` again. Never resent after a lost answer."""
        return self._call(_calls.retry_workflow(workflow_id))

    def wait_workflow(self, workflow_id: str, timeout: float = 3600.0, *, poll_interval: float = 0.2,
                      max_poll_interval: float = 5.0, on_update: Callable[[Workflow], None] | None = None) -> Workflow:
        """Poll until the workflow ends (succeeded, failed or cancelled) and return it;
        ``WorkflowWaitTimeout`` after ``timeout`` seconds. Polls back off like ``wait()``."""
        deadline = time.monotonic() + timeout
        interval = poll_interval
        while True:
            workflow = self.get_workflow(workflow_id)
            if on_update is not None:
                on_update(workflow)
            if workflow.is_terminal:
                return workflow
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkflowWaitTimeout(workflow, timeout)
            time.sleep(min(interval, left))
            interval = next_poll(interval, max_poll_interval)

    def upload(self, source: UploadSource, *, name: str | None = None, content_type: str | None = None) -> Upload:
        """Upload an input file (a path, bytes or a binary file object), streamed from disk."""
        parts = upload_parts(source, name, content_type)
        with parts.opened() as opener:
            def build() -> dict[str, Any]:
                return {"files": {"file": opener()}}

            # Retried only when the connection could not be made: the file is re-read each time.
            response = self._send("POST", _calls.UPLOAD_PATH, False, build)
        return _calls.read(Call("POST", _calls.UPLOAD_PATH, _calls.parse_upload, ok=(201,)), response)

    def download(self, artifact: Artifact | str, dest: str | os.PathLike[str] | IO[bytes]) -> int:
        """Stream an artifact (or an artifact URL) into a path or a binary file; returns bytes written."""
        url = artifact.url if isinstance(artifact, Artifact) else artifact
        http = self._http if is_api_url(self.base_url, url) else self._plain
        written = 0
        try:
            with http.stream("GET", url) as response:
                if response.status_code != 200:
                    response.read()
                    raise _calls.api_error(response)
                with download_target(dest) as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                        written += len(chunk)
        except httpx.TransportError as exc:
            raise transport_error("GET", url, exc, 1) from exc
        return written

    def download_path(self, artifact: Artifact, folder: str | os.PathLike[str]) -> Path:
        """Download an artifact into ``folder`` under its own name; returns the path."""
        path = Path(folder) / Path(artifact.name).name
        self.download(artifact, path)
        return path

    # -- the event stream (docs/events.md) -----------------------------------------------------

    def events(self, *, after: int | None = None, types: Iterable[str] | None = None, run: str | None = None,
               workflow: str | None = None, read_timeout: float = 60.0, give_up_after: float = 300.0) -> Iterator[Event]:
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
                with self._http.stream("GET", url, params=stream_params(last, types, run, workflow), headers=headers,
                                       timeout=httpx.Timeout(10.0, read=read_timeout)) as response:
                    if response.status_code != 200:
                        response.read()
                        if response.status_code != 503:
                            raise _calls.api_error(response)
                        wait = retry_after(response)
                    else:
                        parser = SseParser()
                        for line in response.iter_lines():
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
            time.sleep(wait if wait is not None else min(self.retries.max_backoff, self.retries.backoff * 2 ** min(attempt - 1, 10)) * (0.5 if attempt == 1 else 1))
