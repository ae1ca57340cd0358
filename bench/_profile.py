"""Where the time goes: one extra end-to-end run with py-spy sampling the worker and the API.

py-spy (``pip install py-spy``; not a project dependency) samples every process of each group
(``--subprocesses``) without stopping them (``--nonblocking``), so the run is slower than the
measured ones and its rate is not a figure. Raw stacks go to DIR (``flamegraph.pl`` or speedscope
read them); a summary of the heaviest frames, inclusive and self, is printed per process role.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from bench._common import VENV_BIN

if TYPE_CHECKING:
    from bench._paths import AtomfleetPath

__all__ = ["profile_throughput", "summarize"]

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+)(?::\d+)?\)$")
_SITE = re.compile(r".*/(site-packages|lib/python3\.\d+)/")


def _py_spy() -> str | None:
    local = VENV_BIN / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


_COMPONENTS = (("atomfleet", "atomfleet code"), ("psycopg", "psycopg (PostgreSQL I/O and adaptation)"),
               ("redis/", "redis-py"), ("kombu/", "kombu"), ("celery/", "celery"), ("billiard/", "billiard"),
               ("django/db/", "Django ORM"), ("django/", "Django (other)"), ("rest_framework/", "DRF"),
               ("gunicorn/", "gunicorn"), ("prometheus_client/", "prometheus_client"),
               ("jsonschema", "jsonschema"), ("logging/", "logging"), ("json/", "json"))


# Frames that only start processes and loops (on nearly every stack, they say nothing).
_SCAFFOLDING = re.compile(
    r"\((click/|celery/bin/|celery/__main__|celery/bootsteps|celery/worker/worker\.py|celery/concurrency/|"
    r"billiard/(process|popen_fork|context)\.py|gunicorn/(arbiter|app/|__main__)|<frozen runpy>|celery\))"
    r"|^(Pool\.__init__|Pool\._create_worker_process|Worker\.__call__|Worker\.workloop|<module>|"
    r"asynloop|Hub\.create_loop|Consumer\.start|Evloop\.start|SyncWorker\.(run|run_for_one|accept)|"
    r"Worker\.init_process|Thread\._bootstrap(_inner)?|Thread\.run) "
)


def _role(frames: list[str]) -> str:
    """py-spy labels a forked child's stacks with the parent's and the child's process frames."""
    processes = [f for f in frames if f.startswith("process ")]
    celery = bool(processes) and "celery" in processes[0]
    if len(processes) > 1:
        return "worker pool child" if celery else "gunicorn worker"
    return "worker main process" if celery else "gunicorn master"


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if match is None:
        return frame
    return f"{match['func']} ({_SITE.sub('', match['file'])})"


def _component(frame: str) -> str:
    return next((name for marker, name in _COMPONENTS if marker in frame), "other (stdlib, C, …)")


class _Role:
    def __init__(self) -> None:
        self.total = 0
        self.inclusive: Counter[str] = Counter()
        self.self_by_component: Counter[str] = Counter()
        self.innermost_project: Counter[str] = Counter()

    def add(self, code: list[str], count: int) -> None:
        self.total += count
        short = [_short(f) for f in code]
        for frame in set(short):
            self.inclusive[frame] += count
        if short:
            self.self_by_component[_component(short[-1])] += count
        project = next((f for f in reversed(short) if "(atomfleet" in f), "(no atomfleet frame on the stack)")
        self.innermost_project[project] += count

    def report(self, name: str, top: int) -> list[str]:
        n = self.total
        out = [f"\n{name}: {n} samples"]
        out.append("  self time by component (leaf frame):")
        out += [f"    {c / n:6.1%}  {k}" for k, c in self.self_by_component.most_common()]
        out.append("  by innermost atomfleet frame (which project call the time is spent under):")
        out += [f"    {c / n:6.1%}  {k}" for k, c in self.innermost_project.most_common(top)]
        below = [(f, c) for f, c in self.inclusive.most_common() if not _SCAFFOLDING.search(f)][:top]
        out.append("  heaviest frames below the scaffolding (inclusive):")
        out += [f"    {c / n:6.1%}  {f}" for f, c in below]
        return out


def summarize(path: Path, top: int = 25) -> str:
    """Per role: self time by component, time under each atomfleet frame, heaviest frames."""
    roles: dict[str, _Role] = {}
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        code = [f for f in frames if not f.startswith(("process ", "thread "))]
        roles.setdefault(_role(frames), _Role()).add(code, int(count_text))
    out: list[str] = []
    for name, role in sorted(roles.items(), key=lambda kv: -kv[1].total):
        out += role.report(name, top)
    return "\n".join(out)


def profile_throughput(af: AtomfleetPath, n: int, threads: int, out_dir: Path, rate: int = 200) -> None:
    spy = _py_spy()
    if spy is None:
        print("profile skipped: py-spy is not installed (.venv/bin/pip install py-spy)", flush=True)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    fleet = af.fleet
    assert fleet.worker is not None and fleet.api is not None
    targets = {"worker": fleet.worker.pid, "api": fleet.api.pid}
    recorders = {}
    for name, pid in targets.items():
        recorders[name] = subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", str(rate),
             "--format", "raw", "--output", str(out_dir / f"{name}.txt")],
            stdout=(out_dir / f"{name}.py-spy.log").open("wb"), stderr=subprocess.STDOUT,
        )
    time.sleep(2)  # attached to every process of the group
    try:
        achieved, counts = af.throughput(n, threads)
    finally:
        for proc in recorders.values():
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in recorders.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"\nprofile: one more end-to-end run under py-spy ({rate} Hz, nonblocking): {achieved:.1f} runs/s "
          f"(slowed by sampling, not a figure); raw stacks in {out_dir}", flush=True)
    for name in targets:
        path = out_dir / f"{name}.txt"
        if path.exists():
            summary = summarize(path)
            (out_dir / f"{name}-summary.txt").write_text(summary + "\n")
            print(f"\n== {name} ==" + summary, flush=True)
        else:
            print(f"\n== {name} == no samples: see {out_dir / (name + '.py-spy.log')}", flush=True)
