"""Fair dispatch: one tenant's backlog of thousands beside another tenant's trickle, on and off.

The full atomfleet path (bench/_fleet.py: the chart's API, beat and one ``default`` worker, here
at ``--concurrency`` slots because the atom sleeps instead of computing) runs ``diagnostics.sleep``
for a fixed ``--atom-seconds`` (one step: no progress write). Two tenants, each with its own token:
A submits ``--runs`` runs in batches of ``--batch`` (``POST .../runs/batch``, as fast as each is
admitted; A's limits raised with ``set_tenant_limits``), B submits one run every ``--b-interval``
seconds for ``--b-seconds`` (``POST .../runs`` on a fixed schedule: the k-th at k × interval, or at
once when the previous answer came later, so B submits as many runs in every phase). Phases, each
on a drained queue:

1. B alone (fair dispatch on);
2. A alone, fair dispatch on;
3. A and B, fair on: B starts once A's whole backlog is accepted;
4. A and B with ``ATOMFLEET_FAIR_DISPATCH=false`` in every process (API, beat and worker started
   again): every run published at once, FIFO, as before fair dispatch (``--off-runs`` /
   ``--off-b-seconds`` can shorten it);
5. A alone, fair dispatch off: A's throughput as it is "today".

B's queue wait is ``started_at − created_at`` of its run rows (database clock). A's throughput is
its runs ÷ (last ``finished_at`` − first ``started_at``). While A's backlog drains the Redis list
of the queue is sampled (``LLEN default`` every 0.25 s). Figures are printed, never asserted.
Uses Redis DB ``--redis-db`` and the PostgreSQL database ``--database`` (created, dropped).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from bench._common import (
    env_int,
    load_average,
    machine,
    markdown_table,
    percentile,
    ratio,
    redis_url,
    run_main,
    stop_on_sigterm,
    throwaway_database,
    wait_for,
)
from bench._counters import Snapshot, snapshot, wait_for_pg_flush
from bench._fleet import Fleet

ATOM = "diagnostics.sleep"
QUEUE = "default"  # diagnostics.sleep's queue
TERMINAL = ["succeeded", "failed", "cancelled"]
TENANT_A, TENANT_B = "tenant-a", "tenant-b"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("-n", "--runs", type=int, default=env_int("BENCH_FAIRNESS_N", 5000),
                   help="A's backlog, runs (env BENCH_FAIRNESS_N)")
    p.add_argument("--batch", type=int, default=1000, help="A's runs per request (ATOMFLEET_BATCH_MAX_ITEMS at most)")
    p.add_argument("--b-seconds", type=float, default=_env_float("BENCH_FAIRNESS_B_SECONDS", 60),
                   help="how long B submits (env BENCH_FAIRNESS_B_SECONDS)")
    p.add_argument("--b-interval", type=float, default=0.2, help="seconds between B's submits")
    p.add_argument("--atom-seconds", type=float, default=_env_float("BENCH_FAIRNESS_ATOM_SECONDS", 0.2),
                   help="how long each run sleeps (env BENCH_FAIRNESS_ATOM_SECONDS)")
    p.add_argument("-c", "--concurrency", type=int, default=env_int("BENCH_FAIRNESS_CONCURRENCY", 10),
                   help="slots of the one default worker (env BENCH_FAIRNESS_CONCURRENCY)")
    p.add_argument("--off-runs", type=int, default=None, help="A's backlog in phase 4 (fair off; default --runs)")
    p.add_argument("--off-b-seconds", type=float, default=None,
                   help="how long B submits in phase 4 (fair off; default --b-seconds)")
    p.add_argument("--redis-db", type=int, default=5, help="Redis DB of the broker")
    p.add_argument("--database", default="atomfleet_bench_fairness", help="PostgreSQL database (dropped and created)")
    p.add_argument("--keep-logs", action="store_true", help="print the folder of the process logs and leave it")
    return p


@dataclass
class Phase:
    """What one phase submitted and saw."""

    label: str
    a_ids: list[uuid.UUID] = field(default_factory=list)
    b_ids: list[uuid.UUID] = field(default_factory=list)
    a_submit_seconds: float = 0.0
    b_submit_seconds: float = 0.0
    b_refused: int = 0
    llen: list[tuple[float, int]] = field(default_factory=list)  # (monotonic, LLEN)
    load: list[float] = field(default_factory=list)  # the machine's 1-minute load average, sampled
    # (monotonic, backends of the bench database waiting on an advisory lock — the turn lock —, active)
    backends: list[tuple[float, int, int]] = field(default_factory=list)
    draining: tuple[float, float] = (0.0, 0.0)  # A's first batch accepted → A's last run started
    seconds: float = 0.0
    work: Snapshot | None = None  # counters around the phase (A alone only)


class Bench:
    def __init__(self, args: argparse.Namespace, db_url: str, broker: str) -> None:
        self.args = args
        self.db_url, self.broker = db_url, broker
        self.db = psycopg.connect(db_url, autocommit=True)
        self.redis = redis.Redis.from_url(broker)
        self.body_a = {"items": [{"args": self.atom_args}] * args.batch}
        self.tokens: dict[str, str] = {}
        self.fleet: Fleet | None = None

    @property
    def atom_args(self) -> dict[str, Any]:
        return {"seconds": self.args.atom_seconds, "steps": 1}

    # -- database ------------------------------------------------------------------------------
    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return list(self.db.execute(query, params).fetchall())

    def left(self, ids: list[uuid.UUID]) -> int:
        return int(self.sql("SELECT count(*) FROM runs_atomrun WHERE id = ANY(%s) AND status <> ALL(%s)",
                            ids, TERMINAL)[0][0])

    def statuses(self, ids: list[uuid.UUID]) -> dict[str, int]:
        return dict(self.sql("SELECT status, count(*) FROM runs_atomrun WHERE id = ANY(%s) GROUP BY status", ids))

    def waits_ms(self, ids: list[uuid.UUID]) -> list[float]:
        rows = self.sql("SELECT EXTRACT(EPOCH FROM started_at - created_at) * 1000 FROM runs_atomrun "
                        "WHERE id = ANY(%s) AND started_at IS NOT NULL", ids)
        return [float(r[0]) for r in rows]

    def window(self, ids: list[uuid.UUID]) -> tuple[Any, Any]:
        first, last = self.sql("SELECT min(started_at), max(finished_at) FROM runs_atomrun WHERE id = ANY(%s)", ids)[0]
        return first, last

    def run_ms(self, ids: list[uuid.UUID]) -> list[float]:
        """started_at → finished_at of each run: the atom, its claim's and its ending's transactions."""
        rows = self.sql("SELECT EXTRACT(EPOCH FROM finished_at - started_at) * 1000 FROM runs_atomrun "
                        "WHERE id = ANY(%s) AND started_at IS NOT NULL AND finished_at IS NOT NULL", ids)
        return [float(r[0]) for r in rows]

    def throughput(self, ids: list[uuid.UUID]) -> float:
        """Runs finished per second, from the first start to the last finish (database clock)."""
        first, last = self.window(ids)
        return len(ids) / (last - first).total_seconds()

    def together(self, phase: Phase) -> float:
        """A's and B's runs finished in A's window, per second: what the fleet did meanwhile."""
        first, last = self.window(phase.a_ids)
        done = self.sql("SELECT count(*) FROM runs_atomrun WHERE id = ANY(%s) AND finished_at BETWEEN %s AND %s",
                        phase.a_ids + phase.b_ids, first, last)[0][0]
        return int(done) / (last - first).total_seconds()

    # -- the fleet -----------------------------------------------------------------------------
    def start_fleet(self, fleet: Fleet) -> None:
        fleet.token = self.tokens[TENANT_A]
        fleet.start_api()
        fleet.start_beat()
        fleet.start_worker()
        self.fleet = fleet

    def prepare(self, fleet: Fleet) -> None:
        fleet.manage("migrate")
        fleet.manage("manage", "register_atoms")
        for slug in (TENANT_A, TENANT_B):
            fleet.manage("manage", "create_tenant", slug, "--name", f"Fairness bench {slug[-1].upper()}")
            self.tokens[slug] = fleet.manage("manage", "create_token", slug, "bench", "--rotate").strip().splitlines()[-1]
        # A's backlog must be accepted whole: quota and rate far above what it submits (the fleet
        # defaults of FLEET_ENV already are; set on the tenant too, as an operator would).
        fleet.manage("manage", "set_tenant_limits", TENANT_A, "--quota", "10000000", "--rate", "1000000",
                     "--burst", "1000000")

    def alive(self) -> None:
        if self.fleet is not None:
            self.fleet.check_alive()

    def client(self, tenant: str) -> httpx.Client:
        assert self.fleet is not None
        return httpx.Client(base_url=self.fleet.api_url, timeout=300,
                            headers={"Authorization": f"Bearer {self.tokens[tenant]}"})

    # -- the tenants ---------------------------------------------------------------------------
    def not_started(self, ids: list[uuid.UUID]) -> int:
        return int(self.sql("SELECT count(*) FROM runs_atomrun WHERE id = ANY(%s) AND started_at IS NULL "
                            "AND status <> ALL(%s)", ids, TERMINAL)[0][0])

    def submit_a(self, n: int, phase: Phase) -> tuple[list[uuid.UUID], float]:
        ids: list[uuid.UUID] = []
        started = time.monotonic()
        with self.client(TENANT_A) as client:
            while len(ids) < n:
                size = min(self.args.batch, n - len(ids))
                body = self.body_a if size == self.args.batch else {"items": [{"args": self.atom_args}] * size}
                answer = client.post(f"/api/v1/atoms/{ATOM}/runs/batch", json=body)
                if answer.status_code != 202:
                    raise RuntimeError(f"A's batch answered {answer.status_code}: {answer.text[:500]}")
                ids += [uuid.UUID(r["run"]["id"]) for r in answer.json()["results"]]
                if not phase.draining[0]:
                    phase.draining = (time.monotonic(), 0.0)
        return ids, time.monotonic() - started

    def trickle_b(self, seconds: float, phase: Phase, failed: list[BaseException]) -> None:
        """One POST every --b-interval s for ``seconds``, on schedule (one made late by a slow answer goes at once)."""
        try:
            with self.client(TENANT_B) as client:
                started = time.monotonic()
                k = 0
                while True:
                    due = started + k * self.args.b_interval
                    if due - started >= seconds:
                        break
                    delay = due - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    answer = client.post(f"/api/v1/atoms/{ATOM}/runs", json={"args": self.atom_args})
                    if answer.status_code == 202:
                        phase.b_ids.append(uuid.UUID(answer.json()["id"]))
                    else:
                        phase.b_refused += 1
                    k += 1
                phase.b_submit_seconds = time.monotonic() - started
        except BaseException as exc:  # noqa: BLE001  (handed to the main thread)
            failed.append(exc)

    def sample_llen(self, phase: Phase, stop: threading.Event) -> None:
        """Every 0.25 s: the Redis list, the machine's load, and what the bench database's backends
        do (how many wait for the turn lock, an advisory lock, and how many are active)."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not stop.wait(0.25):
                phase.load.append(os.getloadavg()[0])
                with contextlib.suppress(redis.RedisError):
                    phase.llen.append((time.monotonic(), int(self.redis.llen(QUEUE))))
                locked, active = conn.execute(
                    "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'), "
                    "count(*) FILTER (WHERE state = 'active') - 1 FROM pg_stat_activity "
                    "WHERE datname = current_database()").fetchone() or (0, 1)
                phase.backends.append((time.monotonic(), int(locked), int(active)))

    def counters(self) -> Snapshot:
        """Work done so far: CPU of the fleet's process groups, Redis commands, PostgreSQL's counts
        of the bench database (flushed: a backend reports up to 10 s after it went idle)."""
        assert self.fleet is not None and self.fleet.worker and self.fleet.api and self.fleet.beat
        wait_for_pg_flush()
        groups = {"worker (main + pool)": self.fleet.worker.pid, "API (gunicorn)": self.fleet.api.pid,
                  "beat": self.fleet.beat.pid}
        return snapshot(self.broker, self.db_url, groups)

    def run(self, label: str, a_runs: int, b_seconds: float, count_work: bool = False) -> Phase:
        """One phase: A's backlog (if any), then B's trickle (if any), until every run ended."""
        phase = Phase(label)
        before = self.counters() if count_work else None
        stop = threading.Event()
        sampler = threading.Thread(target=self.sample_llen, args=(phase, stop), daemon=True)
        started = time.monotonic()
        sampler.start()
        try:
            if a_runs:
                phase.a_ids, phase.a_submit_seconds = self.submit_a(a_runs, phase)
            failed: list[BaseException] = []
            if b_seconds:
                trickle = threading.Thread(target=self.trickle_b, args=(b_seconds, phase, failed), daemon=True)
                trickle.start()
                while trickle.is_alive():
                    trickle.join(0.5)
                    self.alive()
                if failed:
                    raise failed[0]
            ids = phase.a_ids + phase.b_ids
            budget = 300 + 4 * (len(ids) * self.args.atom_seconds / self.args.concurrency)
            if phase.a_ids:
                wait_for(lambda: self.not_started(phase.a_ids) == 0, budget, f"A's runs of {label} to start",
                         interval=0.25, alive=self.alive)
                phase.draining = (phase.draining[0], time.monotonic())
            wait_for(lambda: self.left(ids) == 0, budget, f"the {len(ids)} runs of {label}", interval=0.25,
                     alive=self.alive)
        finally:
            stop.set()
            sampler.join()
        phase.seconds = time.monotonic() - started
        wait_for(lambda: self.redis.llen(QUEUE) == 0, 30, "an empty queue", interval=0.1)
        if before is not None:
            phase.work = self.counters() - before
            phase.work.redis_commands.pop("LLEN", None)  # the bench's own sampling
            phase.work.redis_commands.pop("INFO", None)
        return phase


# -- figures ---------------------------------------------------------------------------------------
def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _llen_cells(phase: Phase) -> list[str]:
    """The samples taken while A's backlog drained (first batch accepted → last run started)."""
    first, last = phase.draining
    s = [n for at, n in phase.llen if first <= at <= last]
    backends = [(locked, active) for at, locked, active in phase.backends if first <= at <= last]
    if not s or not backends:
        return ["—"] * 7
    empty = sum(1 for x in s if x == 0) * 100 / len(s)
    locked = sum(b[0] for b in backends) / len(backends)
    active = sum(b[1] for b in backends) / len(backends)
    return [f"{percentile(s, 50):.0f}", f"{percentile(s, 95):.0f}", f"{max(s)}", f"{empty:.0f} %",
            f"{locked:.2f}", f"{active:.2f}", f"{len(s)}"]


