"""Parameter values given as text (`-p NAME VALUE`, `%flow run -p NAME=VALUE`, `--grid`)."""

from __future__ import annotations

import json
from typing import Any


def parse_value(text: str) -> Any:
    """A value as papermill's `-p` reads one: True, False, None, an int, a float, else the
    string; and, beyond papermill, a JSON list or object (`[1, 2]`, `{"a": 1}`)."""
    words = {"True": True, "False": False, "None": None}
    if text in words:
        return words[text]
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text
