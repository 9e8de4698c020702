"""Parameter values given as text (`-p NAME VALUE`, `%flow run -p NAME=VALUE`, `--grid`)."""

from __future__ import annotations

import json
from typing import Any


def parse_value(text: str) -> Any:
    """A value as papermill reads one: a boolean, None, a number or JSON, else the string."""
    words = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in words:
        return words[text.lower()]
    try:
        return json.loads(text)
    except ValueError:
        return text
