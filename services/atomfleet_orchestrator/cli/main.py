"""``atomfleet``: run fleet processes, the local fleet, and talk to the API.

Exit codes: 0 success; 1 a run or workflow did not succeed, or the API refused the request;
2 usage error; 124 waiting timed out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from atomfleet.client import Client, ClientError, WaitTimeout
from atomfleet_orchestrator.cli import watch, workflow
from atomfleet_orchestrator.cli.watch import ProgressBar

_SETTINGS = "atomfleet_orchestrator.settings"


def _exec(argv: list[str]) -> None:
    """Replace this process so signals (SIGTERM from Kubernetes) reach the server directly."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", _SETTINGS)
    os.execvp(argv[0], argv)


def cmd_api(_: argparse.Namespace) -> int:
    _exec([sys.executable, "-m", "gunicorn", "--config", "python:atomfleet_orchestrator.gunicorn_conf",
           "atomfleet_orchestrator.wsgi:application"])
    return 0


def cmd_events(_: argparse.Namespace) -> int:
    from atomfleet_orchestrator.events.server import serve

    serve()
    return 0


def cmd_manage(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", _SETTINGS)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["atomfleet manage", *args.rest])
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    return cmd_manage(argparse.Namespace(rest=["migrate", "--no-input"]))


def cmd_dev(_: argparse.Namespace) -> int:
    from atomfleet_orchestrator.cli.fleet import Fleet

    fleet = Fleet()
    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a parent that started us in the background may have left SIGINT
    # ignored, and Ctrl-C (or SIGTERM from a supervisor) must still stop every process.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        fleet.start()
        print(f"api {fleet.api_url}")
        print(f"events {fleet.events_url}")
        print(f"token {fleet.token}")
        for queue, url in fleet.metrics_urls.items():
            print(f"metrics {queue} {url}")
        print(f"metrics api {fleet.api_metrics_url}")
        print("fleet running; Ctrl-C stops it", flush=True)
        while True:
            fleet.check_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping the fleet...", flush=True)
        return 0
    finally:
        fleet.stop()


def cmd_demo(_: argparse.Namespace) -> int:
    from atomfleet_orchestrator.cli.demo import run_demo

    return run_demo()


# -- HTTP client commands (atomfleet.client) ---------------------------------------------------
def _client() -> Client:
    url, token = os.environ.get("ATOMFLEET_URL"), os.environ.get("ATOMFLEET_TOKEN")
    if not url or not token:
        raise SystemExit("error: set ATOMFLEET_URL and ATOMFLEET_TOKEN (`atomfleet dev` prints both)")
    return Client(url, token)


def _plain(value: Any) -> Any:
    """JSON-ready form of the client's results (dataclasses, datetimes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _print(data: Any) -> None:
    print(json.dumps(_plain(data), indent=2, default=str))


def _parse_args(args: argparse.Namespace) -> dict[str, Any]:
    raw = Path(args.args_file).read_text() if args.args_file else args.args
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: --args is not valid JSON: {exc}") from None
    for pair in args.arg or []:
        key, sep, val = pair.partition("=")
        if not sep:
            raise SystemExit(f"error: --arg expects key=value, got {pair!r}")
        try:
            value[key] = json.loads(val)
        except json.JSONDecodeError:
            value[key] = val
    return dict(value)


def _wait(client: Client, run_id: str, timeout: float) -> int:
    try:
        run = client.wait(run_id, timeout=timeout, on_update=ProgressBar() if sys.stderr.isatty() else None)
    except WaitTimeout as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 124
    _print(run)
    return 0 if run.succeeded else 1


def cmd_atoms(_: argparse.Namespace) -> int:
    with _client() as client:
        atoms = client.atoms()
    for atom in atoms:
        print(f"{atom.name:<26} {atom.queue:<12} {atom.description}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    with _client() as client:
        run = client.submit(args.atom, _parse_args(args), idempotency_key=args.idempotency_key,
                            priority=args.priority)
        if not args.wait:
            _print(run)
            return 0
        return _wait(client, run.id, args.timeout)


def cmd_submit_batch(args: argparse.Namespace) -> int:
    from atomfleet_orchestrator.cli.batch import read_items, submit_in_chunks

    items = read_items(args.file, args.key_prefix)
    with _client() as client:
        runs = submit_in_chunks(client, args.atom, items, args.chunk)
        if not args.wait:
            _print([{"id": r.id, "status": r.status} for r in runs])
            return 0
        try:
            finished = [client.wait(r.id, timeout=args.timeout) for r in runs]
        except WaitTimeout as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 124
    _print([{"id": r.id, "status": r.status, "error": r.error} for r in finished])
    return 0 if all(r.succeeded for r in finished) else 1


def cmd_status(args: argparse.Namespace) -> int:
    with _client() as client:
        _print(client.run(args.run_id))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    with _client() as client:
        return _wait(client, args.run_id, args.timeout)


def cmd_watch(args: argparse.Namespace) -> int:
    with _client() as client:
        target, succeeded = watch.watch(client, args.id)
    _print(target)
    return 0 if succeeded else 1


def cmd_list(args: argparse.Namespace) -> int:
    with _client() as client:
        page = client.runs(atom=args.atom, status=args.status, queue=args.queue, limit=args.limit, cursor=args.cursor)
    for run in page.items:
        print(f"{run.id}  {run.queue:<12} {run.atom:<26} {run.status:<10} {run.created_at.isoformat()}")
    if page.next_cursor:
        print(f"more: add --cursor {page.next_cursor}", file=sys.stderr)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with _client() as client:
        _print(client.cancel(args.run_id))
    return 0


def cmd_result(args: argparse.Namespace) -> int:
    with _client() as client:
        result = client.result(args.run_id)
        if args.download:
            dest = Path(args.download)
            dest.mkdir(parents=True, exist_ok=True)
            for artifact in result.artifacts:
                print(f"saved {client.download_path(artifact, dest)}", file=sys.stderr)
    _print(result)
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    with _client() as client:
        _print(client.upload(Path(args.path)))
    return 0


def cmd_workflow(args: argparse.Namespace) -> int:
    with _client() as client:
        return int(args.workflow_func(args, client))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atomfleet", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    add("dev", cmd_dev, "run the whole fleet locally in the foreground (Ctrl-C stops it)")
    add("demo", cmd_demo, "start the local fleet, run one atom per queue, print results, stop")
    add("api", cmd_api, "serve the HTTP API (gunicorn; configured by ATOMFLEET_API_*)")
    add("events", cmd_events, "serve the Server-Sent Events stream (uvicorn; ATOMFLEET_EVENTS_HOST/PORT)")
    add("watch", cmd_watch, "follow a run, or a workflow step by step, live (progress bars fed by the event "
                            "stream); exit 0 if it succeeds, 1 if not").add_argument("id", help="a run id or a workflow id")
    add("migrate", cmd_migrate, "apply database migrations")
    manage = add("manage", cmd_manage, "run a Django management command (create_tenant, create_token, ...)")
    manage.add_argument("rest", nargs=argparse.REMAINDER)
    add("atoms", cmd_atoms, "list the atoms of the catalog")
    submit = add("submit", cmd_submit, "submit a run of an atom")
    submit.add_argument("atom")
    submit.add_argument("--args", default="{}", help="arguments as a JSON object")
    submit.add_argument("--args-file", help="read the arguments from a JSON file")
    submit.add_argument("--arg", action="append", metavar="KEY=VALUE", help="set one argument (JSON value)")
    submit.add_argument("--idempotency-key")
    submit.add_argument("--priority", type=int, choices=range(10), metavar="0-9",
                        help="order among your own waiting runs, 9 first (default 5)")
    submit.add_argument("--wait", action="store_true", help="wait for the run with a progress bar")
    submit.add_argument("--timeout", type=float, default=3600)
    batch = add("submit-batch", cmd_submit_batch,
                "submit many runs of one atom from a file of items (JSON array or JSON lines of "
                '{"args": {...}, "idempotency_key": "..."}); each chunk is one all-or-nothing request')
    batch.add_argument("atom")
    batch.add_argument("file", help="the items; - reads standard input")
    batch.add_argument("--key-prefix", help="give items without a key PREFIX-<line>: safe to run again")
    batch.add_argument("--chunk", type=int, default=1000, help="items per request (the server's limit: 1000)")
    batch.add_argument("--wait", action="store_true", help="wait for every run; exit 1 unless all succeeded")
    batch.add_argument("--timeout", type=float, default=3600)
    add("status", cmd_status, "show a run").add_argument("run_id")
    wait = add("wait", cmd_wait, "wait for a run to finish (progress bar on a terminal)")
    wait.add_argument("run_id")
    wait.add_argument("--timeout", type=float, default=3600)
    lst = add("list", cmd_list, "list runs")
    lst.add_argument("--atom")
    lst.add_argument("--status")
    lst.add_argument("--queue")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--cursor", help="the page after the one that printed it")
    add("cancel", cmd_cancel, "cancel a run").add_argument("run_id")
    res = add("result", cmd_result, "show a run's result and artifacts")
    res.add_argument("run_id")
    res.add_argument("--download", metavar="DIR", help="also download every artifact into DIR")
    add("upload", cmd_upload, "upload an input file; prints its key").add_argument("path")
    workflow.add_commands(add("workflow", cmd_workflow,
                              "workflows: DAGs of atoms across queues (submit, show, retry, cancel, list)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.details:
            print(json.dumps(exc.details, indent=2), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
