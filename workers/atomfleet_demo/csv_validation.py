"""``data.validate_csv`` (queue ``io_bound``): check an uploaded CSV against a column spec.

Invalid data is a *successful* run with a report (the job did its work); only an unreadable input
fails the run. Column patterns come from tenants, so they run on RE2 (linear time, bounded memory):
a pattern that would backtrack for hours with Python's ``re`` is checked in microseconds, and
syntax RE2 cannot bound (backreferences, lookaround) is refused with a clear error.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import re2

from atomfleet import AtomContext, InvalidAtomInput, atom
from atomfleet_demo._inputs import read_uploaded_text

#: Memory RE2 may use per compiled pattern.
PATTERN_MAX_MEM = 8 << 20

_COLUMN = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "type"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "type": {"enum": ["string", "integer", "number", "boolean", "date"]},
        "required": {"type": "boolean", "default": True},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "pattern": {"type": "string", "maxLength": 500},
    },
}
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _parse(kind: str, raw: str) -> Any:
    if kind == "string":
        return raw
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        if raw.lower() not in _BOOLEANS:
            raise ValueError(raw)
        return _BOOLEANS[raw.lower()]
    return dt.date.fromisoformat(raw)


def compile_pattern(pattern: str) -> Any:
    """A tenant's pattern compiled by RE2; unsupported or invalid syntax is the user's error."""
    options = re2.Options()
    options.max_mem = PATTERN_MAX_MEM
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise InvalidAtomInput(
            f"pattern {pattern!r} is not supported: {message} (RE2 syntax: no backreferences or lookaround)",
            code="invalid_pattern",
        ) from None


def _check_cell(column: dict[str, Any], raw: str, pattern: Any = None) -> str | None:
    """The problem with one cell, or None."""
    if raw == "":
        return "required value is missing" if column.get("required", True) else None
    try:
        value = _parse(column["type"], raw)
    except ValueError:
        return f"{raw!r} is not a valid {column['type']}"
    measure = len(value) if isinstance(value, str) else value
    if isinstance(measure, int | float) and not isinstance(measure, bool):
        if "min" in column and measure < column["min"]:
            return f"{raw!r} is below the minimum {column['min']}"
        if "max" in column and measure > column["max"]:
            return f"{raw!r} is above the maximum {column['max']}"
    if pattern is not None and isinstance(value, str) and pattern.fullmatch(value) is None:
        return f"{raw!r} does not match {column['pattern']!r}"
    return None


@atom(
    name="data.validate_csv",
    queue="io_bound",
    description="Validates an uploaded CSV against a column spec and stores a JSON report.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["file", "columns"],
        "properties": {
            "file": {"type": "string", "description": "key returned by POST /api/v1/files"},
            "columns": {"type": "array", "minItems": 1, "maxItems": 500, "items": _COLUMN},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "default": ","},
            "max_errors": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1000},
        },
    },
    soft_time_limit=1700,
    time_limit=1800,
    idempotent=True,
    file_args=("file",),
)
def validate_csv(
    ctx: AtomContext,
    *,
    file: str,
    columns: list[dict[str, Any]],
    delimiter: str = ",",
    max_errors: int = 1000,
) -> dict[str, Any]:
    text = read_uploaded_text(ctx, file)
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = reader.fieldnames or []
    missing = [c["name"] for c in columns if c["name"] not in header]
    checked = [c for c in columns if c["name"] in header]
    patterns = {c["name"]: compile_pattern(c["pattern"]) for c in checked if "pattern" in c}
    total_lines = max(1, text.count("\n"))
    errors: list[dict[str, Any]] = []
    error_count = rows = invalid_rows = 0
    for rows, record in enumerate(reader, start=1):
        row_bad = False
        for column in checked:
            problem = _check_cell(column, (record.get(column["name"]) or "").strip(), patterns.get(column["name"]))
            if problem:
                row_bad = True
                error_count += 1
                if len(errors) < max_errors:
                    errors.append({"row": rows, "column": column["name"], "problem": problem})
        invalid_rows += row_bad
        if rows % 1000 == 0:
            ctx.check_cancelled()
            ctx.progress(min(0.95, rows / total_lines), f"checked {rows} rows")

    report = {
        "file": file,
        "rows": rows,
        "valid_rows": rows - invalid_rows,
        "invalid_rows": invalid_rows,
        "error_count": error_count,
        "missing_columns": missing,
        "unexpected_columns": [h for h in header if h not in {c["name"] for c in columns}],
        "errors": errors,
        "errors_truncated": error_count > len(errors),
    }
    ctx.artifacts.put("report.json", json.dumps(report, indent=2).encode(), "application/json")
    ctx.progress(1.0, f"checked {rows} rows")
    return {
        "valid": not missing and error_count == 0,
        **{k: report[k] for k in ("rows", "valid_rows", "invalid_rows", "error_count", "missing_columns")},
        "first_errors": errors[:10],
        "report_artifact": "report.json",
    }
