"""``reports.*`` (queue ``reports``): reports built from uploaded files.

Written only against the atomfleet SDK (``from atomfleet import ...``): the package knows nothing of
the orchestrator, and the orchestrator's API never imports it — it validates arguments against the
specs the `reports` workers registered.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter
from typing import Any

from atomfleet import (
    AtomContext,
    InvalidAtomInput,
    ObjectNotFound,
    RetryPolicy,
    TransientAtomError,
    atom,
)

QUEUE = "reports"


def _text(ctx: AtomContext, key: str) -> str:
    try:
        return ctx.files.read_text(key)
    except ObjectNotFound:
        raise InvalidAtomInput(f"input file {key!r} does not exist", code="input_not_found") from None
    except UnicodeDecodeError:
        raise InvalidAtomInput(f"input file {key!r} is not UTF-8 text") from None


@atom(
    name="reports.column_summary",
    queue=QUEUE,
    description="Count, mean, median, min and max of each numeric column of an uploaded CSV; "
    "writes summary.json.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "description": "key returned by POST /api/v1/files"},
            "columns": {"type": "array", "items": {"type": "string"}, "maxItems": 200,
                        "description": "columns to summarise (default: every numeric one)"},
        },
    },
    soft_time_limit=600,
    time_limit=660,
    idempotent=True,
    retry=RetryPolicy(transient=(TransientAtomError, ConnectionError), max_retries=2, backoff_base=1.0),
    file_args=("file",),
)
def column_summary(ctx: AtomContext, *, file: str, columns: list[str] | None = None) -> dict[str, Any]:
    rows = list(csv.DictReader(io.StringIO(_text(ctx, file))))
    if not rows:
        raise InvalidAtomInput(f"{file!r} has no data rows")
    names = columns or list(rows[0].keys())
    missing = [c for c in names if c not in rows[0]]
    if missing:
        raise InvalidAtomInput(f"columns not in the header: {', '.join(missing)}")
    summary: dict[str, Any] = {}
    for index, name in enumerate(names):
        ctx.check_cancelled()
        values = []
        for row in rows:
            try:
                values.append(float(row[name]))
            except (TypeError, ValueError):
                continue
        if values:
            summary[name] = {"count": len(values), "mean": statistics.fmean(values),
                             "median": statistics.median(values), "min": min(values), "max": max(values)}
        ctx.progress((index + 1) / len(names), f"summarised {name}")
    ctx.artifacts.put("summary.json", json.dumps(summary, indent=2).encode(), "application/json")
    return {"rows": len(rows), "columns": summary, "artifact": "summary.json"}


@atom(
    name="reports.word_frequencies",
    queue=QUEUE,
    description="The most frequent words of an uploaded text, as a result and a CSV artifact.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["file"],
        "properties": {
            "file": {"type": "string"},
            "top": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
        },
    },
    soft_time_limit=300,
    time_limit=360,
    idempotent=True,
    file_args=("file",),
)
def word_frequencies(ctx: AtomContext, *, file: str, top: int = 20) -> dict[str, Any]:
    words = [w.strip(".,;:!?\"'()[]").lower() for w in _text(ctx, file).split()]
    counts = Counter(w for w in words if w)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["word", "count"])
    writer.writerows(ranked)
    ctx.artifacts.put("frequencies.csv", table.getvalue().encode(), "text/csv")
    return {"words": len(words), "distinct": len(counts), "top": [{"word": w, "count": c} for w, c in ranked]}
