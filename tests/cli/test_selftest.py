"""``atomfleet selftest`` (the chart's ``helm test`` Pods): an API it cannot reach is named with the
cause, e.g. a Service name that does not resolve, not "the API refused: - unreachable"."""

from __future__ import annotations

import pytest

from atomfleet_orchestrator.cli.selftest import main

ARGS = ["--queue", "default", "--atom", "text.stats", "--args", '{"text": "x"}', "--timeout", "5"]


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATOMFLEET_TOKEN", "x")


def test_a_host_that_does_not_resolve_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    # ".invalid" never resolves (RFC 2606): a wrong release name, a Service in another namespace
    assert main(["--url", "http://atomfleet-api.invalid:8000", *ARGS]) == 1
    err = capsys.readouterr().err
    assert "cannot resolve host 'atomfleet-api.invalid'" in err, err
    assert "refused" not in err


def test_a_port_where_nothing_listens_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--url", "http://127.0.0.1:9", *ARGS]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to 127.0.0.1:9" in err and "connection refused" in err, err
