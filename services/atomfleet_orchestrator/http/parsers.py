"""The JSON request parser: DRF's, with nesting too deep for the decoder refused as 400."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as _DrfJsonParser

__all__ = ["JSONParser"]


class JSONParser(_DrfJsonParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:  # e.g. 100k nested arrays: DRF lets it through as a 500
            raise ParseError("JSON parse error - nested too deeply") from None
