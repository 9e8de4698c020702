"""A short, JSON-able description of a value, taken when it is saved.

Browsing runs, drawing graphs and comparing read these instead of unpickling anything. Every
part is bounded (a list of 10^7 items costs what one of 20 does) and nothing here raises.
numpy and pandas are looked up in sys.modules, never imported: a value of their types
cannot exist unless they already are.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from nbflow.store.blobs.serialize import type_name

REPR_LIMIT = 200
HEAD_ROWS = 5
HEAD_COLUMNS = 20
CELL_LIMIT = 50  # a string inside a head or a values list
_ITEMS = 20  # container items walked by _plain and _short_repr
_DEPTH = 6


def preview(value: Any) -> dict[str, Any]:
    """{"type": "module.qualname", ...kind-specific fields}; never raises."""
    result: dict[str, Any] = {"type": type_name(value)}
    try:
        result.update(_describe(value))
    except Exception as exc:  # a broken __len__, __array__, property, ...: keep what we have
        result["repr"] = _short_repr(value)
        result["error"] = f"preview failed: {type(exc).__name__}: {exc}"[:REPR_LIMIT]
    return result


def _describe(value: Any) -> dict[str, Any]:  # noqa: PLR0911 (one return per kind)
    if type(value) is float or (type(value) is int and -(1 << 63) <= value < (1 << 64)):
        # A foreach's indexes and scores, one per task: no walk needed (what _plain and
        # _short_repr give for them)
        text = repr(value)
        return {
            "value": _plain(value),
            "repr": text if len(text) <= REPR_LIMIT else _short_repr(value),
        }
    if value is None or isinstance(value, (bool, int, float, complex)):
        return {"value": _plain(value), "repr": _short_repr(value)}
    if isinstance(value, (str, bytes, bytearray)):
        return {"repr": repr(value[:REPR_LIMIT]), "length": len(value)}
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return {"length": len(value), "repr": _short_repr(value)}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.ndarray):
            return {
                "shape": list(value.shape),
                "dtype": str(value.dtype),
                # flat[:n] reads n items; ravel() could copy a non-contiguous array whole.
                "values": _array_values(value.flat[:HEAD_ROWS]),
            }
        if isinstance(value, numpy.generic):
            return {"value": _plain(value), "repr": _short_repr(value)}
    pandas = sys.modules.get("pandas")
    if pandas is not None:
        if isinstance(value, pandas.DataFrame):
            return _frame(value)
        if isinstance(value, pandas.Series):
            return {
                "shape": list(value.shape),
                "dtype": str(value.dtype),
                "name": _plain(value.name),
                "index": [_plain(label) for label in value.index[:HEAD_ROWS]],
                "head": [_plain(cell) for cell in value.iloc[:HEAD_ROWS].tolist()],
            }
    return {"repr": _short_repr(value)}


def _frame(frame: Any) -> dict[str, Any]:
    part = frame.iloc[:HEAD_ROWS, :HEAD_COLUMNS]
    columns = [part.iloc[:, j].tolist() for j in range(part.shape[1])]
    rows = [[_plain(cell) for cell in row] for row in zip(*columns, strict=True)] if columns else []
    return {
        "shape": list(frame.shape),
        "columns": [_cut(str(c)) for c in frame.columns[:HEAD_COLUMNS]],
        "dtypes": [str(t) for t in frame.dtypes.iloc[:HEAD_COLUMNS]],
        "index": [_plain(label) for label in part.index],
        "head": rows,
    }


def _array_values(items: Any) -> list[Any]:
    if items.dtype.kind in "mM":
        # datetime64[ns].tolist() gives bare integers; their str is the readable form.
        return [str(item) for item in items]
    return [_plain(item) for item in items.tolist()]


def _plain(value: Any, depth: int = 0) -> Any:  # noqa: PLR0911 (one return per kind)
    """A JSON-safe stand-in: plain scalars pass, containers shrink, the rest become text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Within 64 bits a number stays a number; beyond, text (JSON readers lose precision).
        return int(value) if -(1 << 63) <= value < (1 << 64) else _short_repr(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(float(value))  # 'nan', 'inf'
    if isinstance(value, complex):
        return str(complex(value))
    if isinstance(value, str):
        return _cut(str(value))
    if isinstance(value, (bytes, bytearray)):
        return _short_repr(bytes(value[:CELL_LIMIT]), CELL_LIMIT)
    if depth < _DEPTH and type(value) in (list, tuple):
        return [_plain(item, depth + 1) for item in value[:_ITEMS]]
    if depth < _DEPTH and type(value) is dict:
        return {
            _cut(str(k)): _plain(v, depth + 1)
            for k, v in list(value.items())[:_ITEMS]  # dict views cannot be sliced
        }
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic) and value.dtype.kind not in "mM":
        return _plain(value.item(), depth)
    # Timestamps, NaT, pd.NA, dates, objects: their str is what a table shows.
    try:
        return _cut(str(value))
    except Exception:
        return _short_repr(value, CELL_LIMIT)


def _cut(text: str, limit: int = CELL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """repr(value) cut to `limit` chars, built so that a huge container is not walked whole."""
    parts: list[str] = []
    _emit_repr(value, parts, [limit + 1], 0)
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _numpy_scalar_text(value: Any) -> str | None:
    """A numpy scalar as a data scientist reads it, `0.9534` (numpy 2's repr is
    `np.float64(0.9534)`; the preview's type names it); None for anything else."""
    numpy = sys.modules.get("numpy")
    if numpy is None or not isinstance(value, numpy.generic):
        return None
    kind = value.dtype.kind
    if kind in "biufcmM":  # numbers, booleans, dates: str is the plain value
        return str(value)
    if kind in "US":  # np.str_, np.bytes_: as the str or bytes they hold
        return repr(value.item())
    return None  # a record (void): numpy's own repr


_BRACKETS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
}


def _emit_repr(value: Any, parts: list[str], budget: list[int], depth: int) -> None:
    def emit(text: str) -> None:
        parts.append(text)
        budget[0] -= len(text)

    kind = type(value)  # exact types only: a subclass may have its own __repr__
    if (kind in _BRACKETS or kind is dict) and depth < _DEPTH and len(value) > 0:
        opening, closing = ("{", "}") if kind is dict else _BRACKETS[kind]
        emit(opening)
        for i, item in enumerate(value.items() if kind is dict else value):
            if budget[0] <= 0:
                break
            if i:
                emit(", ")
            if kind is dict:
                _emit_repr(item[0], parts, budget, depth + 1)
                emit(": ")
                _emit_repr(item[1], parts, budget, depth + 1)
            else:
                _emit_repr(item, parts, budget, depth + 1)
        if kind is tuple and len(value) == 1:
            emit(",")
        emit(closing)
        return
    if isinstance(value, (str, bytes, bytearray)) and len(value) > budget[0]:
        value = value[: max(budget[0], 0)]  # its repr is cut anyway; do not copy it all
    if kind in _BRACKETS or kind is dict:
        emit("..." if len(value) else repr(value))  # too deep, or empty: set() etc.
        return
    try:
        emit(_numpy_scalar_text(value) or repr(value))
    except Exception as exc:  # a __repr__ that raises, or an int past the digit limit
        emit(f"<{type_name(value)} object; repr failed: {type(exc).__name__}: {exc}>")
