"""The JSON request parser: DRF's, refusing as 400 (``malformed_json``) what it let through as 500s:
nesting too deep for the decoder, and strings that are not Unicode text.

JSON's ``\\ud800`` escape spells a lone surrogate, which no UTF-8 text (a PostgreSQL column, a
log line, a Redis message) can hold: it is refused here, naming where it is, for every JSON body.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as _DrfJsonParser

__all__ = ["JSONParser", "lone_surrogate_at"]


def _not_text(value: str) -> bool:
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate_at(value: Any, path: str = "$") -> str | None:
    """The JSON path of the first string (or object key) holding a lone surrogate, or None."""
    if isinstance(value, str):
        return path if _not_text(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _not_text(key):
                return path
            found = lone_surrogate_at(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate_at(item, f"{path}[{index}]")
            if found:
                return found
    return None


class JSONParser(_DrfJsonParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # e.g. 100k nested arrays: DRF lets it through as a 500
            raise ParseError("JSON parse error - nested too deeply") from None
        where = lone_surrogate_at(data)
        if where:
            raise ParseError(f"JSON parse error - a lone surrogate (\\ud800-\\udfff) at {where}: "
                             "strings must be Unicode text")
        return data
