"""``atomfleet workflow``: submit a workflow from a JSON or YAML file, show its steps as a table
(refreshed in place on a terminal until the workflow ends), retry, cancel and list workflows.

The file holds the body of ``POST /api/v1/workflows`` (docs/workflows.md): ``steps`` and,
optionally, ``on_failure`` and ``idempotency_key``; the command line's options override the two.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from atomfleet.client import Client, Workflow, WorkflowStep, WorkflowWaitTimeout

__all__ = ["add_commands", "read_spec", "render"]

_KEYS = {"steps", "on_failure", "idempotency_key"}


def read_spec(source: str) -> dict[str, Any]:
    """The workflow body in ``source`` (a path, or ``-`` for standard input): JSON or YAML."""
    import yaml  # only this command needs it

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise SystemExit(f"error: cannot read {source}: {exc.strerror}") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError:
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SystemExit(f"error: {source} is neither JSON nor YAML: {exc}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("steps"), list):
        raise SystemExit(f'error: {source} must hold an object with a list of "steps" (docs/workflows.md)')
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise SystemExit(f"error: {source}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(_KEYS))}")
    return spec


def _seconds(step: WorkflowStep, now: datetime) -> str:
    if step.started_at is None:
        return "-"
    end = step.finished_at or (now if not step.is_terminal else None)
    if end is None:
        return "-"
    return f"{max(0.0, (end - step.started_at).total_seconds()):.2f}"


def render(workflow: Workflow, now: datetime | None = None) -> list[str]:
    """The workflow as lines: a heading, then one row per step in submit order."""
    now = now or datetime.now(UTC)
    heading = f"workflow {workflow.id} {workflow.status} ({workflow.on_failure})"
    if workflow.error is not None:
        heading += f": step {workflow.error.step} {workflow.error.code}: {workflow.error.message}"
    name_w = max([4, *(len(s.name) for s in workflow.steps)])
    atom_w = max([4, *(len(s.atom) for s in workflow.steps)])
    rows = [heading, f"{'step':<{name_w}}  {'atom':<{atom_w}}  {'queue':<12} {'status':<10} {'attempts':>8} {'seconds':>8}"]
    for step in workflow.steps:
        rows.append(f"{step.name:<{name_w}}  {step.atom:<{atom_w}}  {step.queue:<12} {step.status:<10} "
                    f"{step.attempts:>8} {_seconds(step, now):>8}")
    return rows


class LiveTable:
    """Redraws the table in place on a terminal: the cursor goes back up over the last drawing."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream, self.drawn = stream, 0

    def __call__(self, workflow: Workflow) -> None:
        lines = render(workflow)
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}A\r\x1b[J")
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self.drawn = len(lines)


def _print_table(workflow: Workflow) -> None:
    print("\n".join(render(workflow)), flush=True)


def follow(client: Client, workflow_id: str, timeout: float) -> int:
    """Wait for the workflow to end; 0 when it succeeded, 1 when not, 124 on timeout. On a
    terminal the table refreshes in place; otherwise it is printed once, at the end."""
    live = LiveTable(sys.stdout) if sys.stdout.isatty() else None
    try:
        workflow = client.wait_workflow(workflow_id, timeout=timeout, on_update=live)
    except WorkflowWaitTimeout as exc:
        if live is None:
            _print_table(exc.workflow)
        print(f"error: {exc.message}", file=sys.stderr)
        return 124
    if live is None:
        _print_table(workflow)
    return 0 if workflow.succeeded else 1


def cmd_submit(args: argparse.Namespace, client: Client) -> int:
    spec = read_spec(args.file)
    workflow = client.submit_workflow(
        spec["steps"], on_failure=args.on_failure or spec.get("on_failure"),
        idempotency_key=args.idempotency_key or spec.get("idempotency_key"),
    )
    print(workflow.id, flush=True)
    return follow(client, workflow.id, args.timeout) if args.wait else 0


def cmd_show(args: argparse.Namespace, client: Client) -> int:
    if args.wait or (sys.stdout.isatty() and not args.once):
        return follow(client, args.workflow_id, args.timeout)
    _print_table(client.get_workflow(args.workflow_id))
    return 0


def cmd_retry(args: argparse.Namespace, client: Client) -> int:
    workflow = client.retry_workflow(args.workflow_id)
    if args.wait:
        return follow(client, workflow.id, args.timeout)
    _print_table(workflow)
    return 0


def cmd_cancel(args: argparse.Namespace, client: Client) -> int:
    _print_table(client.cancel_workflow(args.workflow_id))
    return 0


def cmd_list(args: argparse.Namespace, client: Client) -> int:
    page = client.list_workflows(status=args.status, limit=args.limit, cursor=args.cursor)
    for workflow in page.items:
        failed = f" {workflow.error.step}: {workflow.error.code}" if workflow.error else ""
        print(f"{workflow.id}  {workflow.status:<10} {workflow.on_failure:<16} "
              f"{workflow.created_at.isoformat()}{failed}")
    if page.next_cursor:
        print(f"more: add --cursor {page.next_cursor}", file=sys.stderr)
    return 0


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The ``workflow`` subcommands; each sets ``workflow_func(args, client)``."""
    sub = parser.add_subparsers(dest="workflow_command", required=True, metavar="SUBCOMMAND")

    def add(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(workflow_func=func)
        return p

    def waiting(p: argparse.ArgumentParser, help: str) -> None:
        p.add_argument("--wait", action="store_true", help=help)
        p.add_argument("--timeout", type=float, default=3600, help="seconds to wait (exit 124 after)")

    submit = add("submit", cmd_submit, "submit a workflow from a JSON or YAML file; prints its id")
    submit.add_argument("file", help="the workflow (steps, on_failure, idempotency_key); - reads standard input")
    submit.add_argument("--idempotency-key", help="overrides the file's; the same key returns the same workflow")
    submit.add_argument("--on-failure", choices=["fail_fast", "finish_branches"], help="overrides the file's")
    waiting(submit, "then show the steps until the workflow ends; exit 1 unless it succeeded")
    show = add("show", cmd_show, "show a workflow's steps; on a terminal the table refreshes until the workflow "
                                 "ends (exit 1 unless it succeeded)")
    show.add_argument("workflow_id")
    show.add_argument("--once", action="store_true", help="print the table once, even on a terminal")
    waiting(show, "wait for the end even when the output is not a terminal (then print the table once)")
    retry = add("retry", cmd_retry, "run an ended workflow's failed, cancelled and skipped steps again")
    retry.add_argument("workflow_id")
    waiting(retry, "then show the steps until the workflow ends; exit 1 unless it succeeded")
    add("cancel", cmd_cancel, "cancel a workflow: every step that has not ended").add_argument("workflow_id")
    lst = add("list", cmd_list, "list workflows, newest first")
    lst.add_argument("--status", choices=["running", "succeeded", "failed", "cancelled"])
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--cursor", help="the page after the one that printed it")