def _work_rows(on: Phase, off: Phase) -> list[tuple[str, str, str, str]]:
    """Work per A run, A alone: fair on against fair off."""
    if on.work is None or off.work is None:
        return []
    n_on, n_off = len(on.a_ids), len(off.a_ids)
    rows = []
    for name in on.work.cpu:
        if name == "PostgreSQL server (whole)":
            continue  # the test suites' databases share the server: not this fleet's work
        a, b = on.work.cpu[name] * 1000 / n_on, off.work.cpu.get(name, 0.0) * 1000 / n_off
        rows.append((f"CPU ms: {name}", f"{a:.2f}", f"{b:.2f}", ratio(a, b)))
    fleet = ("worker (main + pool)", "API (gunicorn)", "beat")
    a = sum(on.work.cpu[k] for k in fleet) * 1000 / n_on
    b = sum(off.work.cpu[k] for k in fleet) * 1000 / n_off
    rows.append(("CPU ms: fleet (worker + API + beat)", f"{a:.2f}", f"{b:.2f}", ratio(a, b)))
    xa = (on.work.pg["xact_commit"] + on.work.pg["xact_rollback"]) / n_on
    xb = (off.work.pg["xact_commit"] + off.work.pg["xact_rollback"]) / n_off
    rows.append(("PostgreSQL transactions", f"{xa:.1f}", f"{xb:.1f}", ratio(xa, xb)))
    rows.append(("PostgreSQL rows ins / upd / del", *(
        " / ".join(f"{w.pg[k] / n:.1f}" for k in ("tup_inserted", "tup_updated", "tup_deleted"))
        for w, n in ((on.work, n_on), (off.work, n_off))), "—"))
    ra, rb = sum(on.work.redis_commands.values()) / n_on, sum(off.work.redis_commands.values()) / n_off
    rows.append(("Redis commands", f"{ra:.1f}", f"{rb:.1f}", ratio(ra, rb)))
    return rows


