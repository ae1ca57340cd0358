"""The `atomfleet` HTTP client commands against a live API server and real workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atomfleet_orchestrator.cli.main import main
from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant
from tests.support.atoms import register_shipped_atoms

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cli_env(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    register_shipped_atoms()
    tenant = Tenant.objects.create(slug="cli")
    _, raw = ApiToken.issue(tenant, "cli-user")
    monkeypatch.setenv("ATOMFLEET_URL", live_server.url)
    monkeypatch.setenv("ATOMFLEET_TOKEN", raw)


def _json(out: str) -> Any:
    return json.loads(out[out.index("{"):])


@pytest.mark.usefixtures("cli_env")
def test_atoms_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["atoms"]) == 0
    out = capsys.readouterr().out
    assert "forecast.autoregressive" in out and "ml_training" in out


@pytest.mark.fleet
@pytest.mark.usefixtures("cli_env", "worker_fleet")
def test_submit_wait_status_list_result(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["submit", "forecast.autoregressive", "--args", '{"series": [1, 2, 3, 4, 5, 6, 7]}',
                 "--arg", "order=1", "--arg", "horizon=2", "--wait", "--timeout", "60"]) == 0
    run = _json(capsys.readouterr().out)
    assert run["status"] == "succeeded" and run["args"]["order"] == 1

    assert main(["status", run["id"]]) == 0
    assert _json(capsys.readouterr().out)["id"] == run["id"]
    assert main(["list", "--queue", "ml_training"]) == 0
    assert run["id"] in capsys.readouterr().out
    assert main(["result", run["id"], "--download", str(tmp_path)]) == 0
    result = _json(capsys.readouterr().out)
    assert result["result"]["forecast"] == pytest.approx([8.0, 9.0])
    assert json.loads((tmp_path / "model.json").read_text())["order"] == 1


@pytest.mark.usefixtures("cli_env")
def test_api_errors_exit_1_with_code_and_details(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["submit", "text.stats", "--args", '{"txt": "x"}']) == 1
    err = capsys.readouterr().err
    assert "400 invalid_args" in err and "$" in err
    assert main(["submit", "no.such.atom"]) == 1
    assert "404 unknown_atom" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_env")
def test_upload_prints_a_tenant_scoped_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("a\n1\n")
    assert main(["upload", str(data)]) == 0
    assert _json(capsys.readouterr().out)["key"].startswith("tenants/cli/uploads/")


def test_missing_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATOMFLEET_URL", raising=False)
    with pytest.raises(SystemExit, match="set ATOMFLEET_URL and ATOMFLEET_TOKEN"):
        main(["atoms"])


@pytest.mark.usefixtures("cli_env")
def test_bad_args_json_is_a_usage_error() -> None:
    with pytest.raises(SystemExit, match="--args is not valid JSON"):
        main(["submit", "text.stats", "--args", "{nope"])


def test_unreachable_api_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ATOMFLEET_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ATOMFLEET_TOKEN", "x")
    assert main(["atoms"]) == 1
    assert "unreachable" in capsys.readouterr().err


@pytest.mark.fleet
@pytest.mark.usefixtures("cli_env", "worker_fleet")
def test_submit_batch_from_json_lines_waits_and_is_safe_to_run_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"args": {"text": f"word{i} word{i}"}}) + "\n" for i in range(5)))
    argv = ["submit-batch", "text.stats", str(items), "--key-prefix", "nightly", "--chunk", "2"]
    assert main([*argv, "--wait", "--timeout", "60"]) == 0
    out, err = capsys.readouterr()
    finished = json.loads(out)
    assert [r["status"] for r in finished] == ["succeeded"] * 5
    assert err.count("created") == 3  # chunks of 2, 2 and 1
    assert main(argv) == 0  # again: the keys name the runs already there
    again, err = capsys.readouterr()
    assert [r["id"] for r in json.loads(again)] == [r["id"] for r in finished]
    assert "0 created, 2 already there" in err


@pytest.mark.usefixtures("cli_env")
def test_submit_batch_is_all_or_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"args": {"text": "fine"}}, {"args": {"txt": "wrong"}}]))
    assert main(["submit-batch", "text.stats", str(items)]) == 1
    err = capsys.readouterr().err
    assert "400 invalid_batch" in err and '"index": 1' in err
    assert main(["list"]) == 0 and capsys.readouterr().out == ""
    items.write_text('{"text": "no args envelope"}\n')
    with pytest.raises(SystemExit, match='item 1 of .* must be'):
        main(["submit-batch", "text.stats", str(items)])


@pytest.mark.usefixtures("cli_env")
def test_list_prints_the_cursor_of_the_next_page(capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        assert main(["submit", "text.stats", "--arg", f"text=t{i}"]) == 0
    capsys.readouterr()
    assert main(["list", "--limit", "2"]) == 0
    first = capsys.readouterr()
    cursor = first.err.split("--cursor ")[1].strip()
    assert main(["list", "--limit", "2", "--cursor", cursor]) == 0
    second = capsys.readouterr().out
    assert len(first.out.splitlines()) == 2 and len(second.splitlines()) == 1
    assert second.split()[0] not in first.out
