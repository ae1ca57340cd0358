"""The atoms called directly, with a real context on local storage (no fleet needed)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from acme_atoms.reports import column_summary, word_frequencies

from atomfleet import AtomContext, InvalidAtomInput
from atomfleet.storage import LocalObjectStore, RunArtifacts, TenantFiles


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path)


@pytest.fixture
def ctx(store: LocalObjectStore) -> AtomContext:
    return AtomContext(
        run_id="r1", tenant="acme", atom="reports", attempt=1, files=TenantFiles(store, "acme"),
        artifacts=RunArtifacts(store, "acme", "r1", attempt=1), logger=logging.getLogger("test"),
        progress_sink=lambda fraction, message: None,
    )


def test_column_summary_of_the_numeric_columns(ctx: AtomContext, store: LocalObjectStore) -> None:
    store.put("tenants/acme/uploads/u/sales.csv", b"region,units,price\nnorth,3,2.5\nsouth,5,4.5\nwest,x,1\n", "text/csv")
    result = column_summary(ctx, file="tenants/acme/uploads/u/sales.csv")
    assert result["rows"] == 3
    assert result["columns"]["units"] == {"count": 2, "mean": 4.0, "median": 4.0, "min": 3.0, "max": 5.0}
    assert "region" not in result["columns"]
    written = json.loads(store.get("tenants/acme/runs/r1/attempt-1/summary.json"))
    assert written["price"]["max"] == 4.5


def test_unknown_columns_are_the_callers_error(ctx: AtomContext, store: LocalObjectStore) -> None:
    store.put("tenants/acme/uploads/u/a.csv", b"a\n1\n", "text/csv")
    with pytest.raises(InvalidAtomInput, match="columns not in the header: b"):
        column_summary(ctx, file="tenants/acme/uploads/u/a.csv", columns=["b"])


def test_word_frequencies_rank_ties_alphabetically(ctx: AtomContext, store: LocalObjectStore) -> None:
    store.put("tenants/acme/uploads/u/t.txt", b"The cat and the hat. A cat!", "text/plain")
    result = word_frequencies(ctx, file="tenants/acme/uploads/u/t.txt", top=2)
    assert result["top"] == [{"word": "cat", "count": 2}, {"word": "the", "count": 2}]
    assert store.get("tenants/acme/runs/r1/attempt-1/frequencies.csv").startswith(b"word,count\r\ncat,2")
