"""Equality, membership, numeric comparison and presence: ``eq``, ``ne``, ``in``, ``not_in``,
``gt``/``gte``/``lt``/``lte``, ``exists``; and numeric strings (``"42"`` read as 42 by the
numeric operators when a document sets ``options.numeric_strings``).

No coercion between strings and numbers unless a document opts in; booleans are never numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ._base import OperandError, ValuePredicate, is_number

__all__ = ["BUILDERS", "NUMERIC_OPERATORS", "numeric_strings", "parse_number"]


def _eq(operand: Any) -> ValuePredicate:
    if operand is None:
        raise OperandError("null is not a valid operand; use `exists: false` for absent attributes")
    if isinstance(operand, bool):
        return lambda v: v is operand
    if is_number(operand):
        return lambda v: (type(v) is int or type(v) is float) and v == operand
    if isinstance(operand, str):
        return lambda v: v == operand
    return lambda v: type(v) is type(operand) and v == operand


def _ne(operand: Any) -> ValuePredicate:
    eq = _eq(operand)
    return lambda v: v is not None and not eq(v)


def _in(operand: Any) -> ValuePredicate:
    if not isinstance(operand, list) or not operand:
        raise OperandError("expected a non-empty list")
    for item in operand:
        if not isinstance(item, str | int | float):
            raise OperandError(f"list items must be strings, numbers or booleans, not {item!r}")
    bools = frozenset(x for x in operand if isinstance(x, bool))
    others = frozenset(x for x in operand if not isinstance(x, bool))

    def pred(v: Any) -> bool:
        if type(v) is bool:
            return v in bools
        try:
            return v in others
        except TypeError:  # unhashable context value
            return False

    return pred


def _not_in(operand: Any) -> ValuePredicate:
    inside = _in(operand)
    return lambda v: v is not None and not inside(v)


def _numeric(compare: Callable[[Any, Any], bool]) -> Callable[[Any], ValuePredicate]:
    def build(operand: Any) -> ValuePredicate:
        if not is_number(operand):
            raise OperandError("expected a number")
        return lambda v: (type(v) is int or type(v) is float) and compare(v, operand)

    return build


def _exists(operand: Any) -> ValuePredicate:
    if not isinstance(operand, bool):
        raise OperandError("expected true or false")
    if operand:
        return lambda v: v is not None
    return lambda v: v is None


BUILDERS: dict[str, Callable[[Any], ValuePredicate]] = {
    "eq": _eq,
    "ne": _ne,
    "in": _in,
    "not_in": _not_in,
    "gt": _numeric(lambda a, b: a > b),
    "gte": _numeric(lambda a, b: a >= b),
    "lt": _numeric(lambda a, b: a < b),
    "lte": _numeric(lambda a, b: a <= b),
    "exists": _exists,
}


# --- numeric strings ------------------------------------------------------------------------

NUMERIC_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"})
"""Operators that read numeric strings as numbers when a document sets ``numeric_strings``."""

_NUMBER = re.compile(r"[+-]?(?:\d+(\.\d*)?|(\.\d+))([eE][+-]?\d+)?\Z", re.ASCII)


def parse_number(text: str) -> int | float | None:
    """``"42"`` → 42, ``"-1.5e3"`` → -1500.0; ``None`` for anything else (whitespace, ``nan``,
    ``inf``, hex, trailing text, more than 64 characters, or a value too large for a float)."""
    if len(text) > 64:
        return None
    m = _NUMBER.match(text)
    if m is None:
        return None
    if m.group(1) is None and m.group(2) is None and m.group(3) is None:
        return int(text)
    number = float(text)
    return number if math.isfinite(number) else None


def _has_number(operand: Any) -> bool:
    items = operand if isinstance(operand, list) else [operand]
    return any(type(x) is int or type(x) is float for x in items)


def numeric_strings(name: str, operand: Any, check: ValuePredicate) -> ValuePredicate:
    """Wrap ``check`` so a string that is a number is compared as that number.

    Only numeric operands are affected: ``{eq: "42"}`` still compares strings.
    """
    if name not in NUMERIC_OPERATORS or not _has_number(operand):
        return check
    parse = parse_number

    def pred(v: Any) -> bool:
        if type(v) is str:
            number = parse(v)
            return check(v if number is None else number)
        return check(v)

    return pred
