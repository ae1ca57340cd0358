"""``atomfleet workflow`` run as the installed command against a real local HTTP server that answers
issue 17's contract (tests/support/scripted_http): what it sends, prints and exits with, on a pipe
and on a real terminal (a pseudo-terminal). The live end-to-end run is in tests/workflows/."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_http import Answer, ScriptedServer
from tests.support.workflow_json import DIAMOND, WORKFLOW_ID, page_json, workflow_json

pytestmark = pytest.mark.timeout(120)

ATOMFLEET = str(Path(sys.executable).with_name("atomfleet"))
DONE = {"validate": "succeeded", "stats": "succeeded", "fit": "succeeded", "report": "succeeded"}
FAILED = workflow_json("failed", {"validate": "succeeded", "stats": "failed", "fit": "succeeded",
                                  "report": "skipped"},
                       error={"step": "stats", "code": "atom_error", "message": "boom"})

DIAMOND_YAML = """\
idempotency_key: import-42
on_failure: fail_fast
steps:
  - name: validate
    atom: data.validate_csv
    args: {file: uploads/x.csv, columns: [{name: x, type: number}]}
  - name: stats
    atom: text.stats
    after: [validate]
    args:
      text: {$from: validate, pointer: /report_artifact}
  - name: fit
    atom: forecast.autoregressive
    after: [validate]
    args: {series: [1, 2, 3, 4, 5, 6, 7, 8]}
  - name: report
    atom: text.stats
    after: [stats, fit]
    run_if: all_done
    args: {text: done}
