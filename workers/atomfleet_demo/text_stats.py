"""``text.stats`` (queue ``default``): counts and top words of a text."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from atomfleet import AtomContext, atom

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


@atom(
    name="text.stats",
    queue="default",
    description="Counts characters, words, lines and sentences of a text and lists its top words.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {
            "text": {"type": "string", "maxLength": 1_000_000},
            "top": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            "case_sensitive": {"type": "boolean", "default": False},
        },
    },
    soft_time_limit=50,
    time_limit=60,
    idempotent=True,
)
def text_stats(ctx: AtomContext, *, text: str, top: int = 10, case_sensitive: bool = False) -> dict[str, Any]:
    words = _WORD.findall(text if case_sensitive else text.lower())
    counts = Counter(words)
    ctx.progress(0.5, f"counted {len(words)} words")
    return {
        "characters": len(text),
        "words": len(words),
        "unique_words": len(counts),
        "lines": len(text.splitlines()),
        "sentences": len(_SENTENCE_END.findall(text)),
        "average_word_length": round(sum(map(len, words)) / len(words), 3) if words else 0.0,
        # Ties broken alphabetically so the result is deterministic.
        "top_words": [
            {"word": w, "count": c}
            for w, c in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
        ],
    }
