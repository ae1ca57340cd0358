"""``atomfleet demo``: start the local fleet, run one atom per queue, print a table, stop."""

from __future__ import annotations

import math
import random
import sys
import time
from typing import Any

from atomfleet.client import Client, Run
from atomfleet_orchestrator.cli.fleet import Fleet

_CSV = (
    "id,name,age,signup\n"
    + "".join(f"{i},user{i},{20 + i % 50},2024-0{1 + i % 9}-1{i % 10}\n" for i in range(1, 200))
    + "200,,130,not-a-date\n"
)
_COLUMNS = [
    {"name": "id", "type": "integer", "min": 1},
    {"name": "name", "type": "string"},
    {"name": "age", "type": "integer", "min": 0, "max": 120},
    {"name": "signup", "type": "date"},
]


def _series(n: int = 400) -> list[float]:
    rng = random.Random(7)
    values = [0.0, 0.0]
    for t in range(n):
        values.append(0.6 * values[-1] - 0.2 * values[-2] + math.sin(t / 10) + rng.gauss(0, 0.1))
    return values


def _submissions(client: Client) -> list[tuple[str, dict[str, Any]]]:
    upload = client.upload(_CSV.encode(), name="customers.csv")
    return [
        ("text.stats", {"text": "The quick brown fox jumps over the lazy dog. The dog sleeps.", "top": 3}),
        ("data.validate_csv", {"file": upload.key, "columns": _COLUMNS}),
        ("forecast.autoregressive", {"series": _series(), "order": 2, "horizon": 5}),
        ("diagnostics.sleep", {"seconds": 2, "steps": 4}),
    ]


def run_demo(timeout: float = 180.0) -> int:
    print("starting the local fleet (API, beat, one worker per queue)...", flush=True)
    with Fleet(log_to_files=True) as fleet:
        print(f"api {fleet.api_url}\ntoken {fleet.token}\nlogs {fleet.data_dir / 'logs'}", flush=True)
        with Client(fleet.api_url, fleet.token) as client:
            runs = [client.submit(atom, args) for atom, args in _submissions(client)]
            started = time.monotonic()
            shown: dict[str, str] = {}
            while time.monotonic() - started < timeout:
                fleet.check_alive()
                runs = [client.run(r.id) for r in runs]
                for run in runs:
                    line = f"{run.status} {run.progress.fraction:.0%} {run.progress.message}"
                    if shown.get(run.id) != line:
                        shown[run.id] = line
                        print(f"  {run.atom:<24} {line}", flush=True)
                if all(r.is_terminal for r in runs):
                    break
                time.sleep(0.3)
            _print_table(runs)
            for run in runs:
                if run.status == "failed":
                    print(f"{run.atom} failed: {run.error}", file=sys.stderr)
            ok = all(r.succeeded for r in runs)
    print("fleet stopped")
    return 0 if ok else 1


def _seconds(run: Run) -> str:
    if run.started_at is None or run.finished_at is None:
        return "-"
    return f"{(run.finished_at - run.started_at).total_seconds():.2f}"


def _print_table(runs: list[Run]) -> None:
    print(f"\n{'queue':<12} {'atom':<24} {'status':<10} {'seconds':>8}")
    for run in sorted(runs, key=lambda r: (r.queue, r.atom)):
        print(f"{run.queue:<12} {run.atom:<24} {run.status:<10} {_seconds(run):>8}")
