"""The client's retries against a real local HTTP server that answers 503, drops connections or
is not listening yet: what is retried, how long it waits, and what is never sent twice."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from atomfleet.client import (
    AsyncClient,
    Client,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Retries,
    RetryEvent,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    TransportError,
    WaitTimeout,
)
from atomfleet.client._retry import retry_after
from tests.support.live_api import free_port
from tests.support.scripted_http import Answer, ScriptedServer, drop, unavailable

pytestmark = pytest.mark.timeout(60)

RUN_ID = "6f1c3f9e-3b7a-4d59-9d7e-2b1c6c0e8a11"


def run_json(status: str = "queued", **extra: Any) -> dict[str, Any]:
    return {
        "id": RUN_ID, "url": f"http://x/api/v1/runs/{RUN_ID}", "atom": "text.stats", "queue": "default",
        "status": status, "args": {"text": "a"}, "idempotency_key": None, "created_by": "svc",
        "progress": {"fraction": 0.0, "message": ""}, "error": None, "attempts": 0, "max_attempts": 4,
        "next_attempt_at": None, "cancel_requested": False, "celery_task_id": "t", "worker": "",
        "created_at": "2026-11-25T20:00:00.123456Z", "started_at": None, "finished_at": None,
        "heartbeat_at": None, "result_url": f"http://x/api/v1/runs/{RUN_ID}/result", **extra,
    }


class Recorder:
    def __init__(self) -> None:
        self.events: list[RetryEvent] = []

    def __call__(self, event: RetryEvent) -> None:
        self.events.append(event)


def fast(attempts: int = 4, **kwargs: Any) -> tuple[Retries, Recorder]:
    recorder = Recorder()
    return Retries(attempts=attempts, backoff=0.02, max_backoff=kwargs.pop("max_backoff", 2.0),
                   on_retry=recorder, **kwargs), recorder


def test_a_get_is_retried_through_503s_and_dropped_connections() -> None:
    retries, recorder = fast()
    with ScriptedServer(unavailable("0"), drop(), Answer(200, run_json("running"))) as server, \
            Client(server.url, "tok", retries=retries) as client:
        run = client.run(RUN_ID)
    assert run.status == "running" and run.created_at.year == 2026
    assert [e.reason for e in recorder.events] == ["503", "RemoteProtocolError"]
    assert len(server.seen) == 3 and all(s.headers["Authorization"] == "Bearer tok" for s in server.seen)


def test_retry_after_is_honoured() -> None:
    retries, recorder = fast()
    with ScriptedServer(unavailable("1"), Answer(200, run_json())) as server, \
            Client(server.url, "tok", retries=retries) as client:
        started = time.monotonic()
        client.run(RUN_ID)
        elapsed = time.monotonic() - started
    assert [e.delay for e in recorder.events] == [1.0]
    assert elapsed >= 1.0


def test_a_retry_after_longer_than_max_backoff_is_raised_at_once() -> None:
    retries, recorder = fast(max_backoff=2.0)
    with ScriptedServer(unavailable("120")) as server, Client(server.url, "tok", retries=retries) as client, \
            pytest.raises(ServiceUnavailable) as caught:
        client.run(RUN_ID)
    assert caught.value.retry_after == 120 and caught.value.code == "database_unavailable"
    assert caught.value.http_status == 503 and recorder.events == [] and len(server.seen) == 1


def test_503s_are_retried_until_the_attempts_run_out() -> None:
    retries, recorder = fast(attempts=3)
    with ScriptedServer(unavailable("0")) as server, Client(server.url, "tok", retries=retries) as client, \
            pytest.raises(ServiceUnavailable):
        client.atoms()
    assert len(server.seen) == 3 and len(recorder.events) == 2


def test_a_submit_without_idempotency_key_is_never_sent_twice() -> None:
    retries, recorder = fast()
    with ScriptedServer(drop(), Answer(202, run_json())) as server, Client(server.url, "tok", retries=retries) as client:
        with pytest.raises(TransportError) as caught:
            client.submit("text.stats", {"text": "a"})
        assert caught.value.code == "unreachable" and caught.value.http_status == 0
        assert len(server.seen) == 1 and recorder.events == []
    with ScriptedServer(unavailable("0"), Answer(202, run_json())) as server, \
            Client(server.url, "tok", retries=retries) as client, pytest.raises(ServiceUnavailable):
        client.submit("text.stats", {"text": "a"})
    assert len(server.seen) == 1


def test_a_submit_with_an_idempotency_key_is_retried_with_the_same_key() -> None:
    retries, recorder = fast()
    with ScriptedServer(drop(), unavailable("0"), Answer(202, run_json())) as server, \
            Client(server.url, "tok", retries=retries) as client:
        run = client.submit("text.stats", {"text": "a"}, idempotency_key="order-42")
    assert run.id == RUN_ID and len(server.seen) == 3
    assert {s.body for s in server.seen} == {b'{"args":{"text":"a"},"idempotency_key":"order-42"}'}


def test_a_batch_is_retried_only_when_every_item_has_a_key() -> None:
    retries, _ = fast()
    keyed = [{"args": {"text": "a"}, "idempotency_key": "k1"}, {"args": {"text": "b"}, "idempotency_key": "k2"}]
    batch = {"results": [{"created": True, "run": run_json()}]}
    with ScriptedServer(unavailable("0"), Answer(202, batch)) as server, Client(server.url, "t", retries=retries) as client:
        assert len(client.submit_batch("text.stats", keyed).runs) == 1
        assert len(server.seen) == 2
    with ScriptedServer(unavailable("0"), Answer(202, batch)) as server, Client(server.url, "t", retries=retries) as client:
        with pytest.raises(ServiceUnavailable):
            client.submit_batch("text.stats", [keyed[0], {"args": {"text": "c"}}])
        assert len(server.seen) == 1


def _listen_later(port: int, delay: float, *script: Answer) -> list[ScriptedServer]:
    started: list[ScriptedServer] = []

    def start() -> None:
        time.sleep(delay)
        started.append(ScriptedServer(*script, port=port))

    threading.Thread(target=start, daemon=True).start()
    return started


def test_a_refused_connection_is_retried_for_any_request_because_nothing_was_sent() -> None:
    port = free_port()
    started = _listen_later(port, 0.4, Answer(202, run_json()))
    recorder = Recorder()
    retries = Retries(attempts=10, backoff=0.1, max_backoff=0.3, on_retry=recorder)
    try:
        with Client(f"http://127.0.0.1:{port}", "tok", retries=retries) as client:
            run = client.submit("text.stats", {"text": "a"})  # no key: still safe to try again
        assert run.id == RUN_ID
        assert recorder.events and {e.reason for e in recorder.events} == {"ConnectError"}
        assert len(started[0].seen) == 1
    finally:
        for server in started:
            server.stop()


def test_an_upload_from_a_path_is_sent_whole_after_refused_connections(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_bytes(b"a,b\n" * 1000)
    port = free_port()
    upload = {"key": "tenants/t/uploads/1/in.csv", "size": 4000, "content_type": "text/csv", "name": "in.csv"}
    started = _listen_later(port, 0.3, Answer(201, upload))
    try:
        with Client(f"http://127.0.0.1:{port}", "tok", retries=Retries(attempts=10, backoff=0.1, max_backoff=0.3)) as c:
            result = c.upload(data)
        assert result.key.endswith("in.csv")
        (seen,) = started[0].seen
        assert seen.body.count(b"a,b\n") == 1000 and b'filename="in.csv"' in seen.body
    finally:
        for server in started:
            server.stop()


def test_delays_grow_exponentially_with_jitter_up_to_the_ceiling() -> None:
    retries = Retries(attempts=10, backoff=0.1, max_backoff=0.5)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (8, 0.5)]:
        delays = {retries.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays if d is not None), (attempt, delays)
        assert len(delays) > 1  # jittered
    assert retries.delay(10) is None


def test_exhausted_retries_say_how_many_attempts_were_made() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", "tok", retries=Retries(attempts=3, backoff=0.01)) as client, \
            pytest.raises(TransportError) as caught:
        client.atoms()
    assert caught.value.details == {"exception": "ConnectError", "attempts": 3}


def test_errors_carry_the_servers_code_status_and_details() -> None:
    missing = {"error": {"code": "run_not_found", "message": "no run x", "details": {"run": "x"}}}
    with ScriptedServer(Answer(404, missing), Answer(502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})) \
            as server, Client(server.url, "tok", retries=Retries(attempts=1)) as client:
        with pytest.raises(NotFound) as not_found:
            client.run(RUN_ID)
        assert (not_found.value.code, not_found.value.http_status, not_found.value.details) == (
            "run_not_found", 404, {"run": "x"})
        with pytest.raises(ServerError) as bad_gateway:
            client.run(RUN_ID)
        assert bad_gateway.value.code == "http_error" and "bad gateway" in bad_gateway.value.message


def test_wait_polls_until_the_run_finishes_and_times_out_with_the_last_state() -> None:
    script = [Answer(200, run_json("queued")), Answer(200, run_json("running")),
              Answer(200, run_json("succeeded", finished_at="2026-11-25T20:00:01Z"))]
    updates: list[str] = []
    with ScriptedServer(*script) as server, Client(server.url, "tok") as client:
        run = client.wait(RUN_ID, timeout=10, poll_interval=0.01, on_update=lambda r: updates.append(r.status))
    assert run.succeeded and run.finished_at is not None and updates == ["queued", "running", "succeeded"]
    with ScriptedServer(Answer(200, run_json("running"))) as server, Client(server.url, "tok") as client, \
            pytest.raises(WaitTimeout) as caught:
        client.wait(RUN_ID, timeout=0.3, poll_interval=0.05)
    assert caught.value.run.status == "running" and isinstance(caught.value, TimeoutError)
    assert 2 <= len(server.seen) <= 8  # backing off, not spinning


def test_downloads_send_the_token_only_to_the_api(tmp_path: Path) -> None:
    with ScriptedServer(Answer(200, b"from the api")) as api, ScriptedServer(Answer(200, b"from s3")) as store, \
            Client(api.url, "tok") as client:
        assert client.download(f"{api.url}/api/v1/runs/{RUN_ID}/artifacts/a.txt", tmp_path / "a.txt") == 12
        client.download(f"{store.url}/bucket/key?X-Amz-Signature=abc", tmp_path / "b.txt")
    assert (tmp_path / "a.txt").read_bytes() == b"from the api" and (tmp_path / "b.txt").read_bytes() == b"from s3"
    assert api.seen[0].headers["Authorization"] == "Bearer tok"
    assert "Authorization" not in store.seen[0].headers


def test_a_failed_download_leaves_no_partial_file(tmp_path: Path) -> None:
    gone = {"error": {"code": "artifact_not_found", "message": "missing", "details": None}}
    with ScriptedServer(Answer(404, gone)) as api, Client(api.url, "tok") as client, pytest.raises(NotFound):
        client.download(f"{api.url}/api/v1/runs/{RUN_ID}/artifacts/a.txt", tmp_path / "a.txt")
    assert list(tmp_path.iterdir()) == []


def test_the_async_client_retries_the_same_way() -> None:
    async def scenario(url: str, recorder: Recorder) -> tuple[str, int]:
        retries = Retries(attempts=4, backoff=0.02, on_retry=recorder)
        async with AsyncClient(url, "tok", retries=retries) as client:
            run = await client.run(RUN_ID)
            try:
                await client.submit("text.stats", {"text": "a"})
            except ServiceUnavailable as exc:
                return run.status, exc.http_status
        raise AssertionError("the unkeyed submit was retried")

    recorder = Recorder()
    with ScriptedServer(unavailable("0"), drop(), Answer(200, run_json("running")), unavailable("0")) as server:
        status, refused = asyncio.run(scenario(server.url, recorder))
    assert (status, refused) == ("running", 503)
    assert [e.reason for e in recorder.events] == ["503", "RemoteProtocolError"]
    assert len(server.seen) == 4


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    import httpx

    assert retry_after(httpx.Response(503, headers={"Retry-After": "7"})) == 7.0
    assert retry_after(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after(httpx.Response(503)) is None


def _too_many(code: str, retry_after: str | None = "0") -> Answer:
    details = {"limit": 2, "in_use": 2, "requested": 1} if code == "quota_exceeded" else {"retry_after": 0}
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Answer(429, {"error": {"code": code, "message": "limited", "details": details}}, headers)


def test_a_429_raises_a_typed_error_and_rate_limited_is_retried_only_when_safe() -> None:
    retries, recorder = fast()
    # Keyed: rate_limited is retried after Retry-After, with the same key.
    with ScriptedServer(_too_many("rate_limited"), Answer(202, run_json())) as server, \
            Client(server.url, "tok", retries=retries) as client:
        assert client.submit("text.stats", {"text": "a"}, idempotency_key="k").id == RUN_ID
    assert len(server.seen) == 2 and [e.reason for e in recorder.events] == ["rate_limited"]
    # Without a key: raised at once, typed, with its Retry-After.
    with ScriptedServer(_too_many("rate_limited", "7"), Answer(202, run_json())) as server, \
            Client(server.url, "tok", retries=retries) as client, pytest.raises(RateLimited) as limited:
        client.submit("text.stats", {"text": "a"})
    assert len(server.seen) == 1 and limited.value.retry_after == 7 and limited.value.http_status == 429
    # quota_exceeded lasts until runs end: never retried, even keyed.
    with ScriptedServer(_too_many("quota_exceeded"), Answer(202, run_json())) as server, \
            Client(server.url, "tok", retries=retries) as client, pytest.raises(QuotaExceeded) as quota:
        client.submit("text.stats", {"text": "a"}, idempotency_key="k")
    assert len(server.seen) == 1 and quota.value.details["in_use"] == 2
    assert isinstance(quota.value, TooManyRequests) and isinstance(limited.value, TooManyRequests)
