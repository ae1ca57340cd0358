"""``atomfleet submit-batch``: items from a file, sent in chunks of the server's batch limit.

Each chunk is one all-or-nothing request (``POST /api/v1/atoms/{name}/runs/batch``). With
idempotency keys on every item (``--key-prefix`` adds them), a chunk is retried on transient
errors and the whole command can be run again after a failure: runs already created are
returned, not created twice.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from atomfleet.client import BatchItem, Client, Run

__all__ = ["read_items", "submit_in_chunks"]


def _parse(text: str) -> list[Any]:
    stripped = text.strip()
    if stripped.startswith("["):
        return list(json.loads(stripped))
    return [json.loads(line) for line in stripped.splitlines() if line.strip()]


def read_items(source: str, key_prefix: str | None) -> list[BatchItem]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        raw = _parse(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: {source} is neither a JSON array nor JSON lines: {exc}") from None
    items = []
    for number, entry in enumerate(raw, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("args"), dict):
            raise SystemExit(f'error: item {number} of {source} must be {{"args": {{...}}, "idempotency_key": ...}}')
        key = entry.get("idempotency_key") or (f"{key_prefix}-{number}" if key_prefix else None)
        items.append(BatchItem(entry["args"], key))
    if not items:
        raise SystemExit(f"error: {source} holds no items")
    return items


def submit_in_chunks(client: Client, atom: str, items: list[BatchItem], chunk: int) -> list[Run]:
    if chunk < 1:
        raise SystemExit("error: --chunk must be at least 1")
    runs: list[Run] = []
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        result = client.submit_batch(atom, part)
        created = sum(entry.created for entry in result.entries)
        print(f"items {start + 1}-{start + len(part)}: {created} created, {len(part) - created} already there",
              file=sys.stderr)
        runs += result.runs
    return runs