"""


def _env(server: ScriptedServer) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ATOMFLEET_", "DJANGO_SETTINGS_MODULE"))}
    return clean | {"ATOMFLEET_URL": server.url, "ATOMFLEET_TOKEN": "tok", "PYTHONUNBUFFERED": "1"}


def atomfleet(server: ScriptedServer, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ATOMFLEET, "workflow", *argv], env=_env(server), input=stdin, capture_output=True,
                          text=True, timeout=60)


def on_a_terminal(server: ScriptedServer, *argv: str) -> tuple[int, str]:
    """Runs the command with its standard output on a pseudo-terminal; (exit code, what it drew)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([ATOMFLEET, "workflow", *argv], env=_env(server), stdout=slave,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode()


def rows(out: str) -> dict[str, list[str]]:
    """The table's rows by step name: [atom, queue, status, attempts, seconds]."""
    names = {"validate", "stats", "fit", "report"}
    return {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.split()[:1] and line.split()[0] in names}


def test_submit_reads_yaml_sends_the_contracts_body_and_prints_the_id(tmp_path: Path) -> None:
    spec = tmp_path / "diamond.yaml"
    spec.write_text(DIAMOND_YAML)
    with ScriptedServer(Answer(202, workflow_json(steps={"validate": "queued"}))) as server:
        done = atomfleet(server, "submit", str(spec))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{WORKFLOW_ID}\n"
    assert (server.seen[0].method, server.seen[0].path) == ("POST", "/api/v1/workflows")
    assert json.loads(server.seen[0].body) == DIAMOND


def test_submit_reads_json_from_stdin_and_options_override_the_file() -> None:
    with ScriptedServer(Answer(202, workflow_json())) as server:
        done = atomfleet(server, "submit", "-", "--on-failure", "finish_branches", "--idempotency-key", "k2",
                         stdin=json.dumps(DIAMOND))
    assert done.returncode == 0 and done.stdout.strip() == WORKFLOW_ID, done.stderr
    assert json.loads(server.seen[0].body) == DIAMOND | {"on_failure": "finish_branches", "idempotency_key": "k2"}


@pytest.mark.parametrize(("content", "message"), [
    ("steps: [a: b\n", "neither JSON nor YAML"),
    ("[1, 2]", 'must hold an object with a list of "steps"'),
    ('{"steps": [], "on_fail": "x"}', "unknown field(s) on_fail"),
])
def test_a_malformed_file_is_a_usage_error_and_sends_nothing(content: str, message: str) -> None:
    with ScriptedServer(Answer(202, workflow_json())) as server:
        done = atomfleet(server, "submit", "-", stdin=content)
    assert done.returncode == 1 and message in done.stderr and server.seen == [], done.stderr


def test_a_refused_workflow_exits_1_naming_the_step() -> None:
    refused = {"error": {"code": "invalid_workflow", "message": "the workflow is invalid",
                         "details": [{"step": "report", "problems": ["a cycle: report -> fit -> report"]}]}}
    with ScriptedServer(Answer(400, refused)) as server:
        done = atomfleet(server, "submit", "-", stdin=json.dumps(DIAMOND))
    assert done.returncode == 1 and done.stdout == ""
    assert "400 invalid_workflow" in done.stderr and '"step": "report"' in done.stderr


def test_show_on_a_pipe_prints_the_table_once_and_exits_0_while_running() -> None:
    running = workflow_json(steps={"validate": "succeeded", "stats": "running", "fit": "queued"})
    with ScriptedServer(Answer(200, running)) as server:
        done = atomfleet(server, "show", WORKFLOW_ID)
    assert done.returncode == 0 and len(server.seen) == 1, done.stderr
    assert done.stdout.splitlines()[0] == f"workflow {WORKFLOW_ID} running (fail_fast)"
    assert done.stdout.splitlines()[1].split() == ["step", "atom", "queue", "status", "attempts", "seconds"]
    table = rows(done.stdout)
    assert table["validate"] == ["data.validate_csv", "io_bound", "succeeded", "1", "1.50"]
    assert table["fit"] == ["forecast.autoregressive", "ml_training", "queued", "0", "-"]
    assert table["report"] == ["text.stats", "default", "pending", "0", "-"]
    assert float(table["stats"][4]) > 0  # still running: seconds so far
    assert "\x1b[" not in done.stdout


def test_show_on_a_terminal_refreshes_in_place_until_the_end_and_exits_1_when_it_failed() -> None:
    script = [Answer(200, workflow_json(steps={"validate": "running"})),
              Answer(200, workflow_json(steps={"validate": "succeeded", "stats": "running", "fit": "running"})),
              Answer(200, FAILED)]
    with ScriptedServer(*script) as server:
        code, drawn = on_a_terminal(server, "show", WORKFLOW_ID)
    assert code == 1 and len(server.seen) == 3
    # Drawn three times: twice back up over the previous table's six lines and cleared below.
    assert drawn.count("\x1b[6A\r\x1b[J") == 2 and drawn.count("\x1b[") == 4
    last = drawn.rsplit("\x1b[J", 1)[1]
    assert f"workflow {WORKFLOW_ID} failed (fail_fast): step stats atom_error: boom" in last
    assert rows(last)["report"][2] == "skipped" and rows(last)["stats"][2] == "failed"


def test_show_once_on_a_terminal_polls_once() -> None:
    with ScriptedServer(Answer(200, workflow_json(steps={"validate": "running"}))) as server:
        code, drawn = on_a_terminal(server, "show", WORKFLOW_ID, "--once")
    assert code == 0 and len(server.seen) == 1 and "validate" in drawn and "\x1b[" not in drawn


def test_show_wait_on_a_pipe_prints_the_final_table_once_and_exits_0_when_it_succeeded() -> None:
    script = [Answer(200, workflow_json(steps={"validate": "running"})), Answer(200, workflow_json("succeeded", DONE))]
    with ScriptedServer(*script) as server:
        done = atomfleet(server, "show", WORKFLOW_ID, "--wait")
    assert done.returncode == 0 and len(server.seen) == 2, done.stderr
    assert done.stdout.count("workflow ") == 1 and all(r[2] == "succeeded" for r in rows(done.stdout).values())


def test_show_wait_times_out_with_124() -> None:
    with ScriptedServer(Answer(200, workflow_json(steps={"validate": "running"}))) as server:
        done = atomfleet(server, "show", WORKFLOW_ID, "--wait", "--timeout", "0.5")
    assert done.returncode == 124 and "still running after 0.5s" in done.stderr
    assert rows(done.stdout)["validate"][2] == "running"


def test_submit_wait_follows_the_workflow_to_its_end() -> None:
    script = [Answer(202, workflow_json()), Answer(200, workflow_json(steps={"validate": "running"})), Answer(200, FAILED)]
    with ScriptedServer(*script) as server:
        done = atomfleet(server, "submit", "-", "--wait", stdin=json.dumps(DIAMOND))
    assert done.returncode == 1 and done.stdout.splitlines()[0] == WORKFLOW_ID
    assert "step stats atom_error: boom" in done.stdout and len(server.seen) == 3


def test_retry_and_cancel_post_and_print_the_table() -> None:
    retried = workflow_json(steps={"validate": "succeeded", "stats": "queued", "fit": "succeeded"})
    with ScriptedServer(Answer(202, retried)) as server:
        done = atomfleet(server, "retry", WORKFLOW_ID)
    assert done.returncode == 0 and server.seen[0].path == f"/api/v1/workflows/{WORKFLOW_ID}/retry"
    assert rows(done.stdout)["stats"][2] == "queued" and rows(done.stdout)["validate"][2] == "succeeded"

    finished = {"error": {"code": "workflow_finished", "message": "the workflow has ended", "details": None}}
    with ScriptedServer(Answer(409, finished)) as server:
        done = atomfleet(server, "cancel", WORKFLOW_ID)
    assert done.returncode == 1 and "409 workflow_finished" in done.stderr
    assert server.seen[0].path == f"/api/v1/workflows/{WORKFLOW_ID}/cancel"


def test_list_filters_and_prints_the_next_cursor() -> None:
    page: dict[str, Any] = page_json(FAILED, workflow_json("failed", workflow_id="w2"), next_cursor="c2")
    with ScriptedServer(Answer(200, page)) as server:
        done = atomfleet(server, "list", "--status", "failed", "--limit", "2")
    assert done.returncode == 0 and server.seen[0].path == "/api/v1/workflows?status=failed&limit=2"
    lines = done.stdout.splitlines()
    assert lines[0].split()[:2] == [WORKFLOW_ID, "failed"] and lines[0].endswith("stats: atom_error")
    assert lines[1].split()[0] == "w2" and "more: add --cursor c2" in done.stderr
