"""AtomContext (progress throttling, cancellation) and structured logging."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from atomfleet.errors import RunCancelled
from atomfleet.runtime import AtomContext
from atomfleet.runtime.logging import (
    ConsoleFormatter,
    JsonFormatter,
    RunContextFilter,
    run_log_context,
)
from atomfleet.storage import LocalObjectStore, RunArtifacts, TenantFiles


def _ctx(tmp_path: Path, sink: list[tuple[float, str]], interval: float = 10.0) -> AtomContext:
    store = LocalObjectStore(tmp_path)
    return AtomContext(
        run_id="r1", tenant="acme", atom="text.stats", attempt=1,
        files=TenantFiles(store, "acme"), artifacts=RunArtifacts(store, "acme", "r1"),
        logger=logging.getLogger("t"), progress_sink=lambda f, m: sink.append((f, m)),
        progress_interval=interval,
    )


def test_progress_is_throttled_from_the_start_and_the_last_report_is_kept(tmp_path: Path) -> None:
    sink: list[tuple[float, str]] = []
    ctx = _ctx(tmp_path, sink)
    for i in range(1, 100):
        ctx.progress(i / 200, f"step {i}")
    assert sink == []  # a run that ends within one interval writes no progress at all
    ctx.flush_progress()
    assert sink == [(99 / 200, "step 99")]
    ctx.flush_progress()
    assert len(sink) == 1


def test_progress_is_written_once_per_interval(tmp_path: Path) -> None:
    sink: list[tuple[float, str]] = []
    ctx = _ctx(tmp_path, sink, interval=0.05)
    time.sleep(0.06)
    ctx.progress(0.1, "a")
    ctx.progress(0.2, "b")
    ctx.progress(7, "clamped")
    assert sink == [(0.1, "a")]
    time.sleep(0.06)
    ctx.progress(0.3, "c")
    assert sink == [(0.1, "a"), (0.3, "c")]


def test_cancellation_interrupts_sleep_and_checks(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, [])
    ctx.check_cancelled()
    threading.Timer(0.1, ctx.cancel_token.set).start()
    started = time.monotonic()
    with pytest.raises(RunCancelled):
        ctx.sleep(30)
    assert time.monotonic() - started < 5
    with pytest.raises(RunCancelled):
        ctx.check_cancelled()


def test_a_signal_handler_can_cancel_a_sleeping_atom(tmp_path: Path) -> None:
    """How a worker relays a cancellation: a signal to the pool process sets the token."""
    ctx = _ctx(tmp_path, [])
    previous = signal.signal(signal.SIGUSR2, lambda *_: ctx.cancel_token.set())
    try:
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR2)).start()
        started = time.monotonic()
        with pytest.raises(RunCancelled):
            ctx.sleep(30)
        assert time.monotonic() - started < 5
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_json_log_lines_carry_the_run_tags() -> None:
    record = logging.LogRecord("atomfleet.run", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    with run_log_context(tenant="acme", atom="text.stats", run_id="r1", task_id="t1"):
        RunContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello x"
    assert {k: line[k] for k in ("tenant", "atom", "run_id", "task_id")} == {
        "tenant": "acme", "atom": "text.stats", "run_id": "r1", "task_id": "t1",
    }
    assert "run_id=r1" in ConsoleFormatter().format(record)


def test_records_outside_a_run_are_untagged() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", (), None)
    RunContextFilter().filter(record)
    assert "run_id" not in json.loads(JsonFormatter().format(record))
