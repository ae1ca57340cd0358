"""One run of one atom through the API, checked end to end: the Helm chart's `helm test` Pods.

    ATOMFLEET_TOKEN=... python -m atomfleet_orchestrator.cli.selftest --url http://atomfleet-api:8000 \\
        --queue io_bound --atom data.validate_csv --args '{"columns": [{"name": "id", "type": "integer"}]}' \\
        --file 'file=id\\n1\\n2\\n' --timeout 600

Uploads each ``--file NAME=CONTENT`` and passes the upload's key as argument NAME, submits the
run, waits for it, and exits 0 only when it succeeded on the expected queue; otherwise 1 with one
line saying why. The token comes from the environment (a Secret), never from the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from atomfleet.client import Client, ClientError, TransportError, WaitTimeout

__all__ = ["main"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m atomfleet_orchestrator.cli.selftest",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL of the API (the API Service)")
    parser.add_argument("--queue", required=True, help="queue the run must execute on")
    parser.add_argument("--atom", required=True)
    parser.add_argument("--args", default="{}", help="JSON object of arguments")
    parser.add_argument("--file", action="append", default=[], metavar="NAME=CONTENT",
                        help="upload CONTENT first and pass its key as argument NAME (repeatable)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the run may take")
    parser.add_argument("--token-env", default="ATOMFLEET_TOKEN", help="environment variable holding the token")
    return parser.parse_args(argv)


def run_selftest(client: Client, args: argparse.Namespace) -> str:
    """The run's id when it succeeded on the expected queue; raises SystemExit(<reason>) otherwise."""
    run_args = json.loads(args.args)
    if not isinstance(run_args, dict):
        raise SystemExit("--args must be a JSON object")
    for item in args.file:
        name, sep, content = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--file expects NAME=CONTENT, got {item!r}")
        run_args[name] = client.upload(content.encode(), name=f"{name}.txt").key
    started = time.monotonic()
    run = client.submit(args.atom, run_args)
    if run.queue != args.queue:
        raise SystemExit(f"{args.atom} is routed to queue {run.queue!r}, not {args.queue!r}: "
                         f"set workers.queues.{args.queue}.test.atom to an atom of that queue")
    try:
        run = client.wait(run.id, timeout=args.timeout, poll_interval=1.0)
    except WaitTimeout as exc:
        raise SystemExit(f"queue {args.queue}: {exc} (is a worker of the queue running?)") from None
    if run.status != "succeeded":
        raise SystemExit(f"queue {args.queue}: run {run.id} of {args.atom} {run.status}: {run.error}")
    print(f"ok: queue {args.queue} ran {args.atom} (run {run.id}) in {time.monotonic() - started:.1f}s", flush=True)
    return run.id


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def unreachable_reason(url: str, exc: TransportError) -> str:
    """Why the API at ``url`` gave no HTTP answer, in the words an operator acts on."""
    parts = urlsplit(url)
    host = parts.hostname or url
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for cause in _causes(exc):
        if isinstance(cause, socket.gaierror):
            return (f"cannot resolve host {host!r}: {cause.strerror} (is --url the API Service's name, "
                    "in this namespace?)")
        if isinstance(cause, ConnectionRefusedError):
            return f"cannot connect to {host}:{port}: connection refused (is the API running, on this port?)"
        if isinstance(cause, TimeoutError | socket.timeout):
            return f"no answer from {host}:{port} in time: {exc.message}"
    return f"cannot reach the API at {url}: {exc.message}"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    token = os.environ.get(args.token_env, "")
    if not token:
        print(f"selftest: {args.token_env} is not set (the chart sets it from the tests Secret)", file=sys.stderr)
        return 1
    try:
        with Client(args.url, token) as client:
            run_selftest(client, args)
    except TransportError as exc:  # no HTTP answer at all: not a refusal
        print(f"selftest: queue {args.queue}: {unreachable_reason(args.url, exc)}", file=sys.stderr)
        return 1
    except ClientError as exc:
        print(f"selftest: queue {args.queue}: the API refused: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        print(f"selftest: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