def _load(phase: Phase) -> str:
    """The machine's 1-minute load average over the phase: mean [min–max]."""
    if not phase.load:
        return "—"
    return f"{sum(phase.load) / len(phase.load):.1f} [{min(phase.load):.1f}–{max(phase.load):.1f}]"


def _summary(bench: Bench, phase: Phase) -> str:
    parts = [f"  {phase.label}: {phase.seconds:.1f} s, load {_load(phase)}"]
    if phase.a_ids:
        parts.append(f"A {len(phase.a_ids)} runs accepted in {phase.a_submit_seconds:.1f} s, "
                     f"{bench.throughput(phase.a_ids):.1f} runs/s {bench.statuses(phase.a_ids)}")
    if phase.b_ids:
        waits = bench.waits_ms(phase.b_ids)
        parts.append(f"B {len(phase.b_ids)} runs ({phase.b_refused} refused), wait p50 "
                     f"{_ms(percentile(waits, 50))} p95 {_ms(percentile(waits, 95))} {bench.statuses(phase.b_ids)}")
    if phase.llen:
        parts.append(f"Redis list max {max(n for _, n in phase.llen)}")
    return "; ".join(parts)


def report(bench: Bench, phases: dict[str, Phase]) -> None:
    args = bench.args
    b_alone, b_on, b_off = phases["b_alone"], phases["ab_on"], phases["ab_off"]
    a_on, a_off = phases["a_on"], phases["a_off"]
    waits = {k: bench.waits_ms(p.b_ids) for k, p in (("alone", b_alone), ("on", b_on), ("off", b_off))}
    p = {k: (percentile(v, 50), percentile(v, 95), max(v)) for k, v in waits.items()}
    off_b = args.off_b_seconds if args.off_b_seconds is not None else args.b_seconds
    off_n = args.off_runs if args.off_runs is not None else args.runs
    slots = args.concurrency
    print(f"\nB's queue wait (started_at − created_at, database clock); × = against B alone. B: one run every "
          f"{args.b_interval * 1000:.0f} ms for {args.b_seconds:g} s (fair off: {off_b:g} s), beside A's "
          f"backlog of {args.runs} (fair off: {off_n})")
    print(markdown_table(("B's runs", "B alone", "beside A, fair on", "beside A, fair off"), [
        ("B runs accepted (refused)", *(f"{len(ph.b_ids)} ({ph.b_refused})" for ph in (b_alone, b_on, b_off))),
        ("B wait p50", _ms(p["alone"][0]), f"{_ms(p['on'][0])} ({ratio(p['on'][0], p['alone'][0], 1, '×')})",
         f"{_ms(p['off'][0])} ({ratio(p['off'][0], p['alone'][0], 1, '×')})"),
        ("B wait p95", _ms(p["alone"][1]), f"{_ms(p['on'][1])} ({ratio(p['on'][1], p['alone'][1], 1, '×')})",
         f"{_ms(p['off'][1])} ({ratio(p['off'][1], p['alone'][1], 1, '×')})"),
        ("B wait max", _ms(p["alone"][2]), _ms(p["on"][2]), _ms(p["off"][2])),
    ]), flush=True)

    tput = {k: bench.throughput(ph.a_ids) for k, ph in (("a_on", a_on), ("a_off", a_off), ("ab_on", b_on),
                                                          ("ab_off", b_off))}
    ideal = slots / args.atom_seconds
    run_on, run_off = bench.run_ms(a_on.a_ids), bench.run_ms(a_off.a_ids)

    def slot_ms(runs_per_s: float) -> float:
        return slots / runs_per_s * 1000
    print(f"\nA's throughput: A's runs ÷ (last finished_at − first started_at); ratio = fair on / fair off. "
          f"{slots} slots × {args.atom_seconds:g} s atoms: at most {ideal:.0f} runs/s")
    print(markdown_table(("A's runs", "fair on", "fair off (today's)", "on / off"), [
        (f"A alone ({args.runs} runs)", f"{tput['a_on']:.1f} runs/s", f"{tput['a_off']:.1f} runs/s",
         ratio(tput["a_on"], tput["a_off"])),
        (f"A beside B ({args.runs} runs; fair off {off_n})", f"{tput['ab_on']:.1f} runs/s",
         f"{tput['ab_off']:.1f} runs/s", ratio(tput["ab_on"], tput["ab_off"])),
        ("A beside B / A alone", ratio(tput["ab_on"], tput["a_on"]), ratio(tput["ab_off"], tput["a_off"]), "—"),
        (f"A's slot time per run, alone / beside B ({slots} slots ÷ runs/s; atom {args.atom_seconds * 1000:.0f} ms)",
         *(f"{slot_ms(tput[a]):.0f} ms / {slot_ms(tput[b]):.0f} ms" for a, b in (("a_on", "ab_on"), ("a_off", "ab_off"))),
         ratio(slot_ms(tput["a_on"]), slot_ms(tput["a_off"]))),
        ("A's run started_at → finished_at, p50 / p95 (alone)",
         *(f"{percentile(r, 50):.0f} / {percentile(r, 95):.0f} ms" for r in (run_on, run_off)), "—"),
        ("A + B runs finished in A's window", f"{bench.together(b_on):.1f} runs/s",
         f"{bench.together(b_off):.1f} runs/s", ratio(bench.together(b_on), bench.together(b_off))),
        ("A's backlog accepted in (alone / beside B)", f"{a_on.a_submit_seconds:.1f} s / {b_on.a_submit_seconds:.1f} s",
         f"{a_off.a_submit_seconds:.1f} s / {b_off.a_submit_seconds:.1f} s", "—"),
        ("machine load, 1 min (alone / beside B)", f"{_load(a_on)} / {_load(b_on)}", f"{_load(a_off)} / {_load(b_off)}",
         "—"),
    ]), flush=True)

    print(f"\nRedis list `{QUEUE}` (LLEN every 0.25 s while A's backlog drains: first batch accepted → last run "
          f"started); fair dispatch keeps ATOMFLEET_QUEUE_READY runs published ({slots} slots), the rest waits in "
          f"PostgreSQL; empty = share of samples with nothing published. With each sample, the bench database's "
          f"backends (pg_stat_activity, mean): waiting on the turn lock (an advisory lock), and active")
    print(markdown_table(("Redis list length", "p50", "p95", "max", "empty", "turn-lock waiters", "active backends",
                          "samples"), [
        ("A alone, fair on", *_llen_cells(a_on)),
        ("A + B, fair on", *_llen_cells(b_on)),
        ("A + B, fair off", *_llen_cells(b_off)),
        ("A alone, fair off", *_llen_cells(a_off)),
    ]), flush=True)

    work = _work_rows(a_on, a_off)
    if work:
        print(f"\nwork per A run, A alone ({args.runs} runs; CPU of each process group from /proc, PostgreSQL "
              f"counts of the bench database, Redis commands of the bench's server less the bench's LLEN/INFO)")
        print(markdown_table(("work per A run", "fair on", "fair off", "on / off"), work), flush=True)

    limit_ms = args.atom_seconds * 1000 + 1000
    goals = [
        ("B p95 beside A ≤ 2× B alone (fair on)", f"{_ms(p['on'][1])} vs 2 × {_ms(p['alone'][1])}",
         p["on"][1] <= 2 * p["alone"][1]),
        (f"B p95 beside A ≤ one atom + 1 s = {_ms(limit_ms)} (fair on)", _ms(p["on"][1]), p["on"][1] <= limit_ms),
        ("A alone: fair on within 10 % of fair off", ratio(tput["a_on"], tput["a_off"]),
         tput["a_on"] >= 0.9 * tput["a_off"]),
        ("A beside B: fair on within 10 % of fair off", ratio(tput["ab_on"], tput["ab_off"]),
         tput["ab_on"] >= 0.9 * tput["ab_off"]),
    ]
    print("\ngoals of issue 19 (printed, never asserted)")
    print(markdown_table(("goal", "measured", "met"), [(g, m, "yes" if ok else "no") for g, m, ok in goals]),
          flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="atomfleet-bench-fairness-"))
    off_n = args.off_runs if args.off_runs is not None else args.runs
    off_b = args.off_b_seconds if args.off_b_seconds is not None else args.b_seconds
    print(f"fairness benchmark: {ATOM} {{seconds: {args.atom_seconds:g}, steps: 1}} on one {QUEUE} worker at "
          f"concurrency {args.concurrency}; A: {args.runs} runs in batches of {args.batch} (fair off with B: "
          f"{off_n}); B: one run every {args.b_interval * 1000:.0f} ms for {args.b_seconds:g} s (fair off: "
          f"{off_b:g} s)", flush=True)
    print(f"machine: {machine()}", flush=True)
    broker = redis_url(args.redis_db)
    phases: dict[str, Phase] = {}
    with throwaway_database(args.database) as db_url, contextlib.ExitStack() as stack:
        stack.callback(lambda: redis.Redis.from_url(broker).flushdb())
        redis.Redis.from_url(broker).flushdb()
        bench = Bench(args, db_url, broker)
        stack.callback(bench.db.close)

        def fleet(name: str, **env: str) -> Fleet:
            folder = workdir / name
            folder.mkdir()
            made = Fleet(db_url, broker, workdir=folder, extra_env=env, concurrency=args.concurrency)
            stack.callback(made.stop)
            return made

        on = fleet("fair-on")
        bench.prepare(on)
        started = time.monotonic()
        bench.start_fleet(on)
        print(f"fleet up (fair dispatch on) in {time.monotonic() - started:.1f} s", flush=True)
        plan = [("b_alone", "1. B alone, fair on", 0, args.b_seconds, False),
                ("a_on", "2. A alone, fair on", args.runs, 0, True),
                ("ab_on", "3. A + B, fair on", args.runs, args.b_seconds, False),
                ("ab_off", "4. A + B, fair off", off_n, off_b, False),
                ("a_off", "5. A alone, fair off", args.runs, 0, True)]
        for key, label, a_runs, b_seconds, count_work in plan:
            if key == "ab_off":  # every process again, with fair dispatch off
                on.stop()
                off = fleet("fair-off", ATOMFLEET_FAIR_DISPATCH="false")
                started = time.monotonic()
                bench.start_fleet(off)
                print(f"fleet up again with ATOMFLEET_FAIR_DISPATCH=false in {time.monotonic() - started:.1f} s",
                      flush=True)
            phases[key] = bench.run(label, a_runs, b_seconds, count_work)
            print(_summary(bench, phases[key]), flush=True)
        if bench.fleet is not None:
            bench.fleet.stop()
        report(bench, phases)
    print(f"load average at end: {load_average()} (1, 5, 15 min; {os.cpu_count()} CPUs)", flush=True)
    if args.keep_logs:
        print(f"process logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
