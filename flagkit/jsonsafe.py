"""JSON that every parser accepts: no ``NaN``/``Infinity``, string keys, plain containers.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which ``JSON.parse`` in a browser
and most other parsers reject. flagkit writes JSON through :func:`dumps` (``allow_nan=False``)
and makes values safe with :func:`to_json_safe` or checks them with :func:`is_json_safe`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps", "is_json_safe", "to_json_safe"]

MAX_DEPTH = 64


def is_json_safe(value: Any, _depth: int = 0) -> bool:
    """True when ``value`` is JSON as-is: finite numbers, strings, bools, None, str-keyed dicts, lists."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if _depth >= MAX_DEPTH:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_safe(v, _depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return all(is_json_safe(v, _depth + 1) for v in value)
    return False


def to_json_safe(value: Any, _depth: int = 0) -> Any:
    """A JSON-safe copy: non-finite floats and unknown objects become strings, keys become strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # "nan", "inf", "-inf"
    if _depth >= MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_safe(v, _depth + 1) for v in value]
    return str(value)


def dumps(value: Any, **options: Any) -> str:
    """``json.dumps`` of :func:`to_json_safe` (value), with ``allow_nan=False``."""
    return json.dumps(to_json_safe(value), allow_nan=False, **options)
