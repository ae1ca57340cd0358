"""The catalog: the only way an atom name reaches Celery."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from atomfleet.catalog.spec import AtomFunction, AtomSpec, RetryPolicy
from atomfleet.errors import ConfigurationError

__all__ = ["Catalog", "SchemaProblem", "atom", "CATALOG", "schema_problems"]

_ATOM_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class SchemaProblem(dict[str, str]):
    """One argument problem: ``{"path": "$.columns[0].type", "message": "..."}``."""


class Catalog:
    def __init__(self) -> None:
        self._specs: dict[str, AtomSpec] = {}
        self._validators: dict[str, Draft202012Validator] = {}

    def register(self, spec: AtomSpec) -> AtomSpec:
        if not _ATOM_NAME.match(spec.name):
            raise ConfigurationError(f"atom name {spec.name!r} must be dotted lowercase words")
        if spec.name in self._specs:
            raise ConfigurationError(f"atom {spec.name!r} is registered twice")
        if not 0 < spec.soft_time_limit < spec.time_limit:
            raise ConfigurationError(
                f"atom {spec.name}: soft_time_limit ({spec.soft_time_limit}s) must be positive "
                f"and below time_limit ({spec.time_limit}s)"
            )
        try:
            Draft202012Validator.check_schema(spec.schema)
        except SchemaError as exc:
            raise ConfigurationError(f"atom {spec.name}: invalid JSON Schema: {exc.message}") from exc
        self._specs[spec.name] = spec
        self._validators[spec.name] = Draft202012Validator(spec.schema)
        return spec

    def get(self, name: str) -> AtomSpec | None:
        return self._specs.get(name)

    def __iter__(self) -> Iterator[AtomSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)

    def check_queues(self, declared: tuple[str, ...]) -> None:
        """An atom routed to an undeclared queue would never run: refuse to start instead."""
        stray = [f"atom {s.name} is routed to queue {s.queue!r}" for s in self if s.queue not in declared]
        if stray:
            raise ConfigurationError(
                f"{'; '.join(stray)}, which is not declared in ATOMFLEET_QUEUES "
                f"(declared: {', '.join(declared)})"
            )

    def check_visibility_timeout(self, visibility_timeout: int) -> None:
        """Redis redelivers unacked messages after ``visibility_timeout``: it must outlast runs."""
        too_long = [f"atom {s.name} ({s.time_limit}s)" for s in self if s.time_limit >= visibility_timeout]
        if too_long:
            raise ConfigurationError(
                f"broker visibility_timeout ({visibility_timeout}s) must exceed the hard time "
                f"limit of {', '.join(too_long)}; raise ATOMFLEET_VISIBILITY_TIMEOUT or lower the limits"
            )

    def validate_args(self, name: str, args: Any) -> list[SchemaProblem]:
        """Every schema violation with the JSON path of the offending value."""
        return schema_problems(self._validators[name], args)


def schema_problems(validator: Draft202012Validator, args: Any) -> list[SchemaProblem]:
    """Every violation of an atom's argument schema, with the JSON path of the offending value."""
    problems = [SchemaProblem(path=error.json_path, message=error.message) for error in validator.iter_errors(args)]
    return sorted(problems, key=lambda p: p["path"])


CATALOG = Catalog()


def atom(
    *,
    name: str,
    queue: str,
    schema: Mapping[str, Any],
    description: str,
    soft_time_limit: int,
    time_limit: int,
    idempotent: bool,
    retry: RetryPolicy | None = None,
    file_args: tuple[str, ...] = (),
    catalog: Catalog = CATALOG,
) -> Callable[[AtomFunction], AtomFunction]:
    """Register an atom implementation in the catalog."""

    def register(func: AtomFunction) -> AtomFunction:
        catalog.register(
            AtomSpec(
                name=name,
                queue=queue,
                func=func,
                schema=schema,
                description=description,
                soft_time_limit=soft_time_limit,
                time_limit=time_limit,
                idempotent=idempotent,
                retry=retry or RetryPolicy(),
                file_args=file_args,
            )
        )
        return func

    return register
