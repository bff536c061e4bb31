"""What the API accepts as text, and its JSON body parser.

Two kinds of input used to get past parsing and crash deeper down (a 500,
though nothing was written): JSON nested deeper than Python's recursion
limit (``[[[[...`` makes the C decoder raise ``RecursionError``), and text
PostgreSQL cannot store (a NUL character, which psycopg refuses to send, or
a lone surrogate such as ``"\\ud800"``, which cannot be encoded as UTF-8 at
all). Both are refused here, at the door, as 400 ``invalid``, so no view or
service ever sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


def text_storable(value: str) -> bool:
    """True for text PostgreSQL can store and compare: no NUL, no lone surrogate."""
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _texts(data: Any) -> Iterator[str]:
    """Every string in parsed JSON, keys included (iteratively: the depth is the client's)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus: too deep a body and unstorable text are 400, not 500."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        if not all(text_storable(text) for text in _texts(data)):
            raise ParseError("The body holds a NUL character or a lone surrogate, which no field accepts.")
        return data
