"""JSON bodies from outside, parsed with a bound on nesting.

Python's parser recurses once per level: a body nested 100,000 levels deep raises
RecursionError (a 500 where a 400 belongs), and one nested a few hundred deep parses but
makes every recursive walk of it afterwards (validation, redaction, rendering) slow or fatal.
No document the hub accepts nests deeper than a dozen levels; `MAX_DEPTH` leaves room.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


class TooDeep(ValueError):
    """The document nests deeper than the limit."""


def depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in `raw` (strings skipped), without parsing."""
    deepest = level = 0
    for m in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if m.group() in (b"[", b"{"):
            level += 1
            deepest = max(deepest, level)
        else:
            level -= 1
    return deepest


def loads(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing (TooDeep) a document nested deeper than `max_depth`; ValueError
    or UnicodeDecodeError for a body that is not JSON, as `json.loads` raises them."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if depth(data) > max_depth:
        raise TooDeep(f"the JSON nests deeper than {max_depth} levels")
    return json.loads(data)
