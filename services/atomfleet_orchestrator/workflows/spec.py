"""A submitted workflow, checked: every refusal names its step.

The checks, in order (later ones need the earlier to hold): the step limit, step names, parents,
cycles, then per step its ``$from`` placeholders (each must name an ancestor) and its literal
arguments against the atom's current registration — placeholders exempt, since their values only
exist once the parents ran (they are validated at release, ``engine``).

``{"$from": STEP, "pointer": JSON_POINTER}`` may stand for any value inside ``args``; the pointer
(RFC 6901, default ``""``: the whole result) points into STEP's result.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from atomfleet_orchestrator.atoms import registry
from atomfleet_orchestrator.runs.submission import file_problems
from atomfleet_orchestrator.tenancy.models import Tenant
from atomfleet_orchestrator.workflows.errors import InvalidWorkflow
from atomfleet_orchestrator.workflows.lifecycle import RunIf

__all__ = [
    "FROM",
    "CheckedStep",
    "CheckedWorkflow",
    "PointerError",
    "check",
    "placeholders",
    "resolve_pointer",
]

FROM = "$from"


@dataclass
class CheckedStep:
    position: int
    name: str
    atom: str
    queue: str
    spec_hash: str
    args: dict[str, Any]
    parents: list[str]
    run_if: str
    children: list[int] = field(default_factory=list)


@dataclass
class CheckedWorkflow:
    on_failure: str
    steps: list[CheckedStep]


# -- placeholders and pointers --------------------------------------------------------------------


def is_placeholder(value: Any) -> bool:
    return isinstance(value, dict) and FROM in value


def placeholders(value: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``$from`` placeholder in ``value`` with its JSON path (jsonschema's notation)."""
    if is_placeholder(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from placeholders(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from placeholders(item, f"{path}[{index}]")


class PointerError(ValueError):
    pass


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def resolve_pointer(document: Any, pointer: str) -> Any:
    """RFC 6901: the part of ``document`` that ``pointer`` names; PointerError if none."""
    current = document
    for token in _tokens(pointer):
        if isinstance(current, dict):
            if token not in current:
                raise PointerError(f"{pointer!r}: no member {token!r}")
            current = current[token]
        elif isinstance(current, list):
            if not token.isdigit() or (token != "0" and token.startswith("0")) or int(token) >= len(current):
                raise PointerError(f"{pointer!r}: no item {token!r} in a list of {len(current)}")
            current = current[int(token)]
        else:
            raise PointerError(f"{pointer!r}: {token!r} points into a {type(current).__name__}")
    return current


# -- the checks ------------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.by_step: dict[str, list[Any]] = {}

    def add(self, step: str, problem: Any) -> None:
        self.by_step.setdefault(step, []).append(problem)

    def raise_if_any(self, message: str) -> None:
        if self.by_step:
            errors = [{"step": step, "problems": problems} for step, problems in self.by_step.items()]
            names = ", ".join(repr(s) for s in self.by_step)
            raise InvalidWorkflow(f"{message}: step(s) {names}", {"errors": errors})


def _order(steps: list[dict[str, Any]], problems: _Problems) -> list[str]:
    """Topological order (Kahn); the steps of a cycle are named."""
    parents = {s["name"]: list(dict.fromkeys(s.get("after") or [])) for s in steps}
    children: dict[str, list[str]] = {name: [] for name in parents}
    for name, ps in parents.items():
        for parent in ps:
            children[parent].append(name)
    waiting = {name: len(ps) for name, ps in parents.items()}
    ready = deque(name for name, count in waiting.items() if count == 0)
    order = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    left = {name for name, count in waiting.items() if count > 0}
    if left:
        # Walk parents inside the remainder until a step repeats: that loop is a cycle.
        start = next(s["name"] for s in steps if s["name"] in left)
        path: list[str] = []
        seen: dict[str, int] = {}
        current = start
        while current not in seen:
            seen[current] = len(path)
            path.append(current)
            current = next(p for p in parents[current] if p in left)
        cycle = [*reversed(path[seen[current]:])]
        text = " -> ".join([*cycle, cycle[0]])
        for name in cycle:
            problems.add(name, f"cycle: {text}")
    return order


def check(tenant: Tenant, body: dict[str, Any]) -> CheckedWorkflow:
    """The workflow ready to store, or InvalidWorkflow naming every refused step."""
    steps: list[dict[str, Any]] = body["steps"]
    problems = _Problems()
    limit = settings.ATOMFLEET_WORKFLOW_MAX_STEPS
    if len(steps) > limit:
        problems.add(steps[limit]["name"], f"a workflow has at most {limit} steps "
                     f"(ATOMFLEET_WORKFLOW_MAX_STEPS); this one has {len(steps)}")
        problems.raise_if_any("the workflow is too large")

    names = [s["name"] for s in steps]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            problems.add(name, f"duplicate step name {name!r}")
        seen.add(name)
    problems.raise_if_any("step names must be unique")

    for step in steps:
        for parent in step.get("after") or []:
            if parent not in seen:
                problems.add(step["name"], f"unknown parent {parent!r} in `after`")
            elif parent == step["name"]:
                problems.add(step["name"], "a step cannot come after itself")
    problems.raise_if_any("steps name unknown parents")

    order = _order(steps, problems)
    problems.raise_if_any("the steps form a cycle")

    by_name = {s["name"]: s for s in steps}
    ancestors: dict[str, set[str]] = {}
    for name in order:
        found: set[str] = set()
        for parent in by_name[name].get("after") or []:
            found.add(parent)
            found |= ancestors[parent]
        ancestors[name] = found

    checked = []
    position_of = {name: i for i, name in enumerate(names)}
    for position, step in enumerate(steps):
        name, args = step["name"], step["args"]
        exempt = []
        for path, placeholder in placeholders(args):
            exempt.append(path)
            source, pointer = placeholder.get(FROM), placeholder.get("pointer", "")
            extra = sorted(set(placeholder) - {FROM, "pointer"})
            if extra or not isinstance(source, str) or not isinstance(pointer, str):
                problems.add(name, {"path": path, "message": "a placeholder is "
                             '{"$from": STEP, "pointer": JSON_POINTER} (pointer optional, both strings)'})
                continue
            if source not in ancestors[name]:
                problems.add(name, {"path": path, "message": f"$from {source!r} is not an ancestor of "
                             f"{name!r} (only steps it comes after, directly or not, have ended by then)"})
            try:
                _tokens(pointer)
            except PointerError as exc:
                problems.add(name, {"path": path, "message": str(exc)})
        spec = registry.current(step["atom"])
        if spec is None:
            problems.add(name, f"no atom named {step['atom']!r} is registered")
            continue
        for schema_problem in registry.validate(spec, args):
            p = schema_problem["path"]
            if not any(p == e or p.startswith((f"{e}.", f"{e}[")) for e in exempt):
                problems.add(name, dict(schema_problem))
        literal_files = [f for f in spec.file_args if not is_placeholder(args.get(f))]
        for file_problem in file_problems(tenant, literal_files, args):
            problems.add(name, file_problem)
        checked.append(CheckedStep(
            position=position, name=name, atom=spec.name, queue=spec.queue, spec_hash=spec.spec_hash,
            args=args, parents=list(dict.fromkeys(step.get("after") or [])),
            run_if=step.get("run_if") or RunIf.ALL_SUCCEEDED.value,
        ))
    problems.raise_if_any("steps were refused")
    for child in checked:
        for parent in child.parents:
            checked[position_of[parent]].children.append(child.position)
    return CheckedWorkflow(on_failure=body["on_failure"], steps=checked)
