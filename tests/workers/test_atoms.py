"""The shipped atoms, called directly with a real context on local storage."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from atomfleet.errors import InvalidAtomInput, ObjectAccessDenied
from atomfleet.runtime import AtomContext
from atomfleet.storage import LocalObjectStore, RunArtifacts, TenantFiles
from atomfleet_demo.autoregressive import autoregressive, fit_ar
from atomfleet_demo.csv_validation import validate_csv
from atomfleet_demo.text_stats import text_stats


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path)


@pytest.fixture
def ctx(store: LocalObjectStore) -> AtomContext:
    return AtomContext(
        run_id="r1", tenant="acme", atom="x", attempt=1, files=TenantFiles(store, "acme"),
        artifacts=RunArtifacts(store, "acme", "r1"), logger=logging.getLogger("t"),
        progress_sink=lambda f, m: None,
    )


def test_a_backtracking_pattern_runs_in_linear_time(ctx: AtomContext, store: LocalObjectStore) -> None:
    # (a+)+$ on "aaaa...b" takes exponential time with Python's re; RE2 answers at once
    store.put("tenants/acme/uploads/u/p.csv", b"code\n" + b"a" * 5000 + b"b\nabc\n", "text/csv")
    started = time.monotonic()
    result = validate_csv(ctx, file="tenants/acme/uploads/u/p.csv",
                          columns=[{"name": "code", "type": "string", "pattern": "(a+)+$"}])
    assert time.monotonic() - started < 5  # a sanity bound; Python's re would take ages
    assert result["invalid_rows"] == 2 and "does not match" in result["first_errors"][0]["problem"]


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)a", "("])
def test_patterns_re2_cannot_bound_are_refused_clearly(ctx: AtomContext, store: LocalObjectStore, pattern: str) -> None:
    store.put("tenants/acme/uploads/u/p.csv", b"code\nabc\n", "text/csv")
    with pytest.raises(InvalidAtomInput, match="is not supported") as raised:
        validate_csv(ctx, file="tenants/acme/uploads/u/p.csv",
                     columns=[{"name": "code", "type": "string", "pattern": pattern}])
    assert raised.value.code == "invalid_pattern"


def test_text_stats_counts(ctx: AtomContext) -> None:
    result = text_stats(ctx, text="The cat. The dog!\nA cat?", top=2)
    assert result["words"] == 6 and result["unique_words"] == 4
    assert result["lines"] == 2 and result["sentences"] == 3
    assert result["top_words"] == [{"word": "cat", "count": 2}, {"word": "the", "count": 2}]


def test_validate_csv_reports_each_problem(ctx: AtomContext, store: LocalObjectStore) -> None:
    store.put("tenants/acme/uploads/u/in.csv", b"id,age,when\n1,30,2024-01-01\nx,200,\n3,,2024-13-01\n", "text/csv")
    result = validate_csv(
        ctx,
        file="tenants/acme/uploads/u/in.csv",
        columns=[
            {"name": "id", "type": "integer"},
            {"name": "age", "type": "integer", "max": 120, "required": False},
            {"name": "when", "type": "date"},
            {"name": "missing", "type": "string"},
        ],
    )
    assert result["rows"] == 3 and result["invalid_rows"] == 2 and result["valid_rows"] == 1
    assert result["missing_columns"] == ["missing"]
    problems = {(e["row"], e["column"]) for e in result["first_errors"]}
    assert problems == {(2, "id"), (2, "age"), (2, "when"), (3, "when")}
    report = json.loads(store.get("tenants/acme/runs/r1/report.json"))
    assert report["error_count"] == 4


def test_validate_csv_cannot_read_another_tenants_file(ctx: AtomContext, store: LocalObjectStore) -> None:
    store.put("tenants/globex/uploads/u/in.csv", b"id\n1\n", "text/csv")
    with pytest.raises(ObjectAccessDenied):
        validate_csv(ctx, file="tenants/globex/uploads/u/in.csv", columns=[{"name": "id", "type": "integer"}])


def test_autoregressive_recovers_known_coefficients(ctx: AtomContext) -> None:
    rng = np.random.default_rng(3)
    y = [0.0, 0.0]
    for _ in range(3000):
        y.append(1.0 + 0.5 * y[-1] - 0.3 * y[-2] + rng.normal(0, 0.05))
    result = autoregressive(ctx, series=y, order=2, horizon=4)
    assert result["coefficients"] == pytest.approx([0.5, -0.3], abs=0.03)
    assert result["intercept"] == pytest.approx(1.0, abs=0.05)
    assert result["rmse"] == pytest.approx(0.05, abs=0.01)
    assert len(result["forecast"]) == 4 and result["device"] == "cpu"


def test_autoregressive_reads_an_uploaded_csv(ctx: AtomContext, store: LocalObjectStore) -> None:
    rows = "".join(f"{v}\n" for v in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    store.put("tenants/acme/uploads/u/s.csv", f"value\n{rows}".encode(), "text/csv")
    result = autoregressive(ctx, file="tenants/acme/uploads/u/s.csv", order=1, horizon=2)
    assert result["forecast"] == pytest.approx([11.0, 12.0])


def test_autoregressive_rejects_too_short_series(ctx: AtomContext) -> None:
    with pytest.raises(InvalidAtomInput, match="too short"):
        autoregressive(ctx, series=[1.0, 2.0, 3.0], order=2)


def test_fit_ar_exact_on_noise_free_data() -> None:
    y = np.array([2.0 ** i for i in range(10)])
    coef, rmse = fit_ar(y, 1)
    assert coef[1] == pytest.approx(2.0) and rmse == pytest.approx(0.0, abs=1e-9)
