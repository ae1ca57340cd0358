"""Server-Sent Events: many concurrent streams on one events process, and event commit → client latency.

One ``atomfleet events`` process (Django ASGI under uvicorn, as the chart's events Deployment runs
it) on a database of its own. ``--streams`` clients open ``GET /api/v1/events/stream`` at once,
each following a run of its own that never changes (they stay open, costing memory and one filter
test per event); the process's RSS is read from /proc before and with them open. Then, with those
streams still open, this process writes events through the event log's one writer
(``events.log.emit``, one transaction each) at ``--rate`` per second for ``--seconds``, all for
one run that ``--followers`` more streams follow; the latency of an event is the time from its
commit returning to a follower parsing its ``data:`` line. The clients run in this process (one
asyncio loop), on the same machine. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from pathlib import Path

import httpx

from bench._common import (
    VENV_BIN,
    Process,
    env_int,
    free_port,
    load_average,
    machine,
    markdown_table,
    percentile,
    redis_url,
    stop_on_sigterm,
    throwaway_database,
    wait_for,
)
from bench._fleet import Fleet


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=env_int("BENCH_SSE_STREAMS", 1000), help="idle streams held open")
    p.add_argument("--followers", type=int, default=10, help="streams following the measured run")
    p.add_argument("--rate", type=float, default=200, help="events written per second")
    p.add_argument("--seconds", type=float, default=20, help="how long events are written")
    p.add_argument("--redis-db", type=int, default=13, help="Redis DB named as the broker (nothing is published)")
    p.add_argument("--database", default="atomfleet_bench_sse", help="PostgreSQL database (dropped and created)")
    return p


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _raise_fd_limit(needed: int) -> None:
    """Each stream is a socket here and one in the events process (which inherits this limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def _stream(client: httpx.AsyncClient, url: str, run: str, opened: asyncio.Event | None,
                  received: list[tuple[int, float]] | None, ready: list[int]) -> None:
    async with client.stream("GET", url, params={"run": run}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"stream answered {response.status_code}: {(await response.aread())[:200]!r}")
        ready.append(1)
        if opened is not None and len(ready) >= opened_target[0]:
            opened.set()
        async for line in response.aiter_lines():
            if received is not None and line.startswith("data:"):
                received.append((json.loads(line[5:])["data"]["n"], time.time()))


opened_target = [0]


def _writer(tenant_id: int, run: str, rate: float, seconds: float, committed: dict[int, float]) -> None:
    from django.db import connection, transaction

    from atomfleet_orchestrator.events.log import emit
    from atomfleet_orchestrator.events.models import EventType

    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        due = start + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        with transaction.atomic():
            emit(EventType.RUN_PROGRESS, tenant_id=tenant_id, run_id=run, data={"n": n})
        committed[n] = time.time()
        n += 1
    connection.close()


async def _measure(args: argparse.Namespace, base: str, token: str, tenant_id: int, events_pid: int) -> list[list[str]]:
    url = f"{base}/api/v1/events/stream"
    measured = str(uuid.uuid4())
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    timeout = httpx.Timeout(30, read=None)
    rows: list[list[str]] = []
    idle_rss = _rss_mib(events_pid)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=timeout) as client:
        ready: list[int] = []
        opened = asyncio.Event()
        opened_target[0] = args.streams + args.followers
        received: list[list[tuple[int, float]]] = [[] for _ in range(args.followers)]
        started = time.monotonic()
        tasks = [asyncio.create_task(_stream(client, url, str(uuid.uuid4()), opened, None, ready))
                 for _ in range(args.streams)]
        tasks += [asyncio.create_task(_stream(client, url, measured, opened, received[i], ready))
                  for i in range(args.followers)]
        waiter = asyncio.create_task(opened.wait())
        done, _ = await asyncio.wait([waiter, *tasks], timeout=120, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            failed = [t for t in tasks if t.done() and t.exception()]
            raise RuntimeError(f"{len(ready)} of {opened_target[0]} streams opened; "
                               f"{failed[0].exception() if failed else 'timed out'}")
        open_seconds = time.monotonic() - started
        await asyncio.sleep(1)
        open_rss = _rss_mib(events_pid)
        committed: dict[int, float] = {}
        await asyncio.to_thread(_writer, tenant_id, measured, args.rate, args.seconds, committed)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(len(r) < len(committed) for r in received):
            await asyncio.sleep(0.1)
        latencies = [(at - committed[n]) * 1000 for r in received for n, at in r if n in committed]
        expected = len(committed) * args.followers
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    streams = args.streams + args.followers
    rows.append(["streams open at once", f"{streams}", f"opened in {open_seconds:.1f} s"])
    rows.append(["events process RSS, no stream", f"{idle_rss:.0f} MiB", ""])
    rows.append([f"events process RSS, {streams} streams", f"{open_rss:.0f} MiB",
                 f"{(open_rss - idle_rss) * 1024 / streams:.0f} KiB a stream"])
    rows.append(["events written", f"{len(committed)}", f"{len(committed) / args.seconds:.0f}/s for {args.seconds:g} s"])
    rows.append(["deliveries to followers", f"{len(latencies)} of {expected}", f"{args.followers} followers"])
    if latencies:
        rows.append(["commit → client p50", f"{percentile(latencies, 50):.1f} ms", "target ≤ 50 ms"])
        rows.append(["commit → client p99", f"{percentile(latencies, 99):.1f} ms", "target ≤ 250 ms"])
        rows.append(["commit → client max", f"{max(latencies):.1f} ms", ""])
    return rows


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_on_sigterm()
    _raise_fd_limit(2 * (args.streams + args.followers) + 256)
    print(f"# SSE: {args.streams} idle streams + {args.followers} followers, {args.rate:g} events/s\n{machine()}")
    with throwaway_database(args.database) as url:
        fleet = Fleet(url, redis_url(args.redis_db))
        events: Process | None = None
        try:
            fleet.prepare()
            port = free_port()
            env = fleet.env(ATOMFLEET_EVENTS_HOST="127.0.0.1", ATOMFLEET_EVENTS_PORT=str(port),
                            ATOMFLEET_METRICS_PORT=str(free_port()),
                            ATOMFLEET_EVENTS_MAX_STREAMS=str(args.streams + args.followers + 100))
            events = Process("events", [str(VENV_BIN / "atomfleet"), "events"], env,
                             fleet.workdir / "events.log").start()
            base = f"http://127.0.0.1:{port}"

            def ready() -> bool:
                try:
                    return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(ready, 60, "the events process's /readyz", interval=0.2, alive=events.check_alive)
            tenant_id = _setup_django(fleet)
            rows = asyncio.run(_measure(args, base, fleet.token, tenant_id, events.pid))
        finally:
            if events is not None:
                events.stop()
            fleet.stop()
    print(markdown_table(["figure", "value", "note"], rows))
    print(f"\nload average after: {load_average()}")
    return 0


def _setup_django(fleet: Fleet) -> int:
    """This process writes events into the same database, with the same settings (the one writer)."""
    import os

    os.environ.update(fleet.env(DJANGO_SETTINGS_MODULE="atomfleet_orchestrator.settings"))
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's root handler would print every request
    from atomfleet_orchestrator.tenancy.models import Tenant

    return int(Tenant.objects.get(slug="bench").id)


if __name__ == "__main__":
    raise SystemExit(main())

