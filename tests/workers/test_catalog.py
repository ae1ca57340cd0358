from __future__ import annotations

import random

import pytest

from atomfleet.catalog import CATALOG, Catalog, RetryPolicy, atom, load_catalog
from atomfleet.errors import ConfigurationError
from atomfleet.queues import parse_queues

QUEUES = ("default", "io_bound", "ml_training")


def test_shipped_catalog_has_an_atom_per_queue() -> None:
    catalog = load_catalog(QUEUES, 43200)
    assert {spec.queue for spec in catalog} == set(QUEUES)
    assert {s.name for s in catalog} >= {"text.stats", "data.validate_csv", "forecast.autoregressive", "diagnostics.sleep"}
    for spec in catalog:
        assert spec.task_name == f"atomfleet.atom.{spec.name}"
        assert 0 < spec.soft_time_limit < spec.time_limit


def test_atom_routed_to_undeclared_queue_is_a_startup_error() -> None:
    with pytest.raises(ConfigurationError, match=r"forecast.autoregressive is routed to queue 'ml_training'"):
        load_catalog(("default", "io_bound"), 43200)


def test_visibility_timeout_below_a_hard_limit_is_refused_naming_the_atom() -> None:
    with pytest.raises(ConfigurationError, match=r"hard time limit of .*atom forecast.autoregressive \(7200s\)"):
        CATALOG.check_visibility_timeout(3600)


def test_schema_problems_carry_json_paths() -> None:
    load_catalog(QUEUES, 43200)
    problems = CATALOG.validate_args(
        "data.validate_csv", {"file": 3, "columns": [{"name": "a", "type": "blob"}], "extra": 1}
    )
    paths = {p["path"] for p in problems}
    assert {"$.file", "$.columns[0].type", "$"} <= paths
    assert all(p["message"] for p in problems)


def test_registration_rejects_bad_declarations() -> None:
    catalog = Catalog()

    def noop(ctx: object) -> None:
        return None

    with pytest.raises(ConfigurationError, match="dotted lowercase"):
        atom(name="Bad Name", queue="default", schema={}, description="", soft_time_limit=1, time_limit=2,
             idempotent=True, catalog=catalog)(noop)
    with pytest.raises(ConfigurationError, match="below time_limit"):
        atom(name="x.y", queue="default", schema={}, description="", soft_time_limit=5, time_limit=5,
             idempotent=True, catalog=catalog)(noop)
    with pytest.raises(ConfigurationError, match="invalid JSON Schema"):
        atom(name="x.z", queue="default", schema={"type": 7}, description="", soft_time_limit=1, time_limit=2,
             idempotent=True, catalog=catalog)(noop)


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    policy = RetryPolicy(backoff_base=2, backoff_max=60)
    rng = random.Random(1)
    for n, full in [(1, 2), (2, 4), (3, 8), (10, 60)]:
        delays = [policy.delay(n, rng) for _ in range(200)]
        assert min(delays) >= full / 2 and max(delays) <= full
        assert max(delays) - min(delays) > 0  # jitter


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"a": 1}', "non-empty JSON list"),
        ('["io_bound"]', "must declare the 'default' queue"),
        ('["default", "Bad Queue"]', "invalid queue name"),
        ('["default", "default"]', "declared twice"),
    ],
)
def test_queue_declaration_errors_are_specific(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_queues(raw)


def test_queue_declaration_accepts_user_queues() -> None:
    assert parse_queues('["default", "reports"]') == ("default", "reports")
