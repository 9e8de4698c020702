"""Replies as strict JSON text that a browser can only ever read as data.

Views may hold values JSON has no word for (inf and nan from a metric, a tuple, a stray
object): non-finite numbers become null and anything else unknown its `str`, so `JSON.parse`
never fails. `<`, `>` and `&` are written as `\\u003c`, `\\u003e`, `\\u0026`: the parsed
strings are unchanged, but no reply body can be sniffed or pasted as markup.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

_MARKUP = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def to_json(value: Any) -> str:
    # The three characters only occur inside strings in JSON text, so escaping them there
    # keeps the text valid and the values equal.
    return json.dumps(plain(value), allow_nan=False, separators=(",", ":")).translate(_MARKUP)


def plain(value: Any) -> Any:
    """`value` as JSON's types: dicts with string keys, lists, finite numbers, strings, null."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    return str(value)
